// Shared pieces of the CUDA tests: GPU detection (tests skip with a message where there is none),
// device buffers, and the tolerance helpers.
#pragma once

#include <amxmm/amxmm.hpp>
#include <amxmm/cuda.cuh>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "catch_compat.hpp"

namespace amxmm_cuda_test {

/// Empty when a CUDA device is usable, else why not (printed once to stderr).
inline const std::string& no_gpu_reason() {
    static const std::string reason = [] {
        int count = 0;
        const cudaError_t e = cudaGetDeviceCount(&count);
        std::string why;
        if (e != cudaSuccess)
            why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
        else if (count == 0)
            why = "no CUDA device";
        if (!why.empty())
            std::fprintf(stderr, "amxmm_cuda_tests: no usable GPU (%s): GPU tests are SKIPPED (they pass without running)\n",
                         why.c_str());
        return why;
    }();
    return reason;
}

}  // namespace amxmm_cuda_test

/// Opens every test that needs a GPU: without one, says so and returns (the test passes).
#define AMXMM_REQUIRE_GPU()                                                             \
    do {                                                                                \
        if (!amxmm_cuda_test::no_gpu_reason().empty()) {                                \
            WARN("SKIPPED (no usable GPU: " << amxmm_cuda_test::no_gpu_reason() << ")"); \
            return;                                                                     \
        }                                                                               \
    } while (0)

namespace amxmm_cuda_test {

/// A device array of T with host copies in and out.
template <class T>
class dev_vec {
public:
    dev_vec() = default;
    explicit dev_vec(std::size_t count) : buf_(count * sizeof(T)), count_(count) {
        if (count) amxmm::cuda::detail::check_cuda(cudaMemset(buf_.data(), 0, count * sizeof(T)), "test", "cudaMemset");
    }
    explicit dev_vec(const std::vector<T>& host) : dev_vec(host.size()) { upload(host); }
    void upload(const std::vector<T>& host) {
        REQUIRE(host.size() == count_);
        if (count_)
            amxmm::cuda::detail::check_cuda(cudaMemcpy(buf_.data(), host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice),
                                            "test", "cudaMemcpy");
    }
    std::vector<T> download() const {
        std::vector<T> out(count_);
        if (count_)
            amxmm::cuda::detail::check_cuda(cudaMemcpy(out.data(), buf_.data(), count_ * sizeof(T), cudaMemcpyDeviceToHost),
                                            "test", "cudaMemcpy");
        return out;
    }
    /// Fills every byte with `byte` (e.g. 0xFF: NaN floats, to see what a call leaves untouched).
    void fill_bytes(int byte) {
        if (count_) amxmm::cuda::detail::check_cuda(cudaMemset(buf_.data(), byte, count_ * sizeof(T)), "test", "cudaMemset");
    }
    T* data() const { return static_cast<T*>(buf_.data()); }
    std::size_t size() const { return count_; }

private:
    amxmm::cuda::device_buffer buf_;
    std::size_t count_ = 0;
};

inline void device_sync() { amxmm::cuda::detail::check_cuda(cudaDeviceSynchronize(), "test", "cudaDeviceSynchronize"); }

/// Makes a runtime call of the caller's fail (a 1 PiB cudaMalloc) and leaves its error pending in
/// cudaGetLastError(); returns that error, or cudaSuccess if the allocation succeeded (then freed).
inline cudaError_t leave_failed_malloc_pending() {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::size_t(1) << 50);
    if (e == cudaSuccess) cudaFree(p);
    return e;
}

inline double bf16_round(double v) { return amxmm::bf16_to_fp32(amxmm::fp32_to_bf16(float(v))); }

/// Dequantized weight rows (fp64) and their bf16(d·q) values.
struct dequantized {
    std::int64_t rows = 0, k = 0;
    std::vector<double> w, wbf;
    const double* row(std::int64_t r) const { return w.data() + r * k; }
    const double* row_bf(std::int64_t r) const { return wbf.data() + r * k; }
};

inline dequantized dequantize(const std::vector<amxmm::block_q4_0>& blocks, std::int64_t rows, std::int64_t k) {
    dequantized d{rows, k, std::vector<double>(std::size_t(rows * k)), std::vector<double>(std::size_t(rows * k))};
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < k; ++c) {
            const amxmm::block_q4_0& b = blocks[std::size_t(r * (k / 32) + c / 32)];
            const float v = amxmm::fp16_to_fp32(b.d) * float(amxmm::q4_0_element(b, int(c % 32)));
            d.w[std::size_t(r * k + c)] = v;
            d.wbf[std::size_t(r * k + c)] = bf16_round(v);
        }
    return d;
}

/// Bound on the error of one output against fp64 of the exact operands:
///   gemv (fp32 operands):  2·(K + 8)·2^-24 · Σ|x·w|
///   bf16 paths:            (2^-8 + 2·(K + 8)·2^-24) · Σ|x·w|   (bf16 RNE of x and of d·q, fp32 sums)
inline double tolerance(bool bf16_operands, std::int64_t k, double abs_sum) {
    const double fp32 = 2.0 * double(k + 8) * 0x1p-24;
    return (bf16_operands ? 0x1p-8 + fp32 : fp32) * abs_sum + 1e-30;
}

/// exact mode: Σ_b |float(sumi_b)·(d_w·d_x)| over the blocks of one output (the terms reference_gemm_exact
/// adds, each rounded as it rounds them), from the Q8_0 blocks of the activation row.
inline double exact_term_abs_sum(const std::vector<amxmm::block_q8_0>& xq, const amxmm::block_q4_0* w, std::int64_t nb) {
    double s = 0;
    for (std::int64_t b = 0; b < nb; ++b) {
        std::int32_t sumi = 0;
        for (int j = 0; j < 32; ++j) sumi += amxmm::q4_0_element(w[b], j) * xq[std::size_t(b)].qs[j];
        const float scale = amxmm::fp16_to_fp32(w[b].d) * amxmm::fp16_to_fp32(xq[std::size_t(b)].d);
        const float term = float(sumi) * scale;
        s += std::fabs(double(term));
    }
    return s;
}

/// exact mode: the GPU adds the same per-block terms as reference_gemm_exact in another fixed order, so
/// each differs by at most the two fp32 sums' rounding: 2·(nb + 1)·2^-24 · Σ|terms|.
inline double exact_tolerance(std::int64_t nb, double term_abs_sum) { return 2.0 * double(nb + 1) * 0x1p-24 * term_abs_sum + 1e-30; }

/// Equal bits, or both NaN (payloads may differ between the device and x86).
inline bool same_float(float a, float b) {
    std::uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return ua == ub || (std::isnan(a) && std::isnan(b));
}

}  // namespace amxmm_cuda_test
