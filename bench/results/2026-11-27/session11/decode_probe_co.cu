// Probe (after the two-kernel moe_ffn): where moe_ffn's M = 1 exact decode time goes (Qwen3-30B-A3B experts, H100), cumulative prefixes of
// its kernel chain and each kernel alone, ids rotating over 12 sets (cold experts).
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>
using namespace amxmm;
namespace cd = amxmm::cuda::detail;
static double graph_time(cudaStream_t s, int calls, const std::function<void(int)>& enq) {
    enq(0); cudaStreamSynchronize(s);
    cudaGraph_t g; cudaGraphExec_t ex;
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    for (int i = 0; i < calls; ++i) enq(i);
    cudaStreamEndCapture(s, &g); cudaGraphInstantiate(&ex, g, 0);
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    double best = 1e9;
    for (int r = 0; r < 15; ++r) {
        cudaEventRecord(a, s); cudaGraphLaunch(ex, s); cudaEventRecord(b, s); cudaEventSynchronize(b);
        float ms; cudaEventElapsedTime(&ms, a, b); best = std::min(best, ms * 1e-3 / calls);
    }
    cudaGraphExecDestroy(ex); cudaGraphDestroy(g);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) std::printf("CUDA error %s\n", cudaGetErrorString(e));
    return best * 1e6;
}
static cuda::q4_0_weight make(long e, long n, long k, unsigned seed, cudaStream_t s) {
    std::vector<block_q4_0> q(std::size_t(e * n * k / 32));
    std::mt19937_64 rng(seed);
    for (auto& b : q) { b.d = fp32_to_fp16(0.005f * float(1 + rng() % 7)); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
    return cuda::q4_0_weight::upload_experts(q4_0_matrix_view{q.data(), e * n, k}, e, s);
}
int main(int argc, char** argv) {
    const int M = argc > 1 ? std::atoi(argv[1]) : 1;
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(1 << 26);
    const int carve = argc > 2 ? std::atoi(argv[2]) : -1;
    if (carve >= 0) {
        auto set = [&](const void* k) { cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, carve); if (e) std::printf("carveout: %s\n", cudaGetErrorString(e)); };
        set((const void*)cd::moe_rows_exact_kernel<true>); set((const void*)cd::moe_rows_exact_kernel<false>);
        set((const void*)cd::moe_down_slot_sum_kernel<1>); set((const void*)cd::moe_down_slot_sum_kernel<2>);
        set((const void*)cd::moe_down_slot_sum_kernel<4>); set((const void*)cd::moe_down_slot_sum_kernel<8>);
        std::printf("carveout %d set\n", carve);
    }
    const char* fn = "probe";
    const long E = 128, TK = 8, K = 2048, F = 768, pairs = M * TK;
    auto gate = make(E, F, K, 1, s), up = make(E, F, K, 2, s), down = make(E, K, F, 3, s);
    const int sets = 12;
    std::mt19937_64 rng(7);
    std::vector<std::int32_t> ids_h(std::size_t(sets * pairs));
    for (int c = 0; c < sets; ++c)
        for (long t = 0; t < M; ++t) {
            std::vector<int> perm(E); for (int i = 0; i < E; ++i) perm[i] = i;
            std::shuffle(perm.begin(), perm.end(), rng);
            for (long j = 0; j < TK; ++j) ids_h[std::size_t(c * pairs + t * TK + j)] = perm[j];
        }
    std::int32_t* ids; cudaMalloc(&ids, ids_h.size() * 4); cudaMemcpy(ids, ids_h.data(), ids_h.size() * 4, cudaMemcpyHostToDevice);
    std::vector<float> xh(std::size_t(M) * K), wh(static_cast<std::size_t>(pairs));
    for (auto& v : xh) v = float(int(rng() % 2001) - 1000) / 1000.0f;
    for (auto& v : wh) v = float(rng() % 1000) / 1000.0f;
    float *x, *y, *w, *hv, *ov; uint4 *xq, *hq;
    cudaMalloc(&x, xh.size() * 4); cudaMalloc(&y, M * K * 4); cudaMalloc(&w, wh.size() * 4);
    cudaMalloc(&hv, pairs * F * 4); cudaMalloc(&ov, pairs * K * 4);
    cudaMalloc(&xq, cd::gemv_act_smem_bytes(M, K, true) + 16); cudaMalloc(&hq, cd::gemv_act_smem_bytes(int(pairs), F, true) + 16);
    cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice); cudaMemcpy(w, wh.data(), wh.size() * 4, cudaMemcpyHostToDevice);
    const gemm_options dummy{};
    (void)dummy;
    cuda::moe_ffn_options opt; opt.mode = compute_mode::exact;
    auto routing = [&](int i) { return moe_routing{M, TK, ids + (i % sets) * pairs, TK}; };
    const auto upv = up.view();
    auto gu = [&](int i) { cd::launch_moe_rows_exact(gate.view(), &upv, 0, x, K, 0, routing(i), E, nullptr, 0, 0, hq, ctx.error_flag(), s, fn); };
    auto dn = [&](int i) { cd::launch_moe_down_slot_sum(down.view(), hq, routing(i), E, w, TK, y, K, ctx.error_flag(), s, fn); };
    const double bytes = 3.0 * F * K * 18 / 32 * TK * M;  // upper bound (distinct experts per token)
    auto pr = [&](const char* what, double t) { std::printf("M%d %-48s %7.2f us\n", M, what, t); };
    const int calls = sets * 4;
    ctx.reserve(cuda::moe_ffn_workspace_bytes(M, TK, gate.layout(), opt));
    pr("library moe_ffn", graph_time(s, calls, [&](int i) { cuda::moe_ffn(ctx, gate.view(), up.view(), down.view(), routing(i), w, TK, x, K, y, K, opt, s); }));
    pr("gate_up + down", graph_time(s, calls, [&](int i) { gu(i); dn(i); }));
    pr("gate_up alone", graph_time(s, calls, [&](int i) { gu(i); }));
    pr("down alone", graph_time(s, calls, [&](int i) { dn(i); }));
    std::printf("M%d expert bytes per call (<=) %.1f MB\n", M, bytes / 1e6);
}
