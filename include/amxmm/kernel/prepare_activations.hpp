// Preparing one activation row for the kernels: Q8_0 quantization (`exact`) or bf16 rounding
// (`fast`), written into the tiled layouts of microkernel.hpp. A scalar and an AVX-512 version of
// each, producing identical bytes (tests/test_gemm.cpp checks); the AVX-512 ones need AVX512_BF16 for
// the bf16 conversion.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "../core/error.hpp"
#include "../core/target.hpp"
#include "../format/quantize.hpp"
#include "microkernel.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

/// Throws unless the row is finite (Q8_0 quantization needs finite values).
inline void require_finite_row(const float* x, std::int64_t k, std::int64_t row) {
    for (std::int64_t kk = 0; kk < k; ++kk)
        require(std::isfinite(x[kk]), errc::invalid_argument, "gemm_q4_0", "x[", row, "][", kk, "] = ", x[kk],
                " is not finite (exact mode quantizes activations to Q8_0)");
}

/// Row i of `p` from x (k floats, finite), with quantize_row_q8_0_ref's arithmetic.
inline void prepare_exact_row_ref(const float* x, std::int64_t i, prepared_exact& p) {
    const std::int64_t g = i / kernel_rows, r = i % kernel_rows;
    for (std::int64_t b = 0; b < p.blocks(); ++b) {
        block_q8_0 blk;
        quantize_row_q8_0_ref(x + b * block_k, &blk, block_k);
        auto* q = p.q + p.tile_index(g, b) * (kernel_rows * block_k) + r * block_k;
        std::int32_t sum = 0;
        for (int j = 0; j < block_k; ++j) {
            q[j] = blk.qs[j];
            sum += blk.qs[j];
        }
        p.d[p.tile_index(g, b) * kernel_rows + r] = fp16_to_fp32(blk.d);
        p.sums[p.tile_index(g, b) * kernel_rows + r] = sum;
    }
}

inline void prepare_fast_row_ref(const float* x, std::int64_t i, prepared_fast& p) {
    const std::int64_t g = i / kernel_rows, r = i % kernel_rows;
    for (std::int64_t b = 0; b < p.blocks(); ++b) {
        bf16* out = p.x + (g * p.blocks() + b) * (kernel_rows * block_k) + r * block_k;
        for (int j = 0; j < block_k; ++j) out[j] = fp32_to_bf16(x[b * block_k + j]);
    }
}

AMXMM_INTRINSICS_BEGIN

/// roundf (ties away from zero) of 16 floats, exactly: truncate, then step away from zero when the
/// dropped fraction is at least one half (p - trunc(p) is exact).
AMXMM_TARGET_AVX512 inline __m512 round_half_away_avx512(__m512 p) {
    const __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(p, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(p, _mm512_set1_ps(-0.0f)));  // ±1
    return _mm512_mask_add_ps(t, up, t, one);
}

AMXMM_TARGET_AVX512 inline void prepare_exact_row_avx512(const float* x, std::int64_t i, prepared_exact& p) {
    const std::int64_t g = i / kernel_rows, r = i % kernel_rows;
    for (std::int64_t b = 0; b < p.blocks(); ++b) {
        const __m512 v0 = _mm512_loadu_ps(x + b * block_k), v1 = _mm512_loadu_ps(x + b * block_k + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const fp16 dh = fp32_to_fp16(d);
        const __m512i q0 = _mm512_cvttps_epi32(round_half_away_avx512(_mm512_mul_ps(v0, _mm512_set1_ps(id))));
        const __m512i q1 = _mm512_cvttps_epi32(round_half_away_avx512(_mm512_mul_ps(v1, _mm512_set1_ps(id))));
        auto* q = p.q + p.tile_index(g, b) * (kernel_rows * block_k) + r * block_k;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(q1));
        p.d[p.tile_index(g, b) * kernel_rows + r] = fp16_to_fp32(dh);
        p.sums[p.tile_index(g, b) * kernel_rows + r] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

AMXMM_TARGET_AVX512_BF16 inline void prepare_fast_row_avx512(const float* x, std::int64_t i, prepared_fast& p) {
    const std::int64_t g = i / kernel_rows, r = i % kernel_rows;
    for (std::int64_t b = 0; b < p.blocks(); ++b) {
        bf16* out = p.x + (g * p.blocks() + b) * (kernel_rows * block_k) + r * block_k;
        const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + b * block_k + 16), _mm512_loadu_ps(x + b * block_k));
        _mm512_storeu_si512(out, reinterpret_cast<const __m512i&>(v));
    }
}

AMXMM_INTRINSICS_END

}  // namespace detail
AMXMM_NAMESPACE_END
