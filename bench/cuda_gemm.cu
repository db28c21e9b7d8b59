// amxmm_bench_cuda: the CUDA path against cuBLAS bf16 (bf16 weights) and the HBM copy probe, measured in
// one process.
//
// Benchmarks (names: cuda/<kind>/<shape>/M<m>/<path>/<hot|cold>):
//   dense   K×N = 2048×4096, 4096×4096, 4096×14336, 14336×4096; M = 1 .. 2048; paths gemv (M <= 8, mode
//           fast: the fp32 gemv), gemv_exact (M <= 8, mode exact: Q8_0 activations, dp4a), mma,
//           mma_exact (mode exact on the tensor cores: integer block products, the CPU's exact bits), dequant_cublas, wgmma (sm_90a builds on an H100/H200; skipped elsewhere) and auto (mode
//           automatic: exact where it runs the gemv); peer "cublas_bf16" =
//           cublasGemmEx on the same M×N×K with bf16 weights. The label says path and mode.
//   moe     Qwen3-30B-A3B experts, E = 128, top-8, uniform routing: moe_gemm up-shape (K=2048, N=768),
//           moe_gemm down-shape (K=768, N=2048, one row per slot), moe_ffn (gate+up+down); M = 1 .. 2048.
//           Also the CPU suite's DeepSeek-V3 (E = 256, top-8, 7168 -> 2048) and Mixtral-8x7B (E = 8, top-2,
//           4096 -> 14336) layers, the same three kinds at M = 1, 4, 8, 16 (cold) and 512 (hot), auto,
//           gemv_exact, gemv_exact_by_expert (M <= 16), mma, mma_exact and wgmma (M >= 64), without peers.
//           Peers: "cublas_bf16_per_expert" — the same MoE with bf16 expert weights, tokens pre-grouped, one
//           cublasGemmEx per active expert and projection (counter pct_cublas); "cublas_bf16_dense_equiv" —
//           one dense bf16 GEMM per projection with the same M·top_k rows and FLOPs and a single weight, an
//           upper bound for any grouped GEMM (counter pct_cublas_dense_equiv); "cublas_bf16_grouped" — the
//           per-expert peer's work as one cublasGemmGroupedBatchedEx per projection, one group per active
//           expert (cuBLAS >= 12.5; counter pct_cublas_grouped: the fair "cuBLAS bf16 on the same shape").
//           Our variants: auto, gemv (mode fast, fp32), gemv_exact (mode exact, per (token, slot) pair),
//           gemv_exact_by_expert (mode exact, pairs grouped by expert: moe_gemv_grouping::by_expert), mma,
//           mma_exact (the exact grouped tiles), wgmma (M >= 64; sm_90a builds on an H100/H200) (M <= 16 for the gemv ones).
// Timing: every measured call sequence is captured once in a CUDA graph (the calls only enqueue work,
// so they can be captured) and replayed between CUDA events: per-call GPU time without launch gaps.
// Cold (M <= 128): the graph cycles through copies of the weight totalling >= 4 × L2, so weights come
// from HBM; the activations stay the same buffers. Hot: the same weight every call.
// Counters: flops (2·M·N·K per second; MoE: 2·M·top_k·N·K), bytes_per_second (Q4_0 weight bytes of the
// touched experts + fp32 activations in/out), pct_hbm (bytes_per_second as % of the HBM copy probe,
// cold), pct_cublas (peer time / our time × 100, the peer measured in this process on the same shape
// and temperature).
// Environment: AMXMM_BENCH_MIN_TIME (seconds per benchmark, default 0.05).
#include <benchmark/benchmark.h>

#include <amxmm/cuda.cuh>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace cb {

using amxmm::cuda::device_buffer;
namespace cu = amxmm::cuda;

inline void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(s));
}

double min_time() {
    const char* v = std::getenv("AMXMM_BENCH_MIN_TIME");
    const double t = (v && *v) ? std::atof(v) : 0.05;
    return t > 0 ? t : 0.05;
}

// ---- process-wide state --------------------------------------------------------------------------------

struct gpu_state {
    cudaDeviceProp prop{};
    std::size_t l2 = 0;
    double hbm_copy_bps = 0;  // (read + written bytes) / s of cudaMemcpyAsync device-to-device
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    std::unique_ptr<cu::context> ctx;
    cublasHandle_t cublas = nullptr;
    device_buffer cublas_ws;
    std::map<std::string, double> peer_seconds;  // peer key -> seconds per call
};

gpu_state& gpu() {
    static gpu_state g;
    return g;
}

void probe_hbm() {
    gpu_state& g = gpu();
    const std::size_t bytes = std::size_t(1) << 30;
    device_buffer a(bytes), b(bytes);
    check(cudaMemset(a.data(), 1, bytes), "memset");
    check(cudaMemset(b.data(), 2, bytes), "memset");
    float best = 1e30f;
    for (int rep = 0; rep < 8; ++rep) {
        check(cudaEventRecord(g.start, g.stream), "event");
        for (int i = 0; i < 4; ++i) check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, g.stream), "copy");
        check(cudaEventRecord(g.stop, g.stream), "event");
        check(cudaEventSynchronize(g.stop), "sync");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, g.start, g.stop), "elapsed");
        if (rep > 0) best = std::min(best, ms / 4);
    }
    g.hbm_copy_bps = 2.0 * double(bytes) / (double(best) * 1e-3);
}

void init_gpu() {
    gpu_state& g = gpu();
    check(cudaGetDeviceProperties(&g.prop, 0), "cudaGetDeviceProperties");
    g.l2 = std::size_t(g.prop.l2CacheSize);
    check(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking), "stream");
    check(cudaEventCreate(&g.start), "event");
    check(cudaEventCreate(&g.stop), "event");
    g.ctx = std::make_unique<cu::context>();
    check(cublasCreate(&g.cublas), "cublasCreate");
    g.cublas_ws = device_buffer(std::size_t(32) << 20);
    probe_hbm();
    std::fprintf(stderr, "amxmm bench cuda: %s, %d SMs, L2 %.1f MiB, HBM copy probe %.1f GB/s (read + write)\n",
                 g.prop.name, g.prop.multiProcessorCount, g.l2 / 1048576.0, g.hbm_copy_bps / 1e9);
    benchmark::AddCustomContext("amxmm_version", amxmm::version_string());
    benchmark::AddCustomContext("amxmm_gpu", g.prop.name);
    benchmark::AddCustomContext("amxmm_gpu_sms", std::to_string(g.prop.multiProcessorCount));
    benchmark::AddCustomContext("amxmm_gpu_l2_bytes", std::to_string(g.l2));
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", g.hbm_copy_bps);
    benchmark::AddCustomContext("amxmm_probe_hbm_copy_bytes_per_second", buf);
}

/// Copies needed so that `bytes` each total >= 4 × L2 (at least 2).
std::size_t cold_copies(std::size_t bytes) {
    return std::max<std::size_t>(2, (4 * gpu().l2 + bytes - 1) / bytes);
}

// ---- graphs --------------------------------------------------------------------------------------------

/// A captured sequence of `calls` calls (enqueue(i) enqueues call i on the stream).
struct graph {
    cudaGraphExec_t exec = nullptr;
    int calls = 0;
    graph(int n, const std::function<void(int)>& enqueue) : calls(n) {
        cudaStream_t s = gpu().stream;
        cudaGraph_t g = nullptr;
        enqueue(0);  // once outside the capture: lazy module loading and library setup happen here
        check(cudaStreamSynchronize(s), "warm-up");
        check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture");
        try {
            for (int i = 0; i < n; ++i) enqueue(i);
        } catch (...) {
            cudaStreamEndCapture(s, &g);
            if (g) cudaGraphDestroy(g);
            throw;
        }
        check(cudaStreamEndCapture(s, &g), "end capture");
        check(cudaGraphInstantiate(&exec, g, 0), "instantiate");
        cudaGraphDestroy(g);
    }
    ~graph() {
        if (exec) cudaGraphExecDestroy(exec);
    }
    /// Seconds per call of one replay.
    double run() {
        gpu_state& st = gpu();
        check(cudaEventRecord(st.start, st.stream), "event");
        check(cudaGraphLaunch(exec, st.stream), "graph launch");
        check(cudaEventRecord(st.stop, st.stream), "event");
        check(cudaEventSynchronize(st.stop), "sync");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, st.start, st.stop), "elapsed");
        return double(ms) * 1e-3 / calls;
    }
};

/// Replays the graph under Google Benchmark's loop; returns mean seconds per call.
double measure(benchmark::State& state, graph& gr) {
    gr.run();  // warm-up
    double total = 0;
    std::int64_t n = 0;
    for (auto _ : state) {
        const double t = gr.run();
        state.SetIterationTime(t);
        total += t;
        ++n;
    }
    return n ? total / double(n) : 0;
}

void set_counters(benchmark::State& state, double seconds, double flops, double bytes, bool cold, const std::string& peer_key,
                  const std::string& dense_equiv_key = "", const std::string& grouped_key = "") {
    if (seconds <= 0) return;
    state.counters["flops"] = flops / seconds;
    state.counters["bytes_per_second"] = bytes / seconds;
    if (cold) state.counters["pct_hbm"] = 100.0 * (bytes / seconds) / gpu().hbm_copy_bps;
    const auto it = gpu().peer_seconds.find(peer_key);
    if (!peer_key.empty() && it != gpu().peer_seconds.end()) state.counters["pct_cublas"] = 100.0 * it->second / seconds;
    const auto eq = gpu().peer_seconds.find(dense_equiv_key);
    if (!dense_equiv_key.empty() && eq != gpu().peer_seconds.end())
        state.counters["pct_cublas_dense_equiv"] = 100.0 * eq->second / seconds;
    const auto gr = gpu().peer_seconds.find(grouped_key);
    if (!grouped_key.empty() && gr != gpu().peer_seconds.end()) state.counters["pct_cublas_grouped"] = 100.0 * gr->second / seconds;
}

// ---- data ----------------------------------------------------------------------------------------------

std::vector<amxmm::block_q4_0> random_q4_0(std::int64_t rows, std::int64_t k, std::uint64_t seed) {
    std::vector<amxmm::block_q4_0> blocks(std::size_t(rows * (k / 32)));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> scale(0.001f, 0.01f);
    for (auto& b : blocks) {
        b.d = amxmm::fp32_to_fp16(scale(rng));
        const std::uint64_t lo = rng(), hi = rng();
        std::memcpy(b.qs, &lo, 8);
        std::memcpy(b.qs + 8, &hi, 8);
    }
    return blocks;
}

/// Device fp32 buffer of `count` random values in [-1, 1).
device_buffer random_floats(std::size_t count, std::uint32_t seed) {
    std::vector<float> h(count);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : h) v = u(rng);
    device_buffer d(count * sizeof(float));
    check(cudaMemcpy(d.data(), h.data(), count * sizeof(float), cudaMemcpyHostToDevice), "upload");
    return d;
}

/// Device bf16 buffer of `count` small random values (the peer's weights).
device_buffer random_bf16(std::size_t count, std::uint32_t seed) {
    std::vector<std::uint16_t> h(count);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (auto& v : h) v = amxmm::fp32_to_bf16(u(rng)).bits;
    device_buffer d(count * 2);
    check(cudaMemcpy(d.data(), h.data(), count * 2, cudaMemcpyHostToDevice), "upload");
    return d;
}

/// Weight copies: index 0 is the hot weight; all of them together are >= 4 × L2.
struct q4_ring {
    std::vector<cu::q4_0_weight> w;
    std::size_t bytes = 0;
};
q4_ring make_q4_ring(std::int64_t experts, std::int64_t n, std::int64_t k, std::uint64_t seed) {
    const auto blocks = random_q4_0(experts * n, k, seed);
    q4_ring r;
    r.w.push_back(cu::q4_0_weight::upload_experts({blocks.data(), experts * n, k}, experts));
    r.bytes = r.w[0].layout().total_bytes();
    const std::size_t copies = cold_copies(r.bytes);
    while (r.w.size() < copies) r.w.push_back(cu::q4_0_weight::upload_experts({blocks.data(), experts * n, k}, experts));
    return r;
}

constexpr int hot_calls = 16;

int calls_for(bool cold, std::size_t ring) { return cold ? int(ring) : hot_calls; }

// ---- peers ---------------------------------------------------------------------------------------------

/// cuBLAS bf16 GEMM(s) with bf16 weights: gemms × (rows × N × K) per call; seconds per call stored under `key`.
void peer_bench(benchmark::State& state, std::string key, std::int64_t rows, std::vector<std::pair<std::int64_t, std::int64_t>> nk,
                bool cold, double flops) {
    gpu_state& g = gpu();
    std::size_t wbytes = 0, maxk = 0, maxn = 0;
    for (auto [n, k] : nk) {
        wbytes += std::size_t(n * k) * 2;
        maxk = std::max<std::size_t>(maxk, std::size_t(k));
        maxn = std::max<std::size_t>(maxn, std::size_t(n));
    }
    // bf16 weight copies (>= 4 × L2 in all), kept for the next benchmark of the same shapes.
    static std::string cached_key;
    static std::vector<std::vector<device_buffer>> w;
    std::string shape_key;
    for (auto [n, k] : nk) shape_key += std::to_string(n) + "x" + std::to_string(k) + ";";
    if (shape_key != cached_key) {
        w.clear();
        cached_key = shape_key;
    }
    const std::size_t ring = cold_copies(wbytes), copies = cold ? ring : 1;
    while (w.size() < copies) {
        w.emplace_back();
        for (auto [n, k] : nk) w.back().push_back(random_bf16(std::size_t(n * k), std::uint32_t(w.size() * 7 + n)));
    }
    device_buffer x = random_bf16(std::size_t(rows) * std::max(maxk, maxn), 3);
    device_buffer y(std::size_t(rows) * std::max(maxk, maxn) * 4);
    device_buffer h = random_bf16(std::size_t(rows) * std::max(maxk, maxn), 4);
    check(cublasSetStream(g.cublas, g.stream), "cublasSetStream");
    check(cublasSetWorkspace(g.cublas, g.cublas_ws.data(), g.cublas_ws.size()), "cublasSetWorkspace");
    const float alpha = 1, beta = 0;
    graph gr(calls_for(cold, copies), [&](int i) {
        const auto& ws = w[std::size_t(i) % copies];
        for (std::size_t j = 0; j < nk.size(); ++j) {
            const auto [n, k] = nk[j];
            const void* a = j == 0 ? x.data() : h.data();
            check(cublasGemmEx(g.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(rows), int(k), &alpha, ws[j].data(), CUDA_R_16BF,
                               int(k), a, CUDA_R_16BF, int(k), &beta, y.data(), CUDA_R_32F, int(n), CUBLAS_COMPUTE_32F,
                               CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx");
        }
    });
    const double s = measure(state, gr);
    g.peer_seconds[key] = s;
    double bytes = 0;
    for (auto [n, k] : nk) bytes += double(n * k) * 2 + double(rows) * double(k + n) * 4;
    set_counters(state, s, flops, bytes, cold, "");
}

/// Fills `count` bf16 values in [-0.05, 0.05) from a hash of the index (device-side: the MoE peer's
/// expert weights are hundreds of MB).
__global__ void fill_bf16_kernel(__nv_bfloat16* p, std::size_t count, unsigned seed) {
    for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < count; i += std::size_t(gridDim.x) * blockDim.x) {
        unsigned h = unsigned(i) * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        p[i] = __float2bfloat16_rn((float(h & 0xffffu) / 65536.0f - 0.5f) * 0.1f);
    }
}

device_buffer device_bf16(std::size_t count, unsigned seed) {
    device_buffer d(count * 2);
    fill_bf16_kernel<<<4096, 256>>>(static_cast<__nv_bfloat16*>(d.data()), count, seed);
    check(cudaGetLastError(), "fill_bf16_kernel");
    check(cudaDeviceSynchronize(), "fill");
    return d;
}

/// The MoE peer on the same shape with bf16 expert weights: tokens already grouped by expert (free for
/// the peer), then one cublasGemmEx per active expert per projection — gate and up as one 2F-row GEMM
/// and down for the FFN (no activation or slot sum: a lower bound on the peer's time). `nk` lists the
/// projections as (rows of one expert, K).
void peer_moe_bench(benchmark::State& state, std::string key, std::int64_t m, std::int64_t top_k, std::int64_t experts,
                    std::vector<std::pair<std::int64_t, std::int64_t>> nk, std::vector<std::int32_t> ids, double flops) {
    gpu_state& g = gpu();
    std::vector<std::int64_t> count(std::size_t(experts), 0);
    for (std::int32_t e : ids) ++count[std::size_t(e)];
    static std::string cached_key;
    static std::vector<device_buffer> w;  // per projection: E experts of n x k bf16
    std::string shape_key;
    for (auto [n, k] : nk) shape_key += std::to_string(n) + "x" + std::to_string(k) + ";";
    if (shape_key != cached_key) {
        w.clear();
        for (std::size_t j = 0; j < nk.size(); ++j)
            w.push_back(device_bf16(std::size_t(experts * nk[j].first * nk[j].second), unsigned(j * 977 + 5)));
        cached_key = shape_key;
    }
    const std::int64_t rows = m * top_k;
    std::size_t widest = 0;
    for (auto [n, k] : nk) widest = std::max<std::size_t>(widest, std::size_t(std::max(n, k)));
    device_buffer x = device_bf16(std::size_t(rows) * widest, 3), h = device_bf16(std::size_t(rows) * widest, 4);
    device_buffer y(std::size_t(rows) * widest * 4);
    check(cublasSetStream(g.cublas, g.stream), "cublasSetStream");
    check(cublasSetWorkspace(g.cublas, g.cublas_ws.data(), g.cublas_ws.size()), "cublasSetWorkspace");
    const float alpha = 1, beta = 0;
    graph gr(1, [&](int) {
        std::int64_t row0 = 0;
        for (std::int64_t e = 0; e < experts; ++e) {
            const std::int64_t re = count[std::size_t(e)];
            if (re == 0) continue;
            for (std::size_t j = 0; j < nk.size(); ++j) {
                const auto [n, k] = nk[j];
                const auto* we = static_cast<const __nv_bfloat16*>(w[j].data()) + std::size_t(e * n * k);
                const auto* a = static_cast<const __nv_bfloat16*>((j == 0 ? x : h).data()) + std::size_t(row0 * k);
                float* out = static_cast<float*>(y.data()) + std::size_t(row0 * n);
                check(cublasGemmEx(g.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(re), int(k), &alpha, we, CUDA_R_16BF,
                                   int(k), a, CUDA_R_16BF, int(k), &beta, out, CUDA_R_32F, int(n), CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
            }
            row0 += re;
        }
    });
    const double sec = measure(state, gr);
    g.peer_seconds[key] = sec;
    std::size_t active = 0;
    for (auto c : count) active += c > 0;
    double bytes = 0;
    for (auto [n, k] : nk) bytes += double(active) * double(n * k) * 2 + double(rows) * double(k + n) * 4;
    state.SetLabel("active experts " + std::to_string(active));
    set_counters(state, sec, flops, bytes, false, "");
}

#if defined(CUBLAS_VERSION) && CUBLAS_VERSION >= 120500
#define AMXMM_BENCH_CUBLAS_GROUPED 1
/// The MoE peer as one grouped GEMM per projection: cublasGemmGroupedBatchedEx with one group per
/// active expert (its token count as the group's n), bf16 expert weights, tokens pre-grouped — the
/// same work as peer_moe_bench in a single call per projection (gate and up as one 2F-row GEMM, then
/// down). C is fp32 where cuBLAS takes bf16 × bf16 -> fp32 grouped, else bf16 (said in the label).
void peer_moe_grouped_bench(benchmark::State& state, std::string key, std::int64_t m, std::int64_t top_k, std::int64_t experts,
                            std::vector<std::pair<std::int64_t, std::int64_t>> nk, std::vector<std::int32_t> ids, double flops) {
    gpu_state& g = gpu();
    std::vector<std::int64_t> count(std::size_t(experts), 0);
    for (std::int32_t e : ids) ++count[std::size_t(e)];
    static std::string cached_key;
    static std::vector<device_buffer> w;  // per projection: E experts of n x k bf16 (the per-expert peer's values)
    std::string shape_key;
    for (auto [n, k] : nk) shape_key += std::to_string(n) + "x" + std::to_string(k) + ";";
    if (shape_key != cached_key) {
        w.clear();
        for (std::size_t j = 0; j < nk.size(); ++j)
            w.push_back(device_bf16(std::size_t(experts * nk[j].first * nk[j].second), unsigned(j * 977 + 5)));
        cached_key = shape_key;
    }
    const std::int64_t rows = m * top_k;
    std::size_t widest = 0;
    for (auto [n, k] : nk) widest = std::max<std::size_t>(widest, std::size_t(std::max(n, k)));
    device_buffer x = device_bf16(std::size_t(rows) * widest, 3), h = device_bf16(std::size_t(rows) * widest, 4);
    device_buffer y(std::size_t(rows) * widest * 4);
    // Per projection: host arrays of the group shapes, device arrays of the matrix pointers.
    struct projection {
        std::vector<cublasOperation_t> ta, tb;
        std::vector<int> mm, nn, kk, lda, ldb, ldc, size;
        std::vector<float> alpha, beta;
        device_buffer a, b, c;  // const void* [groups]
        int groups = 0;
    };
    std::vector<projection> proj(nk.size());
    for (std::size_t j = 0; j < nk.size(); ++j) {
        const auto [n, k] = nk[j];
        projection& pr = proj[j];
        std::vector<const void*> ap, bp;
        std::vector<void*> cp;
        std::int64_t row0 = 0;
        for (std::int64_t e = 0; e < experts; ++e) {
            const std::int64_t re = count[std::size_t(e)];
            if (re == 0) continue;
            ap.push_back(static_cast<const __nv_bfloat16*>(w[j].data()) + std::size_t(e * n * k));
            bp.push_back(static_cast<const __nv_bfloat16*>((j == 0 ? x : h).data()) + std::size_t(row0 * k));
            cp.push_back(static_cast<float*>(y.data()) + std::size_t(row0 * n));  // room for fp32 or bf16 C
            pr.ta.push_back(CUBLAS_OP_T);
            pr.tb.push_back(CUBLAS_OP_N);
            pr.mm.push_back(int(n));
            pr.nn.push_back(int(re));
            pr.kk.push_back(int(k));
            pr.lda.push_back(int(k));
            pr.ldb.push_back(int(k));
            pr.ldc.push_back(int(n));
            pr.size.push_back(1);
            pr.alpha.push_back(1.0f);
            pr.beta.push_back(0.0f);
            row0 += re;
        }
        pr.groups = int(ap.size());
        pr.a = device_buffer(ap.size() * sizeof(void*));
        pr.b = device_buffer(bp.size() * sizeof(void*));
        pr.c = device_buffer(cp.size() * sizeof(void*));
        check(cudaMemcpy(pr.a.data(), ap.data(), ap.size() * sizeof(void*), cudaMemcpyHostToDevice), "upload pointers");
        check(cudaMemcpy(pr.b.data(), bp.data(), bp.size() * sizeof(void*), cudaMemcpyHostToDevice), "upload pointers");
        check(cudaMemcpy(pr.c.data(), cp.data(), cp.size() * sizeof(void*), cudaMemcpyHostToDevice), "upload pointers");
    }
    check(cublasSetStream(g.cublas, g.stream), "cublasSetStream");
    check(cublasSetWorkspace(g.cublas, g.cublas_ws.data(), g.cublas_ws.size()), "cublasSetWorkspace");
    const auto call = [&](const projection& pr, cudaDataType_t ctype) {
        return cublasGemmGroupedBatchedEx(g.cublas, pr.ta.data(), pr.tb.data(), pr.mm.data(), pr.nn.data(), pr.kk.data(),
                                          pr.alpha.data(), static_cast<const void* const*>(pr.a.data()), CUDA_R_16BF,
                                          pr.lda.data(), static_cast<const void* const*>(pr.b.data()), CUDA_R_16BF,
                                          pr.ldb.data(), pr.beta.data(), static_cast<void* const*>(pr.c.data()), ctype,
                                          pr.ldc.data(), pr.groups, pr.size.data(), CUBLAS_COMPUTE_32F);
    };
    // fp32 C where this cuBLAS supports it for bf16 inputs, else bf16 C (probed once, outside any capture).
    cudaDataType_t ctype = CUDA_R_32F;
    if (call(proj[0], ctype) != CUBLAS_STATUS_SUCCESS) {
        ctype = CUDA_R_16BF;
        check(call(proj[0], ctype), "cublasGemmGroupedBatchedEx");
    }
    check(cudaStreamSynchronize(g.stream), "probe");
    graph gr(1, [&](int) {
        for (const projection& pr : proj) check(call(pr, ctype), "cublasGemmGroupedBatchedEx");
    });
    const double sec = measure(state, gr);
    g.peer_seconds[key] = sec;
    double bytes = 0;
    for (auto [n, k] : nk) bytes += double(proj[0].groups) * double(n * k) * 2 + double(rows) * double(k + n) * 4;
    state.SetLabel("active experts " + std::to_string(proj[0].groups) + (ctype == CUDA_R_32F ? "; C fp32" : "; C bf16"));
    set_counters(state, sec, flops, bytes, false, "");
}
#endif

// ---- dense ---------------------------------------------------------------------------------------------

struct dense_shape {
    std::int64_t k, n;
    std::string name() const { return "K" + std::to_string(k) + "_N" + std::to_string(n); }
};

q4_ring& dense_ring(const dense_shape& s) {
    static std::unique_ptr<q4_ring> ring;
    static std::int64_t rk = 0, rn = 0;
    if (!ring || rk != s.k || rn != s.n) {
        ring.reset();
        ring = std::make_unique<q4_ring>(make_q4_ring(1, s.n, s.k, std::uint64_t(s.k * 31 + s.n)));
        rk = s.k;
        rn = s.n;
    }
    return *ring;
}

/// Our variants: (path, mode) and the name in the benchmark's name.
struct variant {
    cu::gemm_path path;
    amxmm::compute_mode mode;
    const char* name;
    cu::moe_gemv_grouping grouping = cu::moe_gemv_grouping::automatic;  ///< MoE only
};
constexpr variant v_auto{cu::gemm_path::automatic, amxmm::compute_mode::automatic, "automatic"};
constexpr variant v_gemv{cu::gemm_path::gemv, amxmm::compute_mode::fast, "gemv"};
/// MoE: the exact gemv per (token, slot) pair (dense: the exact gemv)
constexpr variant v_gemv_exact{cu::gemm_path::gemv, amxmm::compute_mode::exact, "gemv_exact", cu::moe_gemv_grouping::per_pair};
constexpr variant v_gemv_by_expert{cu::gemm_path::gemv, amxmm::compute_mode::exact, "gemv_exact_by_expert",
                                   cu::moe_gemv_grouping::by_expert};
constexpr variant v_mma{cu::gemm_path::mma, amxmm::compute_mode::automatic, "mma"};
/// exact mode on the tensor cores (q4_0_mma_exact_kernel: the CPU's exact bits at any m)
constexpr variant v_mma_exact{cu::gemm_path::mma, amxmm::compute_mode::exact, "mma_exact"};
constexpr variant v_dequant{cu::gemm_path::dequant_cublas, amxmm::compute_mode::automatic, "dequant_cublas"};
constexpr variant v_wgmma{cu::gemm_path::wgmma, amxmm::compute_mode::automatic, "wgmma"};

std::string plan_label(const cu::gemm_plan& plan) {
    return std::string(cu::to_string(plan.path)) + (plan.path == cu::gemm_path::mma ? "/" + std::to_string(plan.tile_rows) : "") +
           (plan.path == cu::gemm_path::gemv && plan.tile_rows == cu::detail::moe_by_expert_pairs &&
                    plan.reason.find("by expert") != std::string::npos
                ? "/by_expert"
                : "") +
           (plan.path == cu::gemm_path::wgmma ? "/splits" + std::to_string(plan.k_splits) : "") + "/" +
           amxmm::to_string(plan.mode);
}

/// False (and the benchmark skipped) for a wgmma variant where the device or build has no wgmma kernel.
bool runnable(benchmark::State& state, variant v) {
    if (v.path != cu::gemm_path::wgmma || gpu().ctx->features().wgmma) return true;
    state.SkipWithError("no wgmma kernel on this device/build (sm_90 with CMAKE_CUDA_ARCHITECTURES 90a)");
    return false;
}

void dense_bench(benchmark::State& state, dense_shape s, std::int64_t m, variant v, bool cold, std::string peer_key) {
    gpu_state& g = gpu();
    q4_ring& ring = dense_ring(s);
    cu::gemm_options opt;
    opt.path = v.path;
    opt.mode = v.mode;
    if (!runnable(state, v)) return;
    const cu::gemm_plan plan = cu::plan_gemm_q4_0(m, ring.w[0].layout(), opt, g.ctx->features());
    g.ctx->reserve(plan.workspace_bytes);
    device_buffer x = random_floats(std::size_t(m * s.k), 1), y(std::size_t(m * s.n) * 4);
    const std::size_t copies = cold ? ring.w.size() : 1;
    graph gr(calls_for(cold, copies), [&](int i) {
        cu::gemm_q4_0(*g.ctx, ring.w[std::size_t(i) % copies].view(), m, static_cast<const float*>(x.data()), s.k,
                      static_cast<float*>(y.data()), s.n, opt, g.stream);
    });
    const double sec = measure(state, gr);
    state.SetLabel(plan_label(plan));
    set_counters(state, sec, 2.0 * double(m) * double(s.n) * double(s.k),
                 double(s.n) * double(s.k) * 18.0 / 32.0 + double(m) * double(s.k + s.n) * 4, cold, peer_key);
}

// ---- MoE -----------------------------------------------------------------------------------------------

struct moe_shape {
    const char* name;
    std::int64_t experts, top_k, k, f;
};
// The CPU suite's layers (bench/moe.cpp). Qwen3's runs every M with the cuBLAS peers; the two larger
// layers run decode (cold) and M = 512 (hot) without peers (DeepSeek-V3's bf16 experts alone are 22 GB).
constexpr moe_shape qwen3{"qwen3_30b_a3b", 128, 8, 2048, 768};
constexpr moe_shape deepseek_v3{"deepseek_v3", 256, 8, 7168, 2048};
constexpr moe_shape mixtral{"mixtral_8x7b", 8, 2, 4096, 14336};

std::vector<std::int32_t> uniform_ids(std::int64_t m, std::int64_t top_k, std::int64_t e, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int32_t> ids(std::size_t(m * top_k)), perm(static_cast<std::size_t>(e));
    for (std::int64_t t = 0; t < m; ++t) {
        for (std::int64_t i = 0; i < e; ++i) perm[std::size_t(i)] = std::int32_t(i);
        for (std::int64_t s = 0; s < top_k; ++s) {  // partial Fisher-Yates: top_k distinct experts
            std::uniform_int_distribution<std::int64_t> d(s, e - 1);
            std::swap(perm[std::size_t(s)], perm[std::size_t(d(rng))]);
            ids[std::size_t(t * top_k + s)] = perm[std::size_t(s)];
        }
    }
    return ids;
}

struct moe_rings {
    q4_ring gate, up, down;
};
moe_rings& moe_weights(const moe_shape& s) {
    static std::map<std::string, std::unique_ptr<moe_rings>> rings;  // uploaded once per shape and process
    std::unique_ptr<moe_rings>& r = rings[s.name];
    if (!r)
        r = std::make_unique<moe_rings>(moe_rings{make_q4_ring(s.experts, s.f, s.k, 101), make_q4_ring(s.experts, s.f, s.k, 102),
                                                  make_q4_ring(s.experts, s.k, s.f, 103)});
    return *r;
}

enum class moe_kind { up, down, ffn };
const char* name(moe_kind k) { return k == moe_kind::up ? "moe_gemm_up" : k == moe_kind::down ? "moe_gemm_down" : "moe_ffn"; }

void moe_bench(benchmark::State& state, const moe_shape& s, moe_kind kind, std::int64_t m, variant v, bool cold,
               std::string peer_key, std::string dense_equiv_key, std::string grouped_key) {
    gpu_state& g = gpu();
    moe_rings& r = moe_weights(s);
    const auto ids_h = uniform_ids(m, s.top_k, s.experts, std::uint64_t(m));
    const std::set<std::int32_t> active(ids_h.begin(), ids_h.end());
    device_buffer ids(ids_h.size() * 4);
    check(cudaMemcpy(ids.data(), ids_h.data(), ids_h.size() * 4, cudaMemcpyHostToDevice), "upload ids");
    const amxmm::moe_routing routing{m, s.top_k, static_cast<const std::int32_t*>(ids.data()), s.top_k};
    const std::int64_t pairs = m * s.top_k;
    device_buffer x = random_floats(std::size_t(pairs * std::max(s.k, s.f)), 2);
    device_buffer y(std::size_t(pairs * std::max(s.k, s.f)) * 4);
    device_buffer wts = random_floats(std::size_t(pairs), 5);
    cu::moe_ffn_options opt;
    opt.path = v.path;
    opt.mode = v.mode;
    opt.moe_grouping = v.grouping;
    if (!runnable(state, v)) return;
    cu::gemm_plan plan;
    std::size_t copies = 1;
    double flops = 0, bytes = 0;
    const double expert_bytes = double(s.f) * double(s.k) * 18.0 / 32.0 * double(active.size());
    std::function<void(int)> enqueue;
    const float* xp = static_cast<const float*>(x.data());
    float* yp = static_cast<float*>(y.data());
    if (kind == moe_kind::ffn) {
        plan = cu::plan_moe_q4_0(m, s.top_k, s.experts, s.k, opt, g.ctx->features());
        g.ctx->reserve(cu::moe_ffn_workspace_bytes(m, s.top_k, r.gate.w[0].layout(), opt));
        copies = cold ? std::min({r.gate.w.size(), r.up.w.size(), r.down.w.size()}) : 1;
        enqueue = [&](int i) {
            const std::size_t c = std::size_t(i) % copies;
            cu::moe_ffn(*g.ctx, r.gate.w[c].view(), r.up.w[c].view(), r.down.w[c].view(), routing,
                        static_cast<const float*>(wts.data()), s.top_k, xp, s.k, yp, s.k, opt, g.stream);
        };
        flops = 2.0 * double(pairs) * double(s.f) * double(s.k) * 3;
        bytes = 3 * expert_bytes + double(m) * double(s.k) * 8;
    } else {
        const bool up = kind == moe_kind::up;
        q4_ring& ring = up ? r.gate : r.down;
        const std::int64_t k = up ? s.k : s.f, n = up ? s.f : s.k;
        const auto rows = up ? amxmm::moe_input_rows::per_token : amxmm::moe_input_rows::per_slot;
        plan = cu::plan_moe_q4_0(m, s.top_k, s.experts, k, opt, g.ctx->features());
        g.ctx->reserve(cu::moe_gemm_workspace_bytes(m, s.top_k, ring.w[0].layout(), rows, opt));
        copies = cold ? ring.w.size() : 1;
        enqueue = [&, k, n, rows, up](int i) {
            cu::moe_gemm(*g.ctx, ring.w[std::size_t(i) % copies].view(), routing, xp, rows, up ? k : s.top_k * k, k, yp,
                         s.top_k * n, n, opt, g.stream);
        };
        flops = 2.0 * double(pairs) * double(n) * double(k);
        bytes = expert_bytes + double(up ? m : pairs) * double(k) * 4 + double(pairs) * double(n) * 4;
    }
    graph gr(calls_for(cold, copies), enqueue);
    const double sec = measure(state, gr);
    g.ctx->check_routing(g.stream);
    state.SetLabel(plan_label(plan) + "; active experts " + std::to_string(active.size()));
    set_counters(state, sec, flops, bytes, cold, peer_key, dense_equiv_key, grouped_key);
}

// ---- registration --------------------------------------------------------------------------------------

constexpr std::int64_t cold_max_m = 128;

void register_all() {
    const auto reg = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
        benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) {
            try {
                fn(st);
            } catch (const std::exception& e) {
                st.SkipWithError(e.what());
            }
        })->UseManualTime()->MinTime(min_time())->Unit(benchmark::kMicrosecond);
    };
    const std::vector<dense_shape> shapes = {{2048, 4096}, {4096, 4096}, {4096, 14336}, {14336, 4096}};
    const std::vector<std::int64_t> ms = {1, 2, 4, 8, 16, 32, 64, 128, 512, 2048};
    for (const dense_shape& s : shapes)
        for (std::int64_t m : ms)
            for (bool cold : {true, false}) {
                if (cold && m > cold_max_m) continue;
                const std::string temp = cold ? "cold" : "hot";
                const std::string base = "cuda/dense/" + s.name() + "/M" + std::to_string(m) + "/";
                const std::string key = base + temp;
                reg(base + "cublas_bf16/" + temp, [=](benchmark::State& st) {
                    peer_bench(st, key, m, {{s.n, s.k}}, cold, 2.0 * double(m) * double(s.n) * double(s.k));
                });
                for (const variant v : {v_auto, v_gemv, v_gemv_exact, v_mma, v_mma_exact, v_dequant, v_wgmma}) {
                    if (v.path == cu::gemm_path::gemv && m > cu::gemv_max_rows) continue;
                    if ((v.path == cu::gemm_path::dequant_cublas || v.path == cu::gemm_path::wgmma) && m < 16) continue;
                    reg(base + v.name + "/" + temp, [=](benchmark::State& st) { dense_bench(st, s, m, v, cold, key); });
                }
            }
    const moe_shape q = qwen3;
    for (moe_kind kind : {moe_kind::up, moe_kind::down, moe_kind::ffn})
        for (std::int64_t m : {1, 4, 8, 16, 64, 512, 2048})
            for (bool cold : {true, false}) {
                if (cold && m > cold_max_m) continue;
                const std::string temp = cold ? "cold" : "hot";
                const std::string base = std::string("cuda/") + name(kind) + "/qwen3_30b_a3b/M" + std::to_string(m) + "/";
                const std::string key = base + temp;
                const std::int64_t rows = m * q.top_k;
                std::vector<std::pair<std::int64_t, std::int64_t>> nk;
                if (kind == moe_kind::up) nk = {{q.f, q.k}};
                else if (kind == moe_kind::down) nk = {{q.k, q.f}};
                else nk = {{2 * q.f, q.k}, {q.k, q.f}};  // gate and up as one GEMM, then down
                double flops = 0;
                for (auto [n, k] : nk) flops += 2.0 * double(rows) * double(n) * double(k);
                reg(base + "cublas_bf16_dense_equiv/" + temp,
                    [=](benchmark::State& st) { peer_bench(st, key + "/dense_equiv", rows, nk, cold, flops); });
                if (cold || m > cold_max_m) {  // bf16 experts (>= 400 MB) exceed 4 x L2: one run serves hot and cold
                    reg(base + "cublas_bf16_per_expert", [=](benchmark::State& st) {
                        peer_moe_bench(st, base + "per_expert", m, q.top_k, q.experts, nk,
                                       uniform_ids(m, q.top_k, q.experts, std::uint64_t(m)), flops);
                    });
#ifdef AMXMM_BENCH_CUBLAS_GROUPED
                    reg(base + "cublas_bf16_grouped", [=](benchmark::State& st) {
                        peer_moe_grouped_bench(st, base + "grouped", m, q.top_k, q.experts, nk,
                                               uniform_ids(m, q.top_k, q.experts, std::uint64_t(m)), flops);
                    });
#endif
                }
                for (const variant v : {v_auto, v_gemv, v_gemv_exact, v_gemv_by_expert, v_mma, v_mma_exact, v_wgmma}) {
                    if (v.path == cu::gemm_path::gemv && m > 16) continue;
                    if (v.path == cu::gemm_path::wgmma && m < 64) continue;
                    reg(base + v.name + "/" + temp,
                        [=](benchmark::State& st) {
                            moe_bench(st, q, kind, m, v, cold, base + "per_expert", key + "/dense_equiv", base + "grouped");
                        });
                }
            }
    for (const moe_shape& s : {deepseek_v3, mixtral})
        for (moe_kind kind : {moe_kind::up, moe_kind::down, moe_kind::ffn})
            for (std::int64_t m : {1, 4, 8, 16, 512}) {
                const bool cold = m <= 16;
                const std::string base = std::string("cuda/") + name(kind) + "/" + s.name + "/M" + std::to_string(m) + "/";
                for (const variant v : {v_auto, v_gemv_exact, v_gemv_by_expert, v_mma, v_mma_exact, v_wgmma}) {
                    if (v.path == cu::gemm_path::wgmma && m < 64) continue;
                    if (v.path == cu::gemm_path::gemv && m > 16) continue;
                    reg(base + v.name + "/" + (cold ? "cold" : "hot"),
                        [=](benchmark::State& st) { moe_bench(st, s, kind, m, v, cold, "", "", ""); });
                }
            }
}

}  // namespace cb

int main(int argc, char** argv) {
    bool listing = false;  // (before Initialize, which consumes the flags)
    for (int i = 1; i < argc; ++i)
        listing = listing || (std::strncmp(argv[i], "--benchmark_list_tests", 22) == 0 &&
                              std::strcmp(argv[i], "--benchmark_list_tests=false") != 0);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    cb::register_all();
    if (!listing) {
        int devices = 0;
        const cudaError_t e = cudaGetDeviceCount(&devices);
        if (e != cudaSuccess || devices == 0) {
            std::fprintf(stderr, "amxmm_bench_cuda: no usable CUDA device (%s); nothing to measure\n",
                         e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
            return 0;
        }
        try {
            cb::init_gpu();
        } catch (const std::exception& ex) {
            std::fprintf(stderr, "amxmm_bench_cuda: %s\n", ex.what());
            return 1;
        }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (!listing) {  // release library handles before the CUDA runtime unloads at exit
        cb::gpu().ctx.reset();
        if (cb::gpu().cublas) cublasDestroy(cb::gpu().cublas);
        cb::gpu().cublas = nullptr;
    }
    return 0;
}
