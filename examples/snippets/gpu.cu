// README "Using amxmm from an engine" — the GPU (CUDA) snippet. The part between snippet-begin and
// snippet-end is quoted verbatim in README.md (the snippets_in_readme test checks that); the rest is a
// harness that runs it on a small model written here and checks the results against the CPU oracles.
// Without a usable GPU it says so and exits 0.
#include <amxmm/amxmm.hpp>
#include <amxmm/cuda.cuh>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

// snippet-begin
#include <amxmm/cuda.cuh>

// Load time, once per tensor: GGUF Q4_0 (mmap'd) -> the GPU layout (a GPU-only type; a CPU-packed
// weight cannot be passed to the CUDA functions). 2-D tensors are dense, 3-D ones E experts.
amxmm::cuda::q4_0_weight load_weight_gpu(const amxmm::gguf_file& model, const std::string& name) {
    return amxmm::cuda::q4_0_weight::upload(model.tensor(name));
}

// Once per context and largest batch: the calls below neither allocate nor synchronize.
void reserve_gpu(amxmm::cuda::context& ctx, const amxmm::cuda::q4_0_weight& w,
                 const amxmm::cuda::q4_0_weight& gate_exps, std::int64_t max_m, std::int64_t top_k) {
    ctx.reserve(std::max(amxmm::cuda::gemm_workspace_bytes(max_m, w.layout()),
                         amxmm::cuda::moe_ffn_workspace_bytes(max_m, top_k, gate_exps.layout())));
}

// Each batch: y (M × N) = x (M × K) · Wᵀ, enqueued on the engine's stream (x, y device memory).
void project_gpu(amxmm::cuda::context& ctx, const amxmm::cuda::q4_0_weight& w, std::int64_t M, const float* x,
                 float* y, cudaStream_t stream) {
    amxmm::cuda::gemm_q4_0(ctx, w.view(), M, x, w.layout().k, y, w.layout().n, {}, stream);
}

// h[t] = Σ_s weights[t][s] · down_e(SiLU(gate_e(x[t])) ⊙ up_e(x[t])); ids and weights in device memory.
void run_moe_gpu(amxmm::cuda::context& ctx, const amxmm::cuda::q4_0_weight& gate, const amxmm::cuda::q4_0_weight& up,
                 const amxmm::cuda::q4_0_weight& down, std::int64_t M, std::int64_t top_k, const std::int32_t* ids,
                 const float* weights, const float* x, float* h, cudaStream_t stream) {
    const std::int64_t K = gate.layout().k;
    amxmm::cuda::moe_ffn(ctx, gate.view(), up.view(), down.view(), {M, top_k, ids, top_k}, weights, top_k, x, K, h,
                         K, {}, stream);
}
// snippet-end

namespace {

std::vector<amxmm::block_q4_0> random_q4_0(std::int64_t rows, std::int64_t k, std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(std::size_t(rows * k));
    for (float& v : w) v = normal(rng);
    return amxmm::quantize_q4_0(w.data(), rows, k, k);
}

template <class T>
T* to_device(const std::vector<T>& h, amxmm::cuda::device_buffer& keep) {
    keep = amxmm::cuda::device_buffer(h.size() * sizeof(T));
    amxmm::cuda::detail::check_cuda(cudaMemcpy(keep.data(), h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice),
                                    "snippets/gpu", "cudaMemcpy");
    return static_cast<T*>(keep.data());
}

std::vector<float> to_host(const amxmm::cuda::device_buffer& d) {
    std::vector<float> h(d.size() / sizeof(float));
    amxmm::cuda::detail::check_cuda(cudaMemcpy(h.data(), d.data(), d.size(), cudaMemcpyDeviceToHost), "snippets/gpu",
                                    "cudaMemcpy");
    return h;
}

/// max |a - b| relative to max |b| (both results of the same bf16-operand arithmetic up to fp32 order
/// and one bf16 rounding of the FFN's intermediate).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, scale = 1e-30;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return diff / scale;
}

}  // namespace

int main() try {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("snippets/gpu: no usable GPU here; skipped\n");
        return 0;
    }
    const std::int64_t K = 256, N = 384, E = 4, F = 128, top_k = 2, M = 5;
    std::mt19937_64 rng(7);
    const auto wq = random_q4_0(N, K, rng), gate = random_q4_0(E * F, K, rng), up = random_q4_0(E * F, K, rng),
               down = random_q4_0(E * K, F, rng);
    amxmm::gguf_writer writer;
    writer.add_tensor("blk.0.attn_q.weight", amxmm::ggml_type::q4_0, {K, N}, wq.data(), wq.size() * 18);
    writer.add_tensor("blk.0.ffn_gate_exps.weight", amxmm::ggml_type::q4_0, {K, F, E}, gate.data(), gate.size() * 18);
    writer.add_tensor("blk.0.ffn_up_exps.weight", amxmm::ggml_type::q4_0, {K, F, E}, up.data(), up.size() * 18);
    writer.add_tensor("blk.0.ffn_down_exps.weight", amxmm::ggml_type::q4_0, {F, K, E}, down.data(), down.size() * 18);
    const amxmm::gguf_file model = amxmm::gguf_file::from_bytes(writer.to_bytes());

    amxmm::cuda::context ctx;
    const auto w = load_weight_gpu(model, "blk.0.attn_q.weight");
    const auto g = load_weight_gpu(model, "blk.0.ffn_gate_exps.weight"), u = load_weight_gpu(model, "blk.0.ffn_up_exps.weight"),
               d = load_weight_gpu(model, "blk.0.ffn_down_exps.weight");
    reserve_gpu(ctx, w, g, M, top_k);

    std::vector<float> x(std::size_t(M * K));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
    std::vector<std::int32_t> ids(std::size_t(M * top_k));
    std::vector<float> weights(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ids[i] = std::int32_t((i * 3 + i / 2) % std::size_t(E));
        weights[i] = i % 2 ? 0.3f : 0.7f;
    }
    amxmm::cuda::device_buffer xb, idb, wb, y_dev(std::size_t(M * N) * 4), h_dev(std::size_t(M * K) * 4);
    const float* x_dev = to_device(x, xb);
    const std::int32_t* ids_dev = to_device(ids, idb);
    const float* w_dev = to_device(weights, wb);
    cudaStream_t stream = nullptr;
    amxmm::cuda::detail::check_cuda(cudaStreamCreate(&stream), "snippets/gpu", "cudaStreamCreate");
    project_gpu(ctx, w, M, x_dev, static_cast<float*>(y_dev.data()), stream);
    run_moe_gpu(ctx, g, u, d, M, top_k, ids_dev, w_dev, x_dev, static_cast<float*>(h_dev.data()), stream);
    ctx.check_routing(stream);  // synchronizes the stream
    cudaStreamDestroy(stream);

    // The CPU `fast` mode computes with the same bf16 operands.
    amxmm::gemm_options fast;
    fast.mode = amxmm::compute_mode::fast;
    std::vector<float> y_cpu(std::size_t(M * N)), h_cpu(std::size_t(M * K));
    amxmm::gemm_q4_0(amxmm::pack_q4_0_vnni({wq.data(), N, K}).view(), M, x.data(), K, y_cpu.data(), N, fast);
    amxmm::moe_ffn_options ffast;
    ffast.mode = amxmm::compute_mode::fast;
    amxmm::moe_ffn(amxmm::pack_q4_0_vnni_experts(gate.data(), E, F, K).view(),
                   amxmm::pack_q4_0_vnni_experts(up.data(), E, F, K).view(),
                   amxmm::pack_q4_0_vnni_experts(down.data(), E, K, F).view(), {M, top_k, ids.data(), top_k},
                   weights.data(), top_k, x.data(), K, h_cpu.data(), K, ffast);
    const double ey = max_rel_diff(to_host(y_dev), y_cpu), eh = max_rel_diff(to_host(h_dev), h_cpu);
    const bool ok = ey < 1e-3 && eh < 2e-2;
    std::printf("snippets/gpu: project_gpu and run_moe_gpu %s the CPU fast mode (max rel. diff %.2g, %.2g)\n",
                ok ? "match" : "DO NOT match", ey, eh);
    return ok ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
