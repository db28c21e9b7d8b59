// Probe (after the two-kernel moe_ffn): where moe_ffn's M = 1 exact decode time goes (Qwen3-30B-A3B experts, H100), cumulative prefixes of
// its kernel chain and each kernel alone, ids rotating over 12 sets (cold experts).
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>
#include <map>
#include <algorithm>
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
    auto routing = [&](int i) { return moe_routing{M, TK, ids + (i % sets) * pairs, TK}; };
    const auto upv = up.view();
    auto gu = [&](int i) { cd::launch_moe_rows_exact(gate.view(), &upv, 0, x, K, 0, routing(i), E, nullptr, 0, 0, hq, ctx.error_flag(), s, fn); };
    auto dn = [&](int i) { cd::launch_moe_down_slot_sum(down.view(), hq, routing(i), E, w, TK, y, K, ctx.error_flag(), s, fn); };
    auto dn_plain = [&](int i) {
        const auto r = routing(i);
        cd::gemv_row_params p = cd::dense_row_params(down.view(), 1, hq, y, 0);
        p.xq_rows = r.m * r.top_k; p.xq_token = r.top_k; p.ldy_token = K; p.ids = r.ids; p.ld_ids = r.ld_ids;
        p.experts = E; p.top_k = int(r.top_k); p.error_flag = ctx.error_flag(); p.weights = w; p.ld_weights = TK;
        const std::size_t staged = cd::moe_down_staged_bytes(r.top_k, F);
        p.stage_h = true;
        const dim3 grid(unsigned((p.n + 7) / 8), unsigned(r.m)), block(256);
        cd::moe_down_slot_sum_kernel<8><<<grid, block, staged, s>>>(p);
    };
    const unsigned gub = unsigned(F / 32 * pairs), dnb = unsigned(K / 8 * M);
    std::vector<unsigned long long> tg(4096 * 6), td(4096 * 3), z(4096 * 3, 0);
    auto stat = [](std::vector<double> v, const char* what) {
        std::sort(v.begin(), v.end());
        std::printf("  %-14s min %6.2f p10 %6.2f med %6.2f p90 %6.2f max %6.2f\n", what, v.front(), v[v.size() / 10], v[v.size() / 2], v[v.size() * 9 / 10], v.back());
    };
    for (int mode = 0; mode < 2; ++mode)
    for (int it = 0; it < 6; ++it) {
        // captured in a graph and replayed, as amxmm_bench_cuda runs calls: no host launch gap between the kernels
        cudaGraph_t gr; cudaGraphExec_t ex;
        cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
        gu(it * 5 + 1); if (mode == 0) dn(it * 5 + 1); else dn_plain(it * 5 + 1);
        cudaStreamEndCapture(s, &gr); cudaGraphInstantiate(&ex, gr, 0); cudaGraphUpload(ex, s);
        cudaGraphLaunch(ex, s); cudaStreamSynchronize(s);
        cudaMemcpyToSymbol(cd::g_tl_gu, z.data(), 4096 * 6 * 8); cudaMemcpyToSymbol(cd::g_tl_dn, z.data(), 4096 * 3 * 8);
        cudaDeviceSynchronize();
        cudaGraphLaunch(ex, s); cudaStreamSynchronize(s);
        cudaGraphExecDestroy(ex); cudaGraphDestroy(gr);
        cudaMemcpyFromSymbol(tg.data(), cd::g_tl_gu, 4096 * 6 * 8); cudaMemcpyFromSymbol(td.data(), cd::g_tl_dn, 4096 * 3 * 8);
        unsigned long long t0 = ~0ull, gend = 0;
        for (unsigned b = 0; b < gub; ++b) { t0 = std::min(t0, tg[b * 6]); gend = std::max(gend, tg[b * 6 + 1]); }
        std::vector<double> gs, ge, ds, dw, de, gx, gr2, gc; int early = 0; std::map<int,int> per_sm;
        for (unsigned b = 0; b < gub; ++b) { gs.push_back((tg[b * 6] - t0) * 1e-3); ge.push_back((tg[b * 6 + 1] - t0) * 1e-3); gx.push_back((tg[b*6+2]-double(t0))*1e-3); gr2.push_back((tg[b*6+3]-double(t0))*1e-3); gc.push_back((tg[b*6+4]-double(t0))*1e-3); per_sm[int(tg[b*6+5])]++; }
        std::map<int,int> hist; for (auto& kv : per_sm) hist[kv.second]++;
        std::printf("  gate/up CTAs per SM: %zu SMs used;", per_sm.size()); for (auto& kv : hist) std::printf(" %d SMs with %d;", kv.second, kv.first); std::printf("\n");
        for (unsigned b = 0; b < dnb; ++b) { ds.push_back((double(td[b * 3]) - t0) * 1e-3); dw.push_back((double(td[b * 3 + 1]) - t0) * 1e-3); de.push_back((double(td[b * 3 + 2]) - t0) * 1e-3); early += td[b * 3] < gend; }
        std::printf("M%d %s iter %d: gate/up %u CTAs, down %u CTAs, %d down CTAs started before the last gate/up end\n", M, mode ? "plain" : "pdl", it, gub, dnb, early);
        stat(gs, "gu start"); stat(gx, "gu x ready"); stat(gr2, "gu round2"); stat(gc, "gu sums done"); stat(ge, "gu end"); stat(ds, "dn start"); stat(dw, "dn past wait"); stat(de, "dn end");
    }
}
