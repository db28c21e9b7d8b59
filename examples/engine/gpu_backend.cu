// The engine's GPU backend over amxmm::cuda (see gpu_backend.hpp).
#include "gpu_backend.hpp"

#include <amxmm/cuda.cuh>

#include <algorithm>
#include <chrono>
#include <random>

namespace engine_gpu {

namespace {

using amxmm::cuda::detail::check_cuda;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<amxmm::block_q4_0> random_blocks(std::size_t count, std::uint64_t seed) {
    std::vector<amxmm::block_q4_0> b(count);
    std::mt19937_64 rng(seed);
    for (auto& x : b) {
        x.d = amxmm::fp32_to_fp16(float(1 + rng() % 64) / 4096.0f);
        for (auto& q : x.qs) q = std::uint8_t(rng());
    }
    return b;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

std::string unavailable_reason() {
    int n = 0;
    const cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) return std::string("no CUDA device (") + cudaGetErrorString(st) + ")";
    if (n == 0) return "no CUDA device";
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess) return "cannot query device 0";
    if (major < 8) return "device 0 has compute capability " + std::to_string(major) + ".x; amxmm::cuda needs 8.0";
    return {};
}

struct backend::impl {
    amxmm::cuda::context ctx;
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    std::vector<amxmm::cuda::q4_0_weight> weights;
    amxmm::cuda::device_buffer x, y, ids, w;
    std::size_t x_bytes = 0, y_bytes = 0, ids_bytes = 0, w_bytes = 0;
    std::int64_t max_m = 0, top_k = 1;

    impl() {
        check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "engine_gpu", "cudaStreamCreate");
        check_cuda(cudaEventCreate(&start), "engine_gpu", "cudaEventCreate");
        check_cuda(cudaEventCreate(&stop), "engine_gpu", "cudaEventCreate");
    }
    ~impl() {
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
        cudaStreamDestroy(stream);
    }
    static void grow(amxmm::cuda::device_buffer& b, std::size_t& have, std::size_t need) {
        if (need <= have) return;
        b = amxmm::cuda::device_buffer();
        b = amxmm::cuda::device_buffer(need);
        have = need;
    }
    void to_device(void* dst, const void* src, std::size_t bytes) {
        check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream), "engine_gpu", "cudaMemcpyAsync H2D");
    }
    /// Event-timed enqueue of `fn` on the stream; returns kernel seconds (synchronizes).
    template <class Fn>
    double timed(Fn&& fn) {
        check_cuda(cudaEventRecord(start, stream), "engine_gpu", "cudaEventRecord");
        fn();
        check_cuda(cudaEventRecord(stop, stream), "engine_gpu", "cudaEventRecord");
        check_cuda(cudaEventSynchronize(stop), "engine_gpu", "cudaEventSynchronize");
        float ms = 0;
        check_cuda(cudaEventElapsedTime(&ms, start, stop), "engine_gpu", "cudaEventElapsedTime");
        return double(ms) * 1e-3;
    }
};

backend::backend() : p_(std::make_unique<impl>()) {}
backend::~backend() = default;

std::string backend::device_name() const {
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, p_->ctx.device()), "engine_gpu", "cudaGetDeviceProperties");
    return prop.name;
}

int backend::upload(const amxmm::q4_0_matrix_view& w, std::int64_t experts) {
    p_->weights.push_back(amxmm::cuda::q4_0_weight::upload_experts(w, experts, p_->stream));
    return int(p_->weights.size() - 1);
}

std::uint64_t backend::weight_bytes() const {
    std::uint64_t b = 0;
    for (const auto& w : p_->weights) b += w.layout().total_bytes();
    return b;
}

void backend::reserve(std::int64_t max_m, std::int64_t max_width, std::int64_t top_k) {
    impl& s = *p_;
    s.max_m = std::max(s.max_m, max_m);
    s.top_k = std::max(s.top_k, top_k);
    impl::grow(s.x, s.x_bytes, std::size_t(max_m * max_width) * sizeof(float));
    impl::grow(s.y, s.y_bytes, std::size_t(max_m * max_width) * sizeof(float));
    impl::grow(s.ids, s.ids_bytes, std::size_t(max_m * top_k) * sizeof(std::int32_t));
    impl::grow(s.w, s.w_bytes, std::size_t(max_m * top_k) * sizeof(float));
    std::size_t ws = 0;
    for (const auto& w : s.weights) {
        if (w.layout().experts == 1) {
            ws = std::max(ws, amxmm::cuda::gemm_workspace_bytes(max_m, w.layout()));
        } else {
            ws = std::max(ws, amxmm::cuda::moe_ffn_workspace_bytes(max_m, top_k, w.layout()));
            ws = std::max(ws, amxmm::cuda::moe_gemm_workspace_bytes(max_m, top_k, w.layout()));
        }
    }
    s.ctx.reserve(ws);
}

op_time backend::gemm(int w, std::int64_t m, const float* x, float* y) {
    impl& s = *p_;
    const auto& wt = s.weights[std::size_t(w)];
    const std::int64_t n = wt.layout().n, k = wt.layout().k;
    const double t0 = now_s();
    s.to_device(s.x.data(), x, std::size_t(m * k) * sizeof(float));
    check_cuda(cudaStreamSynchronize(s.stream), "engine_gpu", "cudaStreamSynchronize");
    op_time t;
    t.kernel_s = s.timed([&] {
        amxmm::cuda::gemm_q4_0(s.ctx, wt.view(), m, static_cast<const float*>(s.x.data()), k, static_cast<float*>(s.y.data()),
                               n, {}, s.stream);
    });
    check_cuda(cudaMemcpyAsync(y, s.y.data(), std::size_t(m * n) * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
               "engine_gpu", "cudaMemcpyAsync D2H");
    check_cuda(cudaStreamSynchronize(s.stream), "engine_gpu", "cudaStreamSynchronize");
    t.copy_s = std::max(0.0, now_s() - t0 - t.kernel_s);
    return t;
}

op_time backend::moe_ffn(int gate, int up, int down, std::int64_t m, std::int64_t top_k, const std::int32_t* ids,
                         const float* weights, const float* x, float* h) {
    impl& s = *p_;
    const auto& g = s.weights[std::size_t(gate)];
    const std::int64_t k = g.layout().k;
    const double t0 = now_s();
    s.to_device(s.x.data(), x, std::size_t(m * k) * sizeof(float));
    s.to_device(s.ids.data(), ids, std::size_t(m * top_k) * sizeof(std::int32_t));
    s.to_device(s.w.data(), weights, std::size_t(m * top_k) * sizeof(float));
    check_cuda(cudaStreamSynchronize(s.stream), "engine_gpu", "cudaStreamSynchronize");
    op_time t;
    t.kernel_s = s.timed([&] {
        amxmm::cuda::moe_ffn(s.ctx, g.view(), s.weights[std::size_t(up)].view(), s.weights[std::size_t(down)].view(),
                             {m, top_k, static_cast<const std::int32_t*>(s.ids.data()), top_k},
                             static_cast<const float*>(s.w.data()), top_k, static_cast<const float*>(s.x.data()), k,
                             static_cast<float*>(s.y.data()), k, {}, s.stream);
    });
    check_cuda(cudaMemcpyAsync(h, s.y.data(), std::size_t(m * k) * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
               "engine_gpu", "cudaMemcpyAsync D2H");
    s.ctx.check_routing(s.stream);  // synchronizes
    t.copy_s = std::max(0.0, now_s() - t0 - t.kernel_s);
    return t;
}

namespace {

/// Copies of a weight filling >= 4× the L2 (at least 2, at most 64), so small batches read HBM.
std::vector<amxmm::cuda::q4_0_weight> weight_ring(const std::vector<amxmm::block_q4_0>& blocks, std::int64_t rows,
                                                   std::int64_t k, std::int64_t experts, cudaStream_t stream) {
    int l2 = 0;
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0);
    const double bytes = double(blocks.size()) * 18.0;
    const std::size_t n = std::size_t(std::clamp(4.0 * std::max(l2, 1 << 20) / bytes + 1.0, 2.0, 64.0));
    std::vector<amxmm::cuda::q4_0_weight> ring;
    for (std::size_t i = 0; i < n; ++i)
        ring.push_back(amxmm::cuda::q4_0_weight::upload_experts({blocks.data(), rows, k}, experts, stream));
    return ring;
}

}  // namespace

std::vector<std::pair<double, double>> backend::time_dense(std::int64_t n, std::int64_t k, const std::vector<std::int64_t>& ms) {
    impl& s = *p_;
    const auto blocks = random_blocks(std::size_t(n * k / 32), 3000 + std::uint64_t(n * 7 + k));
    const auto ring = weight_ring(blocks, n, k, 1, s.stream);
    const std::int64_t mmax = *std::max_element(ms.begin(), ms.end());
    amxmm::cuda::device_buffer x(std::size_t(mmax * k) * 4), y(std::size_t(mmax * n) * 4);
    check_cuda(cudaMemset(x.data(), 0, x.size()), "engine_gpu", "cudaMemset");
    s.ctx.reserve(amxmm::cuda::gemm_workspace_bytes(mmax, ring[0].layout()));
    std::vector<std::pair<double, double>> out;
    for (std::int64_t m : ms) {
        s.ctx.reserve(amxmm::cuda::gemm_workspace_bytes(m, ring[0].layout()));
        std::vector<double> t;
        for (int r = -1; r < 15; ++r) {
            const auto& w = ring[std::size_t(r + 1) % ring.size()];
            const double dt = s.timed([&] {
                amxmm::cuda::gemm_q4_0(s.ctx, w.view(), m, static_cast<const float*>(x.data()), k,
                                       static_cast<float*>(y.data()), n, {}, s.stream);
            });
            if (r >= 0) t.push_back(dt);
        }
        out.push_back({double(m), median(t)});
    }
    return out;
}

std::vector<std::pair<double, double>> backend::time_experts(std::int64_t e, std::int64_t n, std::int64_t k,
                                                             std::int64_t top_k, const std::vector<std::int64_t>& ms) {
    impl& s = *p_;
    const auto blocks = random_blocks(std::size_t(e * n * k / 32), 4000 + std::uint64_t(n * 7 + k));
    const auto ring = weight_ring(blocks, e * n, k, e, s.stream);
    const std::int64_t mmax = *std::max_element(ms.begin(), ms.end());
    amxmm::cuda::device_buffer x(std::size_t(mmax * k) * 4), y(std::size_t(mmax * top_k * n) * 4),
        ids_dev(std::size_t(mmax * top_k) * 4);
    check_cuda(cudaMemset(x.data(), 0, x.size()), "engine_gpu", "cudaMemset");
    std::vector<std::int32_t> ids(std::size_t(mmax * top_k)), perm(static_cast<std::size_t>(e));
    std::mt19937 rng(11);
    for (std::int64_t t = 0; t < mmax; ++t) {  // top_k distinct experts per token, uniformly
        for (std::int64_t i = 0; i < e; ++i) perm[std::size_t(i)] = std::int32_t(i);
        for (std::int64_t sl = 0; sl < top_k; ++sl) {
            const std::int64_t j = sl + std::int64_t(rng() % std::uint32_t(e - sl));
            std::swap(perm[std::size_t(sl)], perm[std::size_t(j)]);
            ids[std::size_t(t * top_k + sl)] = perm[std::size_t(sl)];
        }
    }
    check_cuda(cudaMemcpy(ids_dev.data(), ids.data(), ids.size() * 4, cudaMemcpyHostToDevice), "engine_gpu", "cudaMemcpy");
    std::vector<std::pair<double, double>> out;
    for (std::int64_t m : ms) {
        s.ctx.reserve(amxmm::cuda::moe_gemm_workspace_bytes(m, top_k, ring[0].layout()));
        std::vector<double> t;
        for (int r = -1; r < 15; ++r) {
            const auto& w = ring[std::size_t(r + 1) % ring.size()];
            const double dt = s.timed([&] {
                amxmm::cuda::moe_gemm(s.ctx, w.view(), {m, top_k, static_cast<const std::int32_t*>(ids_dev.data()), top_k},
                                      static_cast<const float*>(x.data()), amxmm::moe_input_rows::per_token, k, 0,
                                      static_cast<float*>(y.data()), top_k * n, n, {}, s.stream);
            });
            if (r >= 0) t.push_back(dt);
        }
        s.ctx.check_routing(s.stream);
        out.push_back({double(m), median(t)});
    }
    return out;
}

}  // namespace engine_gpu
