// Probe: moe_ffn and moe_gemm (per-token up, per-slot down) exact decode on a given MoE shape, library calls
// only (compiles against any tree), ids rotating over 12 sets (cold experts). Args: M E top_k K F.
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>
using namespace amxmm;
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
    for (auto& b : q) { b.d = fp32_to_fp16(0.005f * float(1 + rng() % 7)); const std::uint64_t v = rng(); std::memcpy(b.qs, &v, 8); std::memcpy(b.qs + 8, &v, 8); }
    return cuda::q4_0_weight::upload_experts(q4_0_matrix_view{q.data(), e * n, k}, e, s);
}
int main(int argc, char** argv) {
    if (argc < 6) return 1;
    const long M = std::atol(argv[1]), E = std::atol(argv[2]), TK = std::atol(argv[3]), K = std::atol(argv[4]), F = std::atol(argv[5]);
    const long pairs = M * TK;
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(1 << 26);
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
    std::vector<float> xh(std::size_t(pairs) * std::max(K, F)), wh(static_cast<std::size_t>(pairs));
    for (auto& v : xh) v = float(int(rng() % 2001) - 1000) / 1000.0f;
    for (auto& v : wh) v = float(rng() % 1000) / 1000.0f;
    float *x, *y, *w;
    cudaMalloc(&x, xh.size() * 4); cudaMalloc(&y, std::size_t(pairs) * std::max(K, F) * 4); cudaMalloc(&w, wh.size() * 4);
    cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice); cudaMemcpy(w, wh.data(), wh.size() * 4, cudaMemcpyHostToDevice);
    cuda::moe_ffn_options opt; opt.mode = compute_mode::exact;
    cuda::gemm_options gopt; gopt.mode = compute_mode::exact;
    auto routing = [&](int i) { return moe_routing{M, TK, ids + (i % sets) * pairs, TK}; };
    const int calls = sets * 4;
    ctx.reserve(cuda::moe_ffn_workspace_bytes(M, TK, gate.layout(), opt));
    ctx.reserve(cuda::moe_gemm_workspace_bytes(M, TK, gate.layout(), moe_input_rows::per_token, gopt));
    ctx.reserve(cuda::moe_gemm_workspace_bytes(M, TK, down.layout(), moe_input_rows::per_slot, gopt));
    const double eb = double(F) * K * 18 / 32;  // one expert's one matrix
    auto pr = [&](const char* what, double t, double bytes) {
        std::printf("E%ld top%ld K%ld F%ld M%ld %-22s %8.2f us %6.0f GB/s (<= %.1f MB)\n", E, TK, K, F, M, what, t, bytes / t / 1e3, bytes / 1e6); };
    pr("moe_ffn", graph_time(s, calls, [&](int i) { cuda::moe_ffn(ctx, gate.view(), up.view(), down.view(), routing(i), w, TK, x, K, y, K, opt, s); }), 3 * eb * pairs);
    pr("moe_gemm up per_token", graph_time(s, calls, [&](int i) { cuda::moe_gemm(ctx, gate.view(), routing(i), x, moe_input_rows::per_token, K, 0, y, TK * F, F, gopt, s); }), eb * pairs);
    pr("moe_gemm down per_slot", graph_time(s, calls, [&](int i) { cuda::moe_gemm(ctx, down.view(), routing(i), x, moe_input_rows::per_slot, TK * F, F, y, TK * K, K, gopt, s); }), eb * pairs);
}
