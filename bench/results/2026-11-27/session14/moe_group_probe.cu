// Probe (session 13; session 14 adds the exact mma): exact MoE decode per (token, slot) pair vs grouped by expert, and the automatic / fast
// (tensor-core) paths, on one MoE shape; ids rotating over 12 sets (cold experts). Args: E top_k K F M...
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
    for (int r = 0; r < 9; ++r) {
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
    const long E = std::atol(argv[1]), TK = std::atol(argv[2]), K = std::atol(argv[3]), F = std::atol(argv[4]);
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(1 << 26);
    auto gate = make(E, F, K, 1, s), up = make(E, F, K, 2, s), down = make(E, K, F, 3, s);
    const double eb = double(F) * K * 18 / 32;  // one expert's one matrix
    for (int a = 5; a < argc; ++a) {
        const long M = std::atol(argv[a]), pairs = M * TK;
        const int sets = 12;
        std::mt19937_64 rng(7);
        std::vector<std::int32_t> ids_h(std::size_t(sets * pairs));
        double distinct = 0;
        for (int c = 0; c < sets; ++c) {
            std::vector<char> used(E, 0);
            for (long t = 0; t < M; ++t) {
                std::vector<int> perm(E); for (int i = 0; i < E; ++i) perm[i] = i;
                std::shuffle(perm.begin(), perm.end(), rng);
                for (long j = 0; j < TK; ++j) { ids_h[std::size_t(c * pairs + t * TK + j)] = perm[j]; used[perm[j]] = 1; }
            }
            for (char u : used) distinct += u;
        }
        distinct /= sets;
        std::int32_t* ids; cudaMalloc(&ids, ids_h.size() * 4); cudaMemcpy(ids, ids_h.data(), ids_h.size() * 4, cudaMemcpyHostToDevice);
        std::vector<float> xh(std::size_t(pairs) * std::max(K, F)), wh(static_cast<std::size_t>(pairs));
        for (auto& v : xh) v = float(int(rng() % 2001) - 1000) / 1000.0f;
        for (auto& v : wh) v = float(rng() % 1000) / 1000.0f;
        float *x, *y, *w;
        cudaMalloc(&x, xh.size() * 4); cudaMalloc(&y, std::size_t(pairs) * std::max(K, F) * 4); cudaMalloc(&w, wh.size() * 4);
        cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice); cudaMemcpy(w, wh.data(), wh.size() * 4, cudaMemcpyHostToDevice);
        auto routing = [&](int i) { return moe_routing{M, TK, ids + (i % sets) * pairs, TK}; };
        const int calls = sets * 4;
        auto pr = [&](const char* what, double t, double bytes, const std::string& why) {
            std::printf("E%ld top%ld K%ld F%ld M%-3ld %-26s %9.2f us %6.0f GB/s (%.1f MB read once) %s\n", E, TK, K, F, M, what, t,
                        bytes / t / 1e3, bytes / 1e6, why.c_str()); };
        struct variant { const char* name; compute_mode mode; cuda::moe_gemv_grouping g; cuda::gemm_path path; };
        for (const variant v : {variant{"exact per_pair", compute_mode::exact, cuda::moe_gemv_grouping::per_pair, cuda::gemm_path::automatic},
                                variant{"exact by_expert", compute_mode::exact, cuda::moe_gemv_grouping::by_expert, cuda::gemm_path::automatic},
                                variant{"automatic", compute_mode::automatic, cuda::moe_gemv_grouping::automatic, cuda::gemm_path::automatic},
                                variant{"fast grouped mma", compute_mode::fast, cuda::moe_gemv_grouping::automatic, cuda::gemm_path::mma},
                                variant{"exact mma", compute_mode::exact, cuda::moe_gemv_grouping::automatic, cuda::gemm_path::mma}}) {
            if (pairs > 512 && v.mode == compute_mode::exact && v.g == cuda::moe_gemv_grouping::per_pair) continue;
            if (const char* only = std::getenv("PROBE_ONLY"); only && std::string(v.name).find(only) == std::string::npos) continue;
            cuda::moe_ffn_options opt; opt.mode = v.mode; opt.moe_grouping = v.g; opt.path = v.path;
            cuda::gemm_options gopt; gopt.mode = v.mode; gopt.moe_grouping = v.g; gopt.path = v.path;
            ctx.reserve(cuda::moe_ffn_workspace_bytes(M, TK, gate.layout(), opt));
            ctx.reserve(cuda::moe_gemm_workspace_bytes(M, TK, gate.layout(), moe_input_rows::per_token, gopt));
            ctx.reserve(cuda::moe_gemm_workspace_bytes(M, TK, down.layout(), moe_input_rows::per_slot, gopt));
            const auto plan = cuda::plan_moe_q4_0(M, TK, E, std::max(K, F), opt, ctx.features());
            std::string name = std::string("moe_ffn ") + v.name;
            pr(name.c_str(), graph_time(s, calls, [&](int i) { cuda::moe_ffn(ctx, gate.view(), up.view(), down.view(), routing(i), w, TK, x, K, y, K, opt, s); }),
               3 * eb * distinct, v.mode == compute_mode::exact ? "" : plan.reason);
            if (v.mode != compute_mode::exact) continue;
            name = std::string("gemm up ") + v.name;
            pr(name.c_str(), graph_time(s, calls, [&](int i) { cuda::moe_gemm(ctx, gate.view(), routing(i), x, moe_input_rows::per_token, K, 0, y, TK * F, F, gopt, s); }), eb * distinct, "");
            name = std::string("gemm down/slot ") + v.name;
            pr(name.c_str(), graph_time(s, calls, [&](int i) { cuda::moe_gemm(ctx, down.view(), routing(i), x, moe_input_rows::per_slot, TK * F, F, y, TK * K, K, gopt, s); }), eb * distinct, "");
        }
        if (!std::getenv("PROBE_ONLY")) {   // the by_expert moe_gemm (per-token up) in parts: the quantizing pass, + the sort, the whole call
            namespace cd = cuda::detail;
            constexpr const char* fn = "probe";
            cuda::gemm_options gopt; gopt.mode = compute_mode::exact; gopt.moe_grouping = cuda::moe_gemv_grouping::by_expert;
            const auto plan = cuda::plan_moe_q4_0(M, TK, E, K, gopt, ctx.features());
            const std::size_t wsb = cuda::moe_gemm_workspace_bytes(M, TK, gate.layout(), moe_input_rows::per_token, gopt);
            void* ws; cudaMalloc(&ws, wsb);
            cd::ws_carver carve{static_cast<std::byte*>(ws)};
            auto* xq = carve.take<uint4>((cd::gemv_act_smem_bytes(int(M), K, true) + 15) / 16);
            const cd::moe_grouping g = cd::carve_grouping(carve, pairs, E, plan.tile_rows);
            const double tq = graph_time(s, calls, [&](int) { cd::quantize_rows_q8(x, K, M, K / 32, xq, s, fn); });
            const double tqs = graph_time(s, calls, [&](int i) {
                cd::quantize_rows_q8(x, K, M, K / 32, xq, s, fn);
                cd::launch_sort(routing(i), E, plan.tile_rows, g, ctx.error_flag(), y, F, TK * F, F, s, fn, true); });
            const double ts = graph_time(s, calls, [&](int i) {
                cd::launch_sort(routing(i), E, plan.tile_rows, g, ctx.error_flag(), y, F, TK * F, F, s, fn, false); });
            std::printf("E%ld top%ld K%ld F%ld M%-3ld parts of gemm up by_expert: quantize %.2f us, quantize + sort %.2f us, sort alone %.2f us\n",
                        E, TK, K, F, M, tq, tqs, ts);
            cudaFree(ws);
        }
        cudaFree(ids); cudaFree(x); cudaFree(y); cudaFree(w);
    }
}
