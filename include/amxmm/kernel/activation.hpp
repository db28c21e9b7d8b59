// SiLU for moe_ffn's h = act(gate) · up, defined once as a sequence of fp32 operations so that the scalar
// definition and its AVX2 / AVX-512 forms give the same bits, on every CPU and with every libm.
//
// silu(g) = g · σ(g), with t = e^-|g| (never overflows):
//   g >= 0: g / (1 + t)          g < 0: (g · t) / (1 + t)
// e^x (x = -|g| in [-87, 0]): n = rne(x · log2 e), r = x - n · ln2 (two FMAs, ln2 split hi + lo), a
// degree-7 Taylor polynomial of e^r by Horner with FMAs, times 2^n. For |g| > 87, t = 0 (e^-87 is near the
// bottom of the normal range), so silu(g) = g for g > 87 and -0 for g < -87 (true value above -2e-36).
// Within 4 ulp of the true SiLU over the normal range (tests/test_activation.cpp measures it).
//
// Why not std::exp: glibc's expf is scalar (~3.5 ns per element on a Zen 5 core), and moe_ffn applies
// the activation to every (token, slot, F) element: 12.6 M of them for Qwen3-30B-A3B at M = 2048. Its
// bits also depend on the libm version. The forms here run 8 or 16 elements per step.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/numeric.hpp"
#include "../core/target.hpp"
#include "../cpu/features.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

namespace silu_constants {
constexpr float log2e = 1.44269502f;               // fp32(log2 e)
constexpr float ln2_hi = 0.693147182f;             // fp32(ln 2)
constexpr float ln2_lo = -1.90465430e-09f;         // ln 2 - ln2_hi
constexpr float cutoff = 87.0f;                    // |g| above: t = 0
constexpr float c[8] = {1.0f, 1.0f, 0.5f, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};  // 1/k!
}  // namespace silu_constants

/// The definition (see the file comment); the vector forms below are this, lane by lane.
inline float silu(float g) noexcept {
    namespace K = silu_constants;
    const float a = std::fabs(g), x = 0.0f - a;
    const float n = std::nearbyint(x * K::log2e);
    float r = std::fma(n, -K::ln2_hi, x);
    r = std::fma(n, -K::ln2_lo, r);
    float p = K::c[7];
    for (int i = 6; i >= 0; --i) p = std::fma(p, r, K::c[i]);
    const std::uint32_t bits = std::uint32_t(static_cast<std::int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 0]
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    float t = rounded(p * scale);  // (a product the compiler must not fuse into 1 + t)
    if (!(a <= K::cutoff)) t = 0.0f;  // (NaN too, as the vector forms' compare)
    const float num = g < 0.0f ? g * t : g;
    return num / (1.0f + t);
}

AMXMM_INTRINSICS_BEGIN

/// h[i] = silu(h[i]) · u[i] (the product rounded to fp32) for i < n, 16 lanes at a time.
AMXMM_TARGET_AVX512 inline void silu_times_avx512(float* h, const float* u, std::int64_t n) noexcept {
    namespace K = silu_constants;
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(h + i);
        const __m512 a = _mm512_abs_ps(g), x = _mm512_sub_ps(_mm512_setzero_ps(), a);
        const __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(K::log2e)), _MM_FROUND_CUR_DIRECTION);
        __m512 r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-K::ln2_hi), x);
        r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-K::ln2_lo), r);
        __m512 p = _mm512_set1_ps(K::c[7]);
        for (int k = 6; k >= 0; --k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(K::c[k]));
        const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(nf), _mm512_set1_epi32(127)), 23));
        __m512 t = _mm512_mul_ps(p, scale);
        AMXMM_ROUND_HERE(t);
        t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(K::cutoff), _CMP_LE_OQ), t);  // a > cutoff (or NaN): 0
        const __mmask16 neg = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ);
        const __m512 num = _mm512_mask_mul_ps(g, neg, g, t);
        const __m512 act = _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), t));
        _mm512_storeu_ps(h + i, _mm512_mul_ps(act, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; ++i) h[i] = silu(h[i]) * u[i];
}

/// The same, 8 lanes at a time.
AMXMM_TARGET_AVX2 inline void silu_times_avx2(float* h, const float* u, std::int64_t n) noexcept {
    namespace K = silu_constants;
    std::int64_t i = 0;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(h + i);
        const __m256 a = _mm256_andnot_ps(sign, g), x = _mm256_sub_ps(_mm256_setzero_ps(), a);
        const __m256 nf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(K::log2e)), _MM_FROUND_CUR_DIRECTION);
        __m256 r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-K::ln2_hi), x);
        r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-K::ln2_lo), r);
        __m256 p = _mm256_set1_ps(K::c[7]);
        for (int k = 6; k >= 0; --k) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(K::c[k]));
        const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23));
        __m256 t = _mm256_mul_ps(p, scale);
        AMXMM_ROUND_HERE(t);
        t = _mm256_and_ps(_mm256_cmp_ps(a, _mm256_set1_ps(K::cutoff), _CMP_LE_OQ), t);  // a > cutoff (or NaN): 0
        const __m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
        const __m256 num = _mm256_blendv_ps(g, _mm256_mul_ps(g, t), neg);
        const __m256 act = _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), t));
        _mm256_storeu_ps(h + i, _mm256_mul_ps(act, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; ++i) h[i] = silu(h[i]) * u[i];
}

AMXMM_INTRINSICS_END

/// h[i] = silu(h[i]) · u[i] for i < n: the widest form this CPU runs (same bits from each).
inline void silu_times(float* h, const float* u, std::int64_t n) noexcept {
    static const int width = [] {
        const cpu_features& f = detected_cpu_features();
        if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni && f.os_avx512) return 16;
        if (f.avx2 && f.fma && f.f16c && f.os_avx) return 8;
        return 1;
    }();
    if (width == 16)
        silu_times_avx512(h, u, n);
    else if (width == 8)
        silu_times_avx2(h, u, n);
    else
        for (std::int64_t i = 0; i < n; ++i) h[i] = silu(h[i]) * u[i];
}

}  // namespace detail
AMXMM_NAMESPACE_END
