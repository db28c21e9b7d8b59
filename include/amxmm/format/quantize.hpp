// Reference quantizers and dequantizers for Q4_0 and Q8_0, bit-identical to ggml's
// quantize_row_q4_0_ref / quantize_row_q8_0_ref (the algorithms, restated here in amxmm's words).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/numeric.hpp"
#include "blocks.hpp"

AMXMM_NAMESPACE_BEGIN

namespace detail {
/// `(int8_t)v` for a float v as ggml's C casts compile on x86 (CVTTSS2SI, then the low byte): truncation
/// toward zero; NaN and values outside int32 give INT32_MIN ("integer indefinite"), whose low byte is 0.
/// A plain C++ cast is undefined for those inputs, and they do occur for finite x: a block whose
/// largest magnitude is below about 2^-125 (Q4_0) or 2^-121 (Q8_0) has 1/d = inf, so x * id is inf or NaN
/// (such a block stores d = 0 in fp16, so its values decode to 0 whatever the quants are).
inline int x86_trunc_to_int8(float v) noexcept {
    const std::int32_t i = (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<std::int32_t>(v)
                                                                       : INT32_MIN;
    const int low = static_cast<int>(static_cast<std::uint32_t>(i) & 0xffu);
    return low >= 128 ? low - 256 : low;
}

inline void require_quantizable_row(const float* x, std::int64_t k, const char* fn) {
    require(x != nullptr, errc::invalid_argument, fn, "x is null");
    require(k >= 0 && k % block_k == 0, errc::invalid_argument, fn, "k = ", k, " is not a multiple of 32");
    for (std::int64_t i = 0; i < k; ++i)
        require(std::isfinite(x[i]), errc::invalid_argument, fn, "x[", i, "] = ", x[i], " is not finite");
}
}  // namespace detail

/// Quantizes one row of k floats (k % 32 == 0, all finite) into k/32 Q4_0 blocks.
/// Per block: `max` is the first element of largest magnitude, with its sign; d = max / -8;
/// q = min(15, trunc(x / d + 8.5)); d is stored rounded to fp16 (the unrounded d is used for q).
inline void quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::int64_t k) {
    detail::require_quantizable_row(x, k, "quantize_row_q4_0_ref");
    detail::require(y != nullptr || k == 0, errc::invalid_argument, "quantize_row_q4_0_ref", "y is null");
    for (std::int64_t b = 0; b < k / block_k; ++b) {
        const float* xb = x + b * block_k;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < block_k; ++j) {
            if (amax < std::fabs(xb[j])) {
                amax = std::fabs(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < block_k / 2; ++j) {
            // The product is rounded before the add, as in ggml's scalar reference.
            const float x0 = detail::rounded(xb[j] * id);
            const float x1 = detail::rounded(xb[j + 16] * id);
            int q0 = detail::x86_trunc_to_int8(x0 + 8.5f);
            int q1 = detail::x86_trunc_to_int8(x1 + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[b].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
        }
    }
}

/// Quantizes one row of k floats (k % 32 == 0, all finite) into k/32 Q8_0 blocks:
/// d = max|x| / 127, q = roundf(x / d) (ties away from zero), d stored rounded to fp16.
inline void quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::int64_t k) {
    detail::require_quantizable_row(x, k, "quantize_row_q8_0_ref");
    detail::require(y != nullptr || k == 0, errc::invalid_argument, "quantize_row_q8_0_ref", "y is null");
    for (std::int64_t b = 0; b < k / block_k; ++b) {
        const float* xb = x + b * block_k;
        float amax = 0.0f;
        for (int j = 0; j < block_k; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < block_k; ++j)
            y[b].qs[j] = static_cast<std::int8_t>(detail::x86_trunc_to_int8(std::round(xb[j] * id)));
    }
}

/// Expands k/32 Q4_0 blocks into k floats (value = fp32(d) * q, exact in fp32).
inline void dequantize_row_q4_0(const block_q4_0* x, float* y, std::int64_t k) {
    detail::require(k >= 0 && k % block_k == 0, errc::invalid_argument, "dequantize_row_q4_0", "k = ", k,
                    " is not a multiple of 32");
    detail::require((x && y) || k == 0, errc::invalid_argument, "dequantize_row_q4_0", "null pointer");
    for (std::int64_t b = 0; b < k / block_k; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < block_k; ++j) y[b * block_k + j] = d * float(q4_0_element(x[b], j));
    }
}

/// Expands k/32 Q8_0 blocks into k floats.
inline void dequantize_row_q8_0(const block_q8_0* x, float* y, std::int64_t k) {
    detail::require(k >= 0 && k % block_k == 0, errc::invalid_argument, "dequantize_row_q8_0", "k = ", k,
                    " is not a multiple of 32");
    detail::require((x && y) || k == 0, errc::invalid_argument, "dequantize_row_q8_0", "null pointer");
    for (std::int64_t b = 0; b < k / block_k; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < block_k; ++j) y[b * block_k + j] = d * float(x[b].qs[j]);
    }
}

/// Quantizes an n × k row-major float matrix (row stride ld floats) into n*k/32 Q4_0 blocks,
/// row after row as GGUF stores a weight tensor.
inline std::vector<block_q4_0> quantize_q4_0(const float* x, std::int64_t n, std::int64_t k, std::int64_t ld) {
    detail::require(n >= 0, errc::invalid_argument, "quantize_q4_0", "n = ", n, " is negative");
    detail::require(ld >= k, errc::invalid_argument, "quantize_q4_0", "ld = ", ld, " is less than k = ", k);
    detail::require(k % block_k == 0 && k >= 0, errc::invalid_argument, "quantize_q4_0", "k = ", k,
                    " is not a multiple of 32");
    std::vector<block_q4_0> out(static_cast<std::size_t>(n * (k / block_k)));
    for (std::int64_t r = 0; r < n; ++r) quantize_row_q4_0_ref(x + r * ld, out.data() + r * (k / block_k), k);
    return out;
}

AMXMM_NAMESPACE_END
