// The engine's GPU backend (examples/engine/gpu_backend.cu, compiled by nvcc into amxmm-engine-gpu):
// a narrow interface with no CUDA types, so engine.cpp stays a plain C++ file.
//
// Weights are uploaded from the GGUF file layout (cuda::q4_0_weight::upload); a CPU-packed (VNNI)
// weight has no way in here. Activations live in host memory between operations (the engine's
// reference attention runs on the CPU), so each call copies its input to the device and its output
// back; the kernels are timed with CUDA events, the copies apart from them.
#pragma once

#include <amxmm/amxmm.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace engine_gpu {

/// Empty when device 0 is usable by amxmm::cuda (compute capability >= 8.0), else why not.
std::string unavailable_reason();

/// One call's time: the kernels (CUDA events around the amxmm::cuda call) and the host <-> device
/// copies of its activations (wall time, synchronous).
struct op_time {
    double kernel_s = 0;
    double copy_s = 0;
};

class backend {
public:
    backend();
    ~backend();
    backend(const backend&) = delete;
    backend& operator=(const backend&) = delete;

    /// "NVIDIA H100 80GB HBM3" (as detect_hardware names it).
    std::string device_name() const;
    /// Uploads a GGUF Q4_0 tensor (E·N rows of K for `experts` = E, 1 for a dense weight); a handle.
    int upload(const amxmm::q4_0_matrix_view& w, std::int64_t experts);
    /// Device bytes of the uploaded weights.
    std::uint64_t weight_bytes() const;
    /// Sizes the device activation buffers and the call workspace for batches up to `max_m` tokens.
    void reserve(std::int64_t max_m, std::int64_t max_width, std::int64_t top_k);

    /// y (m × N, host) = x (m × K, host) · Wᵀ.
    op_time gemm(int w, std::int64_t m, const float* x, float* y);
    /// h (m × K, host) = Σ_s weights[t][s] · down(SiLU(gate(x)) ⊙ up(x)) over the experts in ids.
    op_time moe_ffn(int gate, int up, int down, std::int64_t m, std::int64_t top_k, const std::int32_t* ids,
                    const float* weights, const float* x, float* h);

    /// Calibration: seconds per call (kernels only, median) of amxmm::cuda::gemm_q4_0 on a random
    /// n × k weight for each m; below 512 rows the weight cycles through copies filling >= 4× the L2.
    std::vector<std::pair<double, double>> time_dense(std::int64_t n, std::int64_t k, const std::vector<std::int64_t>& ms);
    /// Calibration: seconds per call of amxmm::cuda::moe_gemm (E experts of n × k, top_k, uniform random
    /// routing) for each m tokens.
    std::vector<std::pair<double, double>> time_experts(std::int64_t e, std::int64_t n, std::int64_t k, std::int64_t top_k,
                                                        const std::vector<std::int64_t>& ms);

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace engine_gpu
