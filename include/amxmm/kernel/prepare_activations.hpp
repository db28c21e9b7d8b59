// Preparing activations for the kernels: Q8_0 quantization of a row (`exact`) or bf16 rounding of a
// row group's block range (`fast`), written into the tiled layouts of microkernel.hpp. A scalar and an AVX-512 version of
// each, producing identical bytes (tests/test_gemm.cpp checks); the AVX-512 ones need AVX512_BF16 for
// the bf16 conversion.
#pragma once

#include <immintrin.h>

#include <algorithm>
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

/// Rows [0, valid) of one row group of `p`, blocks [b0, b1), bf16 (rows[j] + 32·(b − b0): row j's block b),
/// block by block: each 2 KiB tile of the group is written front to back. (Row by row, a row's
/// consecutive blocks are 2 KiB apart.)
inline void prepare_fast_tiles_ref(const float* const* rows, int valid, std::int64_t g, std::int64_t b0, std::int64_t b1,
                                   prepared_fast& p) {
    for (std::int64_t b = b0; b < b1; ++b) {
        bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);
        for (int j = 0; j < valid; ++j)
            for (int c = 0; c < block_k; ++c) tile[j * block_k + c] = fp32_to_bf16(rows[j][(b - b0) * block_k + c]);
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

// The reductions' operations (functors, not lambdas: a lambda does not take on the target attribute).
struct max_ps_op {
    AMXMM_TARGET_AVX512 __m512 operator()(__m512 a, __m512 b) const { return _mm512_max_ps(a, b); }
};
struct add_epi32_op {  // int32 lanes carried in __m512
    AMXMM_TARGET_AVX512 __m512 operator()(__m512 a, __m512 b) const {
        return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    }
};

/// Lane j of the result is op over the 16 lanes of v[j] (a 16 × 16 transpose-reduce: 15 ops and 30
/// shuffles for 16 vectors). op must be associative and commutative (max of magnitudes, integer sum).
template <class Op>
AMXMM_TARGET_AVX512 inline __m512 reduce16x16(const __m512 (&v)[16], Op op) {
    __m512 t[8], u[4];
    for (int j = 0; j < 8; ++j)  // lanes 0-7: v[2j]'s two halves combined; 8-15: v[2j+1]'s
        t[j] = op(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0x44), _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0xEE));
    for (int j = 0; j < 4; ++j)  // 128-bit lane L: 4 partials of v[4j + L]
        u[j] = op(_mm512_shuffle_f32x4(t[2 * j], t[2 * j + 1], 0x88), _mm512_shuffle_f32x4(t[2 * j], t[2 * j + 1], 0xDD));
    const __m512 a = op(_mm512_shuffle_ps(u[0], u[1], 0x44), _mm512_shuffle_ps(u[0], u[1], 0xEE));
    const __m512 b = op(_mm512_shuffle_ps(u[2], u[3], 0x44), _mm512_shuffle_ps(u[2], u[3], 0xEE));
    const __m512 r = op(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD));  // lane 4L + i: v[4i + L]
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/// Blocks [b0, b0 + n) (n <= 16) of row i of `p` from x (the row), as quantize_row_q8_0_ref: the blocks'
/// maxima, scales and fp16 rounding are formed 16 at a time. Returns false if one of the n·32 values is
/// not finite (the bytes written for the blocks are then meaningless).
AMXMM_TARGET_AVX512 inline bool prepare_exact_blocks16_avx512(const float* x, std::int64_t i, std::int64_t b0, int n,
                                                              prepared_exact& p) {
    const std::int64_t g = i / kernel_rows, r = i % kernel_rows;
    constexpr int not_finite = 0x01 | 0x08 | 0x10 | 0x80;  // VFPCLASSPS: QNaN, +inf, -inf, SNaN
    __m512 amax[16];
    __mmask16 bad = 0;
    for (int j = 0; j < 16; ++j) {
        if (j < n) {
            const __m512 v0 = _mm512_loadu_ps(x + (b0 + j) * block_k), v1 = _mm512_loadu_ps(x + (b0 + j) * block_k + 16);
            bad |= _mm512_fpclass_ps_mask(v0, not_finite) | _mm512_fpclass_ps_mask(v1, not_finite);
            amax[j] = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
        } else {
            amax[j] = _mm512_setzero_ps();
        }
    }
    // The maxima are exact whatever the order (finite values, no NaN), as are the integer sums below.
    const __m512 am = reduce16x16(amax, max_ps_op{});
    const __m512 d = _mm512_div_ps(am, _mm512_set1_ps(127.0f));
    const __mmask16 nonzero = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ);
    const __m512 id = _mm512_maskz_div_ps(nonzero, _mm512_set1_ps(1.0f), d);
    // fp32 -> fp16 (RNE; never a NaN here) and back: quantize_row_q8_0_ref's stored scale, as fp32.
    alignas(64) float d_stored[16];
    _mm512_store_ps(d_stored, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    __m512 sums[16];
    for (int j = 0; j < 16; ++j) {
        if (j >= n) {
            sums[j] = _mm512_setzero_ps();
            continue;
        }
        const float* xb = x + (b0 + j) * block_k;
        const __m512 idj = _mm512_permutexvar_ps(_mm512_set1_epi32(j), id);
        const __m512i q0 = _mm512_cvttps_epi32(round_half_away_avx512(_mm512_mul_ps(_mm512_loadu_ps(xb), idj)));
        const __m512i q1 = _mm512_cvttps_epi32(round_half_away_avx512(_mm512_mul_ps(_mm512_loadu_ps(xb + 16), idj)));
        auto* q = p.q + p.tile_index(g, b0 + j) * (kernel_rows * block_k) + r * block_k;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(q1));
        p.d[p.tile_index(g, b0 + j) * kernel_rows + r] = d_stored[j];
        sums[j] = _mm512_castsi512_ps(_mm512_add_epi32(q0, q1));
    }
    alignas(64) std::int32_t block_sums[16];
    _mm512_store_si512(block_sums, _mm512_castps_si512(reduce16x16(sums, add_epi32_op{})));
    for (int j = 0; j < n; ++j) p.sums[p.tile_index(g, b0 + j) * kernel_rows + r] = block_sums[j];
    return bad == 0;
}

/// Row i of `p` from x (k floats), as prepare_exact_row_ref. Returns false if x is not all finite (then
/// nothing it wrote is meaningful): the caller reports the first bad value (require_finite_row).
AMXMM_TARGET_AVX512 inline bool prepare_exact_row_avx512(const float* x, std::int64_t i, prepared_exact& p) {
    bool finite = true;
    for (std::int64_t b = 0; b < p.blocks(); b += 16)
        finite &= prepare_exact_blocks16_avx512(x, i, b, int(std::min<std::int64_t>(16, p.blocks() - b)), p);
    return finite;
}

/// prepare_fast_tiles_ref's bytes (VCVTNE2PS2BF16 rounds as fp32_to_bf16 does). Stream: with
/// non-temporal stores (the tiles are 64-byte aligned), fenced before returning.
template <bool Stream>
AMXMM_TARGET_AVX512_BF16 inline void prepare_fast_tiles_avx512(const float* const* rows, int valid, std::int64_t g,
                                                               std::int64_t b0, std::int64_t b1, prepared_fast& p) {
    for (std::int64_t b = b0; b < b1; ++b) {
        bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);
        for (int j = 0; j < valid; ++j) {
            const float* x = rows[j] + (b - b0) * block_k;
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
            if constexpr (Stream)
                _mm512_stream_si512(reinterpret_cast<__m512i*>(tile + j * block_k), reinterpret_cast<const __m512i&>(v));
            else
                _mm512_storeu_si512(tile + j * block_k, reinterpret_cast<const __m512i&>(v));
        }
    }
    if constexpr (Stream) _mm_sfence();
}

AMXMM_INTRINSICS_END

}  // namespace detail
AMXMM_NAMESPACE_END
