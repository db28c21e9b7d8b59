// Expanding one block (16 rows × 32 K) of a q4_0_vnni panel into AMX B-tile operands:
//   int8 VNNI : (8, 64) int8  — row r = for each column n, elements 4r..4r+3 (value q, -8..7)
//   bf16 VNNI : (16, 32) bf16 — row r = for each column n, elements 2r, 2r+1 (value bf16(d·q))
// Implementations with identical output bytes: a scalar reference (used by the emulated and vector
// back ends, and as the test oracle), AVX-512 ones, and AVX512_VBMI ones (the hardware AMX kernels:
// every AMX CPU has VBMI; the bf16 one also serves the AVX512_BF16 vector kernel where VBMI exists).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../core/half.hpp"
#include "../core/target.hpp"
#include "q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

/// Raw nibble (q + 8) of column n, element k (0..31) of one packed block's 256 quant bytes.
inline int packed_nibble(const std::uint8_t* quants, int n, int k) noexcept {
    const std::uint8_t byte = quants[(k / 8) * 64 + n * 4 + (k % 4)];
    return (k % 8) < 4 ? (byte & 0x0f) : (byte >> 4);
}

inline void expand_block_int8_ref(const std::uint8_t* quants, std::int8_t* out /* (8, 64) */) noexcept {
    for (int r = 0; r < 8; ++r)
        for (int n = 0; n < 16; ++n)
            for (int j = 0; j < 4; ++j)
                out[r * 64 + n * 4 + j] = static_cast<std::int8_t>(packed_nibble(quants, n, 4 * r + j) - 8);
}

inline void expand_block_bf16_ref(const std::uint8_t* quants, const fp16* scales,
                                  bf16* out /* (16, 32) */) noexcept {
    for (int n = 0; n < 16; ++n) {
        const float d = fp16_to_fp32(scales[n]);
        for (int k = 0; k < 32; ++k)  // d·q is exact in fp32; the bf16 rounding is the only rounding
            out[(k / 2) * 32 + n * 2 + (k % 2)] = fp32_to_bf16(d * float(packed_nibble(quants, n, k) - 8));
    }
}

AMXMM_INTRINSICS_BEGIN

AMXMM_TARGET_AVX512_BF16 inline void expand_block_int8_avx512(const std::uint8_t* quants,
                                                                std::int8_t* out /* (8, 64) */) noexcept {
    const __m512i low4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
    for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(quants + 64 * c);
        const __m512i lo = _mm512_sub_epi8(_mm512_and_si512(v, low4), eight);                        // row 2c
        const __m512i hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), eight);  // row 2c+1
        _mm512_storeu_si512(out + 128 * c, lo);
        _mm512_storeu_si512(out + 128 * c + 64, hi);
    }
}

/// Like expand_block_int8_avx512 in 3 instead of 5 vector operations per 64 bytes: VPERMB indexes a
/// 64-entry table with the low 6 bits of each byte, so a table repeating q - 8 every 16 entries maps a
/// nibble with whatever lies above it in one step (the mask and the subtraction). This expansion runs
/// once per block and 32 columns in the decode kernels, next to only 16 rows of arithmetic.
AMXMM_TARGET_AVX512_VBMI inline void expand_block_int8_vbmi(const std::uint8_t* quants,
                                                              std::int8_t* out /* (8, 64) */) noexcept {
    alignas(64) static constexpr std::int8_t minus_eight[64] = {
        -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
        -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
    const __m512i table = _mm512_load_si512(minus_eight);
    for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(quants + 64 * c);
        _mm512_storeu_si512(out + 128 * c, _mm512_permutexvar_epi8(v, table));                          // row 2c
        _mm512_storeu_si512(out + 128 * c + 64, _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), table));  // row 2c+1
    }
}

/// VPERMB indices of expand_block_bf16_vbmi: table 2·jj + h puts, in all four bytes of dword lane L, the
/// quant byte of column L/2 + 8h holding elements 2jj + L%2 (low nibble) and 4 + 2jj + L%2 (high nibble) of
/// each 8-element chunk.
struct bf16_expand_tables {
    alignas(64) std::uint8_t index[4][64];
};
constexpr bf16_expand_tables make_bf16_expand_tables() {
    bf16_expand_tables t{};
    for (int jj = 0; jj < 2; ++jj)
        for (int h = 0; h < 2; ++h)
            for (int lane = 0; lane < 16; ++lane)
                for (int b = 0; b < 4; ++b)
                    t.index[2 * jj + h][4 * lane + b] = static_cast<std::uint8_t>(4 * (lane / 2 + 8 * h) + 2 * jj + lane % 2);
    return t;
}
inline constexpr bf16_expand_tables bf16_expand_perm = make_bf16_expand_tables();

/// float(q - 8) for q = 0..15: VPERMPS indexes it with the low 4 bits of each dword lane.
alignas(64) inline constexpr float q4_0_values[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

/// d·float(q - 8) for the low nibble of each dword lane of x (its bits 0-3), `values` = q4_0_values.
AMXMM_TARGET_AVX512_VBMI inline __m512 bf16_expand_low(__m512i x, __m512 d, __m512 values) noexcept {
    return _mm512_mul_ps(d, _mm512_permutexvar_ps(x, values));
}
/// The same for the high nibble of each lane's low byte (bits 4-7).
AMXMM_TARGET_AVX512_VBMI inline __m512 bf16_expand_high(__m512i x, __m512 d, __m512 values) noexcept {
    return _mm512_mul_ps(d, _mm512_permutexvar_ps(_mm512_srli_epi32(x, 4), values));
}

/// expand_block_bf16_avx512's bytes with no int-to-float conversions: one VPERMB per 16 bytes of quants
/// places each quant byte in all four bytes of a dword lane, and VPERMPS turns the lane's low nibble (or,
/// shifted down by 4, its high one) into float(q - 8) by table. Then d·float(q - 8) is the reference's
/// own product (zero signs, infinities and NaNs included), rounded by the same VCVTNE2PS2BF16. One core,
/// operands in L1: 60 -> 44 ns per block on the AMX device's Xeon against the widening version, 24 -> 14 ns
/// on a Zen 5, when the float was built by masking the nibble into a mantissa and subtracting (session of
/// 2026-11-28). The table takes 2 vector operations per 16 low-nibble products (3 for high ones) where that
/// took 3: paired on the device, MoE calls at M = 512 (micro-kernels) took 0.97-0.98 of the time (session 24;
/// both in bench/RESULTS.md).
AMXMM_TARGET_AVX512_VBMI inline void expand_block_bf16_vbmi(const std::uint8_t* quants, const fp16* scales,
                                                            bf16* out /* (16, 32) */) noexcept {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)));
    // Output row r: positions 0..15 (columns 0..7) from the "lo" vector, 16..31 (columns 8..15) from "hi".
    const __m512 d_lo = _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0), d);
    const __m512 d_hi =
        _mm512_permutexvar_ps(_mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8), d);
    const __m512 values = _mm512_load_ps(q4_0_values);
    const __m512i j01_lo = _mm512_load_si512(bf16_expand_perm.index[0]), j01_hi = _mm512_load_si512(bf16_expand_perm.index[1]);
    const __m512i j23_lo = _mm512_load_si512(bf16_expand_perm.index[2]), j23_hi = _mm512_load_si512(bf16_expand_perm.index[3]);
    auto* rows = reinterpret_cast<__m512i*>(out);
    for (int c = 0; c < 4; ++c) {  // chunk c: elements 8c..8c+7 = output rows 4c..4c+3
        const __m512i v = _mm512_loadu_si512(quants + 64 * c);
        const __m512i a_lo = _mm512_permutexvar_epi8(j01_lo, v), a_hi = _mm512_permutexvar_epi8(j01_hi, v);
        const __m512i b_lo = _mm512_permutexvar_epi8(j23_lo, v), b_hi = _mm512_permutexvar_epi8(j23_hi, v);
        const __m512bh r0 = _mm512_cvtne2ps_pbh(bf16_expand_low(a_hi, d_hi, values), bf16_expand_low(a_lo, d_lo, values));
        const __m512bh r1 = _mm512_cvtne2ps_pbh(bf16_expand_low(b_hi, d_hi, values), bf16_expand_low(b_lo, d_lo, values));
        const __m512bh r2 = _mm512_cvtne2ps_pbh(bf16_expand_high(a_hi, d_hi, values), bf16_expand_high(a_lo, d_lo, values));
        const __m512bh r3 = _mm512_cvtne2ps_pbh(bf16_expand_high(b_hi, d_hi, values), bf16_expand_high(b_lo, d_lo, values));
        _mm512_storeu_si512(rows + 4 * c, reinterpret_cast<const __m512i&>(r0));
        _mm512_storeu_si512(rows + 4 * c + 1, reinterpret_cast<const __m512i&>(r1));
        _mm512_storeu_si512(rows + 4 * c + 2, reinterpret_cast<const __m512i&>(r2));
        _mm512_storeu_si512(rows + 4 * c + 3, reinterpret_cast<const __m512i&>(r3));
    }
}

AMXMM_TARGET_AVX512_BF16 inline void expand_block_bf16_avx512(const std::uint8_t* quants, const fp16* scales,
                                                                bf16* out /* (16, 32) */) noexcept {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)));  // (16) fp32
    // Scale per bf16 position 2n+t: positions 0..15 are columns 0..7, positions 16..31 columns 8..15.
    const __m512 d_lo = _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0), d);
    const __m512 d_hi =
        _mm512_permutexvar_ps(_mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8), d);
    // Even 16-bit words (elements 4r, 4r+1 of each column) to the low half, odd words to the high half.
    const __m512i even_odd = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1,  //
                                              30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i low4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
    for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(quants + 64 * c);
        const __m512i rows[2] = {_mm512_sub_epi8(_mm512_and_si512(v, low4), eight),
                                 _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), eight)};
        for (int h = 0; h < 2; ++h) {  // int8 row R = 2c + h  ->  bf16 rows 2R, 2R+1
            const __m512i split = _mm512_permutexvar_epi16(even_odd, rows[h]);
            for (int t = 0; t < 2; ++t) {
                const __m256i q32 = t == 0 ? _mm512_castsi512_si256(split) : _mm512_extracti64x4_epi64(split, 1);
                const __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q32))), d_lo);
                const __m512 hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q32, 1))), d_hi);
                const __m512bh packed = _mm512_cvtne2ps_pbh(hi, lo);
                _mm512_storeu_si512(out + (2 * (2 * c + h) + t) * 32, reinterpret_cast<const __m512i&>(packed));
            }
        }
    }
}

AMXMM_INTRINSICS_END

}  // namespace detail
AMXMM_NAMESPACE_END
