// Scalar oracles: the plain loops every kernel is tested against.
//
// Shapes follow ggml: W is n rows of k elements (Q4_0 blocks along k, row after row), X is m rows of
// k floats (row stride ldx), Y = X · Wᵀ is m rows of n floats (row stride ldy).
//
//   reference_gemm_fp64  : fp64 dot products of X with the dequantized W — the "true" answer.
//   reference_gemm_exact : amxmm's `exact` mode arithmetic, defined here once:
//                            X rows quantized with quantize_row_q8_0_ref;
//                            per 32-block b: s_b = Σ qx·qw (int32);
//                            y = 0; for b in order: y = y + float(s_b) * (d_w,b * d_x,b)
//                            (each of the two products and the add rounded to fp32, no FMA).
//                          Every back end computes exactly this, so `exact` results are bitwise equal.
//   reference_gemm_fast  : amxmm's `fast` mode operands (X and d·q rounded to bf16), summed in fp64.
//                          Back ends accumulate in fp32 in their own order, so they match this to
//                          fp32 rounding only.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/numeric.hpp"
#include "quantize.hpp"

AMXMM_NAMESPACE_BEGIN

/// A read-only Q4_0 weight matrix as GGUF stores it: `rows` (N) rows of `cols` (K) elements.
struct q4_0_matrix_view {
    const block_q4_0* blocks = nullptr;
    std::int64_t rows = 0;  // N
    std::int64_t cols = 0;  // K, a multiple of 32
    std::int64_t blocks_per_row() const noexcept { return cols / block_k; }
    const block_q4_0* row(std::int64_t n) const noexcept { return blocks + n * blocks_per_row(); }
};

namespace detail {
inline void require_reference_args(const char* fn, std::int64_t m, const float* x, std::int64_t ldx,
                                   const q4_0_matrix_view& w, const void* y, std::int64_t ldy) {
    require(m >= 0, errc::invalid_argument, fn, "m = ", m, " is negative");
    require(w.rows >= 0, errc::invalid_argument, fn, "w.rows = ", w.rows, " is negative");
    require(w.cols > 0 && w.cols % block_k == 0, errc::invalid_argument, fn, "w.cols (K) = ", w.cols,
            " is not a positive multiple of 32");
    require(ldx >= w.cols, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", w.cols);
    require(ldy >= w.rows, errc::invalid_argument, fn, "ldy = ", ldy, " is less than N = ", w.rows);
    require(m == 0 || w.rows == 0 || (x && y && w.blocks), errc::invalid_argument, fn, "null pointer");
}

/// `exact` mode's per-block update, shared by every back end's scalar tail.
inline float exact_block_update(float acc, std::int32_t sumi, float d_w, float d_x) noexcept {
    const float scale = rounded(d_w * d_x);
    return acc + rounded(static_cast<float>(sumi) * scale);
}
}  // namespace detail

inline void reference_gemm_fp64(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w,
                                double* y, std::int64_t ldy) {
    detail::require_reference_args("reference_gemm_fp64", m, x, ldx, w, y, ldy);
    std::vector<float> wrow(static_cast<std::size_t>(w.cols));
    for (std::int64_t n = 0; n < w.rows; ++n) {
        dequantize_row_q4_0(w.row(n), wrow.data(), w.cols);
        for (std::int64_t i = 0; i < m; ++i) {
            double acc = 0.0;
            for (std::int64_t k = 0; k < w.cols; ++k) acc += double(x[i * ldx + k]) * double(wrow[k]);
            y[i * ldy + n] = acc;
        }
    }
}

inline void reference_gemm_exact(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w,
                                 float* y, std::int64_t ldy) {
    detail::require_reference_args("reference_gemm_exact", m, x, ldx, w, y, ldy);
    if (m == 0 || w.rows == 0) return;  // nothing to write (x may then be null)
    // X is quantized to Q8_0, which needs finite values: check them all before any of y is written.
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t k = 0; k < w.cols; ++k)
            detail::require(std::isfinite(x[i * ldx + k]), errc::invalid_argument, "reference_gemm_exact", "x[",
                            i, " * ldx + ", k, "] = ", x[i * ldx + k],
                            " is not finite (exact mode quantizes X to Q8_0)");
    const std::int64_t nb = w.blocks_per_row();
    std::vector<block_q8_0> xq(static_cast<std::size_t>(nb));
    for (std::int64_t i = 0; i < m; ++i) {
        quantize_row_q8_0_ref(x + i * ldx, xq.data(), w.cols);
        for (std::int64_t n = 0; n < w.rows; ++n) {
            const block_q4_0* wb = w.row(n);
            float acc = 0.0f;
            for (std::int64_t b = 0; b < nb; ++b) {
                std::int32_t sumi = 0;
                for (int j = 0; j < block_k; ++j) sumi += q4_0_element(wb[b], j) * xq[b].qs[j];
                acc = detail::exact_block_update(acc, sumi, fp16_to_fp32(wb[b].d), fp16_to_fp32(xq[b].d));
            }
            y[i * ldy + n] = acc;
        }
    }
}

inline void reference_gemm_fast(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w,
                                double* y, std::int64_t ldy) {
    detail::require_reference_args("reference_gemm_fast", m, x, ldx, w, y, ldy);
    std::vector<double> wrow(static_cast<std::size_t>(w.cols));
    for (std::int64_t n = 0; n < w.rows; ++n) {
        const block_q4_0* wb = w.row(n);
        for (std::int64_t k = 0; k < w.cols; ++k) {
            const float d = fp16_to_fp32(wb[k / block_k].d);
            wrow[k] = bf16_to_fp32(fp32_to_bf16(d * float(q4_0_element(wb[k / block_k], int(k % block_k)))));
        }
        for (std::int64_t i = 0; i < m; ++i) {
            double acc = 0.0;
            for (std::int64_t k = 0; k < w.cols; ++k)
                acc += double(bf16_to_fp32(fp32_to_bf16(x[i * ldx + k]))) * wrow[k];
            y[i * ldy + n] = acc;
        }
    }
}

AMXMM_NAMESPACE_END
