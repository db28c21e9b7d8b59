// Vector back ends of the micro-kernel contract (microkernel.hpp): avx512_vnni, avx2 and scalar.
//
// They read the same q4_0_vnni panels as the AMX kernels. In `exact` mode they use the layout
// directly: a 64-byte chunk masked/shifted gives, in each 32-bit lane n, 4 consecutive unsigned
// nibbles of column n, so one u8·s8 dot-product instruction (VPDPBUSD, or VPMADDUBSW + VPMADDWD)
// against 4 activation bytes broadcast to every lane computes 16 (8) columns at once; the +8 bias is
// removed with the precomputed block sums. In `fast` mode they consume the expanded bf16 VNNI block.
// `exact` results are bitwise equal to reference_gemm_exact on every back end.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../core/numeric.hpp"
#include "../core/target.hpp"
#include "../format/reference_gemm.hpp"
#include "../pack/expand.hpp"
#include "microkernel.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

struct alignas(64) vector_scratch {
    alignas(64) bf16 expanded[16 * 32];                // (16, 32) bf16 VNNI block of one panel
    alignas(64) float acc[kernel_rows * kernel_rows];  // (32, 32) fp32
};

inline std::int32_t load_i32(const void* p) noexcept {
    std::int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// ---- scalar --------------------------------------------------------------------------------------

inline void scalar_exact_kernel(const packed_q4_0_vnni_view& w, const prepared_exact& a, const kernel_block& kb,
                                vector_scratch& s) {
    read_c_block(kb, s.acc);
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {
            const std::uint8_t* q = w.quants(kb.p0 + j, b);
            const fp16* d = w.scales(kb.p0 + j, b);
            for (int n = 0; n < 16 && 16 * j + n < kb.nr; ++n) {
                const float dw = fp16_to_fp32(d[n]);
                for (int i = 0; i < kb.mr; ++i) {
                    const std::int8_t* x = a.q_row(kb.m0 + i, b);
                    std::int32_t sumi = 0;
                    for (int k = 0; k < block_k; ++k) sumi += (packed_nibble(q, n, k) - 8) * x[k];
                    float& c = s.acc[i * 32 + 16 * j + n];
                    c = exact_block_update(c, sumi, dw, a.d_at(kb.m0 + i, b));
                }
            }
        }
    }
    kernel_block out = kb;
    out.accumulate = false;
    write_c_block(out, s.acc);
}

inline void scalar_fast_kernel(const packed_q4_0_vnni_view& w, const prepared_fast& a, const kernel_block& kb,
                               vector_scratch& s) {
    for (float& v : s.acc) v = 0.0f;
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {
            expand_block_bf16_ref(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), s.expanded);
            for (int i = 0; i < kb.mr; ++i) {
                const bf16* x = a.x_row(kb.m0 + i, b);
                for (int n = 0; n < 16; ++n) {
                    float c = s.acc[i * 32 + 16 * j + n];
                    for (int k = 0; k < block_k; ++k)
                        c += bf16_to_fp32(x[k]) * bf16_to_fp32(s.expanded[(k / 2) * 32 + 2 * n + (k % 2)]);
                    s.acc[i * 32 + 16 * j + n] = c;
                }
            }
        }
    }
    write_c_block(kb, s.acc);
}

AMXMM_INTRINSICS_BEGIN

// ---- AVX2 ----------------------------------------------------------------------------------------

/// R rows (R <= 4) of columns 8h0 .. 8(h0+H)-1 of one panel (H = 1: one 8-column half; H = 2: all 16) over
/// blocks [b0, b1), accumulators in registers (the AVX2 counterpart of avx512_exact_rows); acc points at the
/// rows' (R, 8H) slice. With H = 1 the panel is walked twice, once per half, the second time from cache;
/// with H = 2 once, each 64-byte chunk giving both halves: fewer rows (R <= 2) fit the 16 registers that way,
/// and for them the single walk matters most, since one row's pass is where a decode call waits on DRAM
/// (AMD EPYC Zen 3, AVX2 only, 2 threads, cold, 2026-11-29: bench/RESULTS.md, session 25).
template <int R, int H>
AMXMM_TARGET_AVX2 inline void avx2_exact_rows(const packed_q4_0_vnni_view& w, const prepared_exact& a, std::int64_t p,
                                              int h0, std::int64_t row0, std::int64_t b0, std::int64_t b1, float* acc) {
    static_assert(H == 1 || H == 2);
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const std::int64_t g = row0 / kernel_rows, r0 = row0 % kernel_rows;
    // A second pass over the same panel (h0 = 1) reads the lines the first one brought in: only h0 = 0 prefetches.
    stream_prefetcher prefetch(w, p, b0, b1, h0 == 0 ? streaming_prefetch_blocks(R) : 0);
    panel_walker block(w, p, b0);
    const std::int8_t* x = a.q_tile(g, b0) + r0 * block_k;  // stepped one block at a time, as avx512_exact_rows
    const float* dx = a.d_tile(g, b0) + r0;
    const std::int32_t* sums = a.sums + a.tile_index(g, b0) * kernel_rows + r0;
    __m256 c[R][H];
    AMXMM_UNROLL for (int r = 0; r < R; ++r) AMXMM_UNROLL for (int h = 0; h < H; ++h) c[r][h] = _mm256_loadu_ps(acc + r * 32 + 8 * h);
    for (std::int64_t b = b0; b < b1;
         ++b, block.next(), x += kernel_rows * block_k, dx += kernel_rows, sums += kernel_rows) {
        prefetch.step();
        const std::uint8_t* q = block.quants();
        // Per row and half, the block's 8 VPMADDUBSW results are summed in 16 bits before one VPMADDWD widens
        // them: each is q·x + q'·x' with nibbles q ≤ 15 and |x| ≤ 127 (Q8_0), at most 3810 in size, so the
        // eight add up to at most 30480 < 2^15 and nothing wraps. The integer sums are unchanged; a block takes one
        // VPMADDWD per row and half where it took eight.
        __m256i sum16[R][H];
        AMXMM_UNROLL for (int t = 0; t < 4; ++t) {  // elements 8t..8t+3 (low nibbles), 8t+4..8t+7 (high)
            AMXMM_UNROLL for (int h = 0; h < H; ++h) {
                const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * t + 32 * (h0 + h)));
                const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                AMXMM_UNROLL for (int r = 0; r < R; ++r) {
                    const __m256i xl = _mm256_set1_epi32(load_i32(x + r * block_k + 8 * t));
                    const __m256i xh = _mm256_set1_epi32(load_i32(x + r * block_k + 8 * t + 4));
                    const __m256i pair = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
                    sum16[r][h] = t == 0 ? pair : _mm256_add_epi16(sum16[r][h], pair);
                }
            }
        }
        __m256i sum[R][H];
        AMXMM_UNROLL for (int r = 0; r < R; ++r) {
            const __m256i bias = _mm256_set1_epi32(-8 * sums[r]);  // removes the +8 bias
            AMXMM_UNROLL for (int h = 0; h < H; ++h) sum[r][h] = _mm256_add_epi32(bias, _mm256_madd_epi16(sum16[r][h], ones));
        }
        AMXMM_UNROLL for (int h = 0; h < H; ++h) {
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales() + 8 * (h0 + h))));
            AMXMM_UNROLL for (int r = 0; r < R; ++r) {
                __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(dx[r]));
                AMXMM_ROUND_HERE(scale);
                __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(sum[r][h]), scale);
                AMXMM_ROUND_HERE(term);
                c[r][h] = _mm256_add_ps(c[r][h], term);
            }
        }
    }
    AMXMM_UNROLL for (int r = 0; r < R; ++r) AMXMM_UNROLL for (int h = 0; h < H; ++h) _mm256_storeu_ps(acc + r * 32 + 8 * h, c[r][h]);
}

AMXMM_TARGET_AVX2 inline void avx2_exact_kernel(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                const kernel_block& kb, vector_scratch& s) {
    read_c_block(kb, s.acc);
    for (int j = 0; j < kb.np; ++j) {
        const std::int64_t p = kb.p0 + j;
        // A call of at most two rows walks each panel once for all 16 columns; more rows, once per 8.
        if (kb.mr <= 2) {
            float* acc = s.acc + 16 * j;
            if (kb.mr == 1)
                avx2_exact_rows<1, 2>(w, a, p, 0, kb.m0, kb.b0, kb.b1, acc);
            else
                avx2_exact_rows<2, 2>(w, a, p, 0, kb.m0, kb.b0, kb.b1, acc);
            continue;
        }
        for (int h = 0; h < 2; ++h) {
            for (int r0 = 0; r0 < kb.mr; r0 += 4) {
                float* acc = s.acc + r0 * 32 + 16 * j + 8 * h;
                const std::int64_t row0 = kb.m0 + r0;
                switch (std::min(4, kb.mr - r0)) {
                    case 1: avx2_exact_rows<1, 1>(w, a, p, h, row0, kb.b0, kb.b1, acc); break;
                    case 2: avx2_exact_rows<2, 1>(w, a, p, h, row0, kb.b0, kb.b1, acc); break;
                    case 3: avx2_exact_rows<3, 1>(w, a, p, h, row0, kb.b0, kb.b1, acc); break;
                    default: avx2_exact_rows<4, 1>(w, a, p, h, row0, kb.b0, kb.b1, acc); break;
                }
            }
        }
    }
    kernel_block out = kb;
    out.accumulate = false;
    write_c_block(out, s.acc);
}

AMXMM_TARGET_AVX2 inline void avx2_fast_kernel(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                               const kernel_block& kb, vector_scratch& s) {
    for (float& v : s.acc) v = 0.0f;
    const __m256i high16 = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {
            expand_block_bf16_ref(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), s.expanded);
            for (int i = 0; i < kb.mr; ++i) {
                const bf16* x = a.x_row(kb.m0 + i, b);
                for (int h = 0; h < 2; ++h) {
                    __m256 c = _mm256_loadu_ps(s.acc + i * 32 + 16 * j + 8 * h);
                    for (int r = 0; r < 16; ++r) {  // VNNI row r: lane n holds bf16 elements 2r, 2r+1
                        const __m256i row = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.expanded + r * 32 + 16 * h));
                        const __m256 w_even = _mm256_castsi256_ps(_mm256_slli_epi32(row, 16));
                        const __m256 w_odd = _mm256_castsi256_ps(_mm256_and_si256(row, high16));
                        c = _mm256_fmadd_ps(_mm256_set1_ps(bf16_to_fp32(x[2 * r])), w_even, c);
                        c = _mm256_fmadd_ps(_mm256_set1_ps(bf16_to_fp32(x[2 * r + 1])), w_odd, c);
                    }
                    _mm256_storeu_ps(s.acc + i * 32 + 16 * j + 8 * h, c);
                }
            }
        }
    }
    write_c_block(kb, s.acc);
}

// ---- AVX-512 VNNI --------------------------------------------------------------------------------

/// R rows (one pass, R <= 8) of one panel over blocks [b0, b1): the rows' 16-column accumulators stay in
/// registers while the panel's blocks stream past once; acc points at the rows' (R, 16) slice of
/// the (32, 32) accumulator array (row stride 32), which holds the starting values. Every per-block
/// loop is unrolled explicitly (AMXMM_UNROLL) so the nibble vectors stay in registers at any -O level.
template <int R>
AMXMM_TARGET_AVX512 inline void avx512_exact_rows(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                  std::int64_t p, std::int64_t row0, std::int64_t b0, std::int64_t b1,
                                                  float* acc) {
    // One row's block is 8 dependent VPDPBUSD (~5 cycles each) into one sum: a 40-cycle chain, which
    // the out-of-order window covers only with several blocks in flight. With few rows the products go
    // to S partial sums instead (integer sums: the result is the same). At m = 1, S = 4 took 0.93-0.97
    // of S = 2's time on an LLC-resident weight (local AVX-512 Xeon, bench/ab pairs, 2026-11-26).
    constexpr int S = R == 1 ? 4 : R < 4 ? 2 : 1;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const std::int64_t g = row0 / kernel_rows, r0 = row0 % kernel_rows;
    stream_prefetcher prefetch(w, p, b0, b1, streaming_prefetch_blocks(R));  // the weights stream from DRAM at small m
    panel_walker block(w, p, b0);
    // The rows' operands of block b, stepped one block (one (32, 32) tile of the planes) at a time.
    const std::int8_t* x = a.q_tile(g, b0) + r0 * block_k;  // rows r0.., 32 int8 each
    const float* dx = a.d_tile(g, b0) + r0;
    const std::int32_t* sums = a.sums + a.tile_index(g, b0) * kernel_rows + r0;
    __m512 c[R];
    AMXMM_UNROLL for (int r = 0; r < R; ++r) c[r] = _mm512_loadu_ps(acc + r * 32);
    for (std::int64_t b = b0; b < b1;
         ++b, block.next(), x += kernel_rows * block_k, dx += kernel_rows, sums += kernel_rows) {
        prefetch.step();
        const std::uint8_t* q = block.quants();
        __m512i part[R][S];
        AMXMM_UNROLL for (int r = 0; r < R; ++r) {
            part[r][0] = _mm512_set1_epi32(-8 * sums[r]);  // removes the +8 bias of the nibbles
            AMXMM_UNROLL for (int i = 1; i < S; ++i) part[r][i] = _mm512_setzero_si512();
        }
        // Each 64-byte line: lane n holds elements 8t..8t+7 of column n as nibbles (low: 8t..8t+3).
        AMXMM_UNROLL for (int t = 0; t < 4; ++t) {
            const __m512i v = _mm512_loadu_si512(q + 64 * t);
            const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            AMXMM_UNROLL for (int r = 0; r < R; ++r) {
                __m512i& lo_sum = part[r][(2 * t) % S];
                __m512i& hi_sum = part[r][(2 * t + 1) % S];
                lo_sum = _mm512_dpbusd_epi32(lo_sum, lo, _mm512_set1_epi32(load_i32(x + r * block_k + 8 * t)));
                hi_sum = _mm512_dpbusd_epi32(hi_sum, hi, _mm512_set1_epi32(load_i32(x + r * block_k + 8 * t + 4)));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.scales())));
        AMXMM_UNROLL for (int r = 0; r < R; ++r) {
            if constexpr (S == 4) {
                part[r][0] = _mm512_add_epi32(part[r][0], part[r][1]);
                part[r][2] = _mm512_add_epi32(part[r][2], part[r][3]);
            }
            if constexpr (S >= 2) part[r][0] = _mm512_add_epi32(part[r][0], part[r][S / 2]);
            const __m512i sum = part[r][0];
            __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dx[r]));
            AMXMM_ROUND_HERE(scale);
            __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), scale);
            AMXMM_ROUND_HERE(term);
            c[r] = _mm512_add_ps(c[r], term);
        }
    }
    AMXMM_UNROLL for (int r = 0; r < R; ++r) _mm512_storeu_ps(acc + r * 32, c[r]);
}

AMXMM_TARGET_AVX512 inline void avx512_exact_kernel(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                    const kernel_block& kb, vector_scratch& s) {
    read_c_block(kb, s.acc);
    for (int j = 0; j < kb.np; ++j) {
        for (int r0 = 0; r0 < kb.mr; r0 += 8) {
            float* acc = s.acc + r0 * 32 + 16 * j;
            const std::int64_t p = kb.p0 + j, row0 = kb.m0 + r0;
            switch (std::min(8, kb.mr - r0)) {
                case 1: avx512_exact_rows<1>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 2: avx512_exact_rows<2>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 3: avx512_exact_rows<3>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 4: avx512_exact_rows<4>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 5: avx512_exact_rows<5>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 6: avx512_exact_rows<6>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                case 7: avx512_exact_rows<7>(w, a, p, row0, kb.b0, kb.b1, acc); break;
                default: avx512_exact_rows<8>(w, a, p, row0, kb.b0, kb.b1, acc); break;
            }
        }
    }
    kernel_block out = kb;
    out.accumulate = false;
    write_c_block(out, s.acc);
}

AMXMM_TARGET_AVX512 inline void avx512_fast_kernel(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                                   const kernel_block& kb, vector_scratch& s) {
    for (float& v : s.acc) v = 0.0f;
    const __m512i high16 = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {
            expand_block_bf16_ref(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), s.expanded);
            for (int i = 0; i < kb.mr; ++i) {
                const bf16* x = a.x_row(kb.m0 + i, b);
                __m512 c = _mm512_loadu_ps(s.acc + i * 32 + 16 * j);
                for (int r = 0; r < 16; ++r) {  // VNNI row r: lane n holds bf16 elements 2r, 2r+1
                    const __m512i row = _mm512_loadu_si512(s.expanded + r * 32);
                    const __m512 w_even = _mm512_castsi512_ps(_mm512_slli_epi32(row, 16));
                    const __m512 w_odd = _mm512_castsi512_ps(_mm512_and_si512(row, high16));
                    c = _mm512_fmadd_ps(_mm512_set1_ps(bf16_to_fp32(x[2 * r])), w_even, c);
                    c = _mm512_fmadd_ps(_mm512_set1_ps(bf16_to_fp32(x[2 * r + 1])), w_odd, c);
                }
                _mm512_storeu_ps(s.acc + i * 32 + 16 * j, c);
            }
        }
    }
    write_c_block(kb, s.acc);
}

/// `fast` with AVX512_BF16 (e.g. AMD Zen 4/5): the AVX-512 expansion (the VBMI one where the CPU has
/// VBMI: the same bytes), then one VDPBF16PS per VNNI row — it multiplies the bf16 pairs and adds both
/// products into the fp32 lanes (its own rounding order, within fp32 rounding of reference_gemm_fast like
/// every fast path).
AMXMM_TARGET_AVX512_BF16 inline void avx512_bf16_fast_kernel(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                                             const kernel_block& kb, vector_scratch& s) {
    static const bool vbmi = detected_cpu_features().avx512_vbmi;
    for (float& v : s.acc) v = 0.0f;
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {
            if (vbmi)
                expand_block_bf16_vbmi(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), s.expanded);
            else
                expand_block_bf16_avx512(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), s.expanded);
            __m512i rows[16];  // (16, 32) bf16 VNNI: lane n of row r holds elements 2r, 2r+1 of column n
            for (int r = 0; r < 16; ++r) rows[r] = _mm512_loadu_si512(s.expanded + r * 32);
            for (int i = 0; i < kb.mr; ++i) {
                const bf16* x = a.x_row(kb.m0 + i, b);
                __m512 c = _mm512_loadu_ps(s.acc + i * 32 + 16 * j);
                for (int r = 0; r < 16; ++r) {
                    const __m512i pair = _mm512_set1_epi32(load_i32(x + 2 * r));  // x[2r], x[2r+1] in every lane
                    c = _mm512_dpbf16_ps(c, reinterpret_cast<const __m512bh&>(rows[r]), reinterpret_cast<const __m512bh&>(pair));
                }
                _mm512_storeu_ps(s.acc + i * 32 + 16 * j, c);
            }
        }
    }
    write_c_block(kb, s.acc);
}

AMXMM_INTRINSICS_END

}  // namespace detail
AMXMM_NAMESPACE_END
