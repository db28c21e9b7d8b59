// The one micro-kernel contract every back end implements (BLIS style):
//
//   inputs : prepared activation rows [m0, m0 + mr) (mr <= 32), packed weight panels
//            [p0, p0 + np) (np <= 2, i.e. up to 32 output columns, nr of them valid),
//            Q4_0 blocks [b0, b1) along K;
//   output : C (mr × nr, row stride ldc) = result,  or C += result when `accumulate`.
//            Only the valid mr × nr elements are read (when accumulating) or written.
//
// Sums over K run in block order b0, b1, ... inside each kernel, so for a fixed split of K every
// output element has one fixed summation order: results never depend on the thread count.
#pragma once

#include <cstdint>

#include "../core/aligned_buffer.hpp"
#include "../core/half.hpp"
#include "../format/blocks.hpp"
#include "../pack/q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN

/// How activations and weights are multiplied (see README "Compute modes").
enum class compute_mode {
    automatic,  ///< amxmm picks (`fast` on AMX for large M, else `exact`); query with gemm_plan
    exact,      ///< Q8_0 activations, per-block int8 dot products, fp32 scaling (ggml's arithmetic)
    fast,       ///< bf16 activations × bf16(d·q) weights, fp32 accumulation over all of K
};

inline const char* to_string(compute_mode m) noexcept {
    switch (m) {
        case compute_mode::automatic: return "auto";
        case compute_mode::exact: return "exact";
        case compute_mode::fast: return "fast";
    }
    return "?";
}

/// Rows of a micro-kernel's M block (two 16-row A tiles); prepared activations are padded to it.
inline constexpr int kernel_rows = 32;
/// Panels of a micro-kernel's N block (two 16-column B tiles).
inline constexpr int kernel_panels = 2;

/// Activations prepared for `exact` mode: each row quantized to Q8_0 (quantize_row_q8_0_ref),
/// stored as separate planes so an AMX A tile can be loaded straight from `q`:
///   q    (m_padded, k) int8, row stride k          — the Q8_0 values
///   d    (m_padded, k/32) fp32                     — fp16 block scales, widened exactly
///   sums (m_padded, k/32) int32                    — Σ q over each block (for u8·s8 dot products)
/// Padding rows are zero.
struct prepared_exact {
    std::int64_t m = 0, m_padded = 0, k = 0;
    aligned_buffer q, d, sums;
    std::int64_t blocks() const noexcept { return k / block_k; }
    const std::int8_t* q_row(std::int64_t i) const noexcept { return q.as<std::int8_t>() + i * k; }
    const float* d_row(std::int64_t i) const noexcept { return d.as<float>() + i * blocks(); }
    const std::int32_t* sums_row(std::int64_t i) const noexcept { return sums.as<std::int32_t>() + i * blocks(); }
};

/// Activations prepared for `fast` mode: (m_padded, k) bf16, row stride k, rounded to nearest even.
struct prepared_fast {
    std::int64_t m = 0, m_padded = 0, k = 0;
    aligned_buffer x;
    const bf16* row(std::int64_t i) const noexcept { return x.as<bf16>() + i * k; }
};

/// One micro-kernel call (see the contract above).
struct kernel_block {
    std::int64_t m0 = 0;  // first activation row
    int mr = 0;           // valid rows, 1..32
    std::int64_t p0 = 0;  // first panel
    int np = 0;           // panels, 1..2
    int nr = 0;           // valid output columns, 1..16*np
    std::int64_t b0 = 0, b1 = 0;  // Q4_0 block range along K
    float* c = nullptr;   // C[0][0] = Y[m0][16*p0]
    std::int64_t ldc = 0;
    bool accumulate = false;
};

namespace detail {

/// Writes (or adds) the valid mr × nr part of a 32 × 32 fp32 result into C.
inline void write_c_block(const kernel_block& kb, const float* acc /* (32, 32) */) noexcept {
    for (int i = 0; i < kb.mr; ++i) {
        float* c = kb.c + i * kb.ldc;
        const float* a = acc + i * 32;
        if (kb.accumulate)
            for (int j = 0; j < kb.nr; ++j) c[j] += a[j];
        else
            for (int j = 0; j < kb.nr; ++j) c[j] = a[j];
    }
}

/// Loads the valid mr × nr part of C into a 32 × 32 accumulator (zero elsewhere), or zeroes it.
inline void read_c_block(const kernel_block& kb, float* acc /* (32, 32) */) noexcept {
    for (int i = 0; i < 32 * 32; ++i) acc[i] = 0.0f;
    if (!kb.accumulate) return;
    for (int i = 0; i < kb.mr; ++i)
        for (int j = 0; j < kb.nr; ++j) acc[i * 32 + j] = kb.c[i * kb.ldc + j];
}

}  // namespace detail
AMXMM_NAMESPACE_END
