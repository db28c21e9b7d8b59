// moe_ffn's activations, SiLU and GELU (tanh form), defined once as sequences of fp32 operations so that
// the scalar definitions and their AVX2 / AVX-512 forms give the same bits, on every CPU and with every
// libm. Both are g · σ(z):
//   SiLU: z = g                    GELU: 0.5·g·(1 + tanh(u)) = g · σ(2u),  u = √(2/π)·g·(1 + 0.044715·g²)
// with t = e^-|z| (never overflows):  g · σ(z) = g / (1 + t) for z >= 0,  (g · t) / (1 + t) for z < 0.
// e^x (x = -|z| in [-87, 0]): n = rne(x · log2 e), r = x - n · ln2 (two FMAs, ln2 split hi + lo), a
// degree-7 Taylor polynomial of e^r by Horner with FMAs, times 2^n. For |z| > 87, t = 0 (e^-87 is near
// the bottom of the normal range), so g · σ(z) is g for z > 87 and -0·g for z < -87 (true value within
// 2e-36·|g|). Within 4 ulp of the true functions over the normal range, plus, for GELU, up to 3·|z| ulp
// from z's own fp32 roundings where e^-|z| magnifies them (the tail); tests/test_activation.cpp.
//
// Why not std::exp / std::tanh: they are scalar (~3.5 ns per SiLU on a Zen 5 core), and moe_ffn applies
// the activation to every (token, slot, F) element: 12.6 M of them for Qwen3-30B-A3B at M = 2048. Their
// bits also depend on the libm version. The forms here run 8 or 16 elements per step.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/numeric.hpp"
#include "../core/target.hpp"
#include "../cpu/isa.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

namespace act_constants {
constexpr float log2e = 1.44269502f;               // fp32(log2 e)
constexpr float ln2_hi = 0.693147182f;             // fp32(ln 2)
constexpr float ln2_lo = -1.90465430e-09f;         // ln 2 - ln2_hi
constexpr float cutoff = 87.0f;                    // |g| above: t = 0
constexpr float c[8] = {1.0f, 1.0f, 0.5f, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};  // 1/k!
constexpr float gelu_a = 0.044715f;
constexpr float gelu_2c = 1.59576912160573071175978423973751f;  // 2·√(2/π) (fp32: exactly twice fp32(√(2/π)))
}  // namespace act_constants

/// g · σ(z) (see the file comment); the vector forms below are this, lane by lane.
inline float times_sigmoid(float g, float z) noexcept {
    namespace K = act_constants;
    const float a = std::fabs(z), x = 0.0f - a;
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
    const float num = z < 0.0f ? g * t : g;
    return num / (1.0f + t);
}

/// z of GELU's g · σ(z): 2·√(2/π)·g·(1 + 0.044715·g²), each product rounded as written (no FMA).
inline float gelu_z(float g) noexcept {
    const float a_g2 = rounded(act_constants::gelu_a * g * g);
    return act_constants::gelu_2c * g * (1.0f + a_g2);
}

inline float silu(float g) noexcept { return times_sigmoid(g, g); }
inline float gelu_tanh(float g) noexcept { return times_sigmoid(g, gelu_z(g)); }

AMXMM_INTRINSICS_BEGIN

/// h[i] = act(h[i]) · u[i] (the product rounded to fp32) for i < n, 16 lanes at a time; act = GELU when
/// Gelu, else SiLU.
template <bool Gelu>
AMXMM_TARGET_AVX512 inline void act_times_avx512(float* h, const float* u, std::int64_t n) noexcept {
    namespace K = act_constants;
    std::int64_t i = 0;
    for (const std::int64_t full = n - n % 16; i < full; i += 16) {  // (as in act_times_avx2)
        const __m512 g = _mm512_loadu_ps(h + i);
        __m512 z = g;
        if constexpr (Gelu) {
            __m512 a_g2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(K::gelu_a), g), g);
            AMXMM_ROUND_HERE(a_g2);
            z = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(K::gelu_2c), g), _mm512_add_ps(_mm512_set1_ps(1.0f), a_g2));
        }
        const __m512 a = _mm512_abs_ps(z), x = _mm512_sub_ps(_mm512_setzero_ps(), a);
        const __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(K::log2e)), _MM_FROUND_CUR_DIRECTION);
        __m512 r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-K::ln2_hi), x);
        r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-K::ln2_lo), r);
        __m512 p = _mm512_set1_ps(K::c[7]);
        for (int k = 6; k >= 0; --k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(K::c[k]));
        const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(nf), _mm512_set1_epi32(127)), 23));
        __m512 t = _mm512_mul_ps(p, scale);
        AMXMM_ROUND_HERE(t);
        t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(K::cutoff), _CMP_LE_OQ), t);  // a > cutoff (or NaN): 0
        const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        const __m512 num = _mm512_mask_mul_ps(g, neg, g, t);
        const __m512 act = _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), t));
        _mm512_storeu_ps(h + i, _mm512_mul_ps(act, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; ++i) h[i] = (Gelu ? gelu_tanh(h[i]) : silu(h[i])) * u[i];
}

/// The same, 8 lanes at a time.
template <bool Gelu>
AMXMM_TARGET_AVX2 inline void act_times_avx2(float* h, const float* u, std::int64_t n) noexcept {
    namespace K = act_constants;
    std::int64_t i = 0;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    // (The bound as a multiple of 8: with `i + 8 <= n`, GCC 12 at -O3 -march=native warned, inlined into
    // moe_ffn, that the tail loop below could run 2^62 times.)
    for (const std::int64_t full = n - n % 8; i < full; i += 8) {
        const __m256 g = _mm256_loadu_ps(h + i);
        __m256 z = g;
        if constexpr (Gelu) {
            __m256 a_g2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(K::gelu_a), g), g);
            AMXMM_ROUND_HERE(a_g2);
            z = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(K::gelu_2c), g), _mm256_add_ps(_mm256_set1_ps(1.0f), a_g2));
        }
        const __m256 a = _mm256_andnot_ps(sign, z), x = _mm256_sub_ps(_mm256_setzero_ps(), a);
        const __m256 nf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(K::log2e)), _MM_FROUND_CUR_DIRECTION);
        __m256 r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-K::ln2_hi), x);
        r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-K::ln2_lo), r);
        __m256 p = _mm256_set1_ps(K::c[7]);
        for (int k = 6; k >= 0; --k) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(K::c[k]));
        const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23));
        __m256 t = _mm256_mul_ps(p, scale);
        AMXMM_ROUND_HERE(t);
        t = _mm256_and_ps(_mm256_cmp_ps(a, _mm256_set1_ps(K::cutoff), _CMP_LE_OQ), t);  // a > cutoff (or NaN): 0
        const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
        const __m256 num = _mm256_blendv_ps(g, _mm256_mul_ps(g, t), neg);
        const __m256 act = _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), t));
        _mm256_storeu_ps(h + i, _mm256_mul_ps(act, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; ++i) h[i] = (Gelu ? gelu_tanh(h[i]) : silu(h[i])) * u[i];
}

AMXMM_INTRINSICS_END

/// h[i] = act(h[i]) · u[i] for i < n (act = GELU when `gelu`, else SiLU): the widest form this CPU runs
/// (the same bits from each).
inline void act_times(bool gelu, float* h, const float* u, std::int64_t n) noexcept {
    static const int width = isa_supported(isa::avx512_vnni) ? 16 : isa_supported(isa::avx2) ? 8 : 1;
    if (width == 16)
        gelu ? act_times_avx512<true>(h, u, n) : act_times_avx512<false>(h, u, n);
    else if (width == 8)
        gelu ? act_times_avx2<true>(h, u, n) : act_times_avx2<false>(h, u, n);
    else
        for (std::int64_t i = 0; i < n; ++i) h[i] = (gelu ? gelu_tanh(h[i]) : silu(h[i])) * u[i];
}

}  // namespace detail
AMXMM_NAMESPACE_END
