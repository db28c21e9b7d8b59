// Per-warp timeline of the dense exact M = 1 gemv (quantizing pass + q4_0_gemv_row_exact_kernel<1>), cold
// weights (a ring of 8 copies), built against a copy of the headers with %globaltimer stamps (.probe/s11/TD).
// args: K N
#include <amxmm/cuda.cuh>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <vector>
using namespace amxmm;
namespace cd = amxmm::cuda::detail;
int main(int argc, char** argv) {
    const long K = argc > 1 ? std::atol(argv[1]) : 4096, N = argc > 2 ? std::atol(argv[2]) : 14336;
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(1 << 24);
    std::mt19937_64 rng(5);
    std::vector<block_q4_0> q(std::size_t(N * K / 32));
    for (auto& b : q) { b.d = fp32_to_fp16(0.005f * float(1 + rng() % 7)); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
    std::vector<cuda::q4_0_weight> ring;
    for (int c = 0; c < 8; ++c) ring.push_back(cuda::q4_0_weight::upload(q4_0_matrix_view{q.data(), N, K}, s));
    std::vector<float> xh(static_cast<std::size_t>(K));
    for (auto& v : xh) v = float(int(rng() % 2001) - 1000) / 1000.0f;
    float *x, *y; cudaMalloc(&x, K * 4); cudaMalloc(&y, N * 4);
    cudaMemcpy(x, xh.data(), K * 4, cudaMemcpyHostToDevice);
    cuda::gemm_options opt; opt.mode = compute_mode::exact;
    std::vector<unsigned long long> tq(4096 * 2), tr(32768 * 4), z(32768 * 4, 0);
    auto stat = [](std::vector<double> v, const char* what) {
        std::sort(v.begin(), v.end());
        std::printf("  %-16s min %6.2f p10 %6.2f med %6.2f p90 %6.2f p99 %6.2f max %6.2f\n", what, v.front(), v[v.size() / 10], v[v.size() / 2], v[v.size() * 9 / 10], v[v.size() * 99 / 100], v.back());
    };
    for (int it = 0; it < 12; ++it) {
        const bool graph = argc > 3 && std::atoi(argv[3]) == 1;  // replay a captured graph: no host launch gap
        cudaGraph_t gr; cudaGraphExec_t ex;
        if (graph) {
            cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
            cuda::gemm_q4_0(ctx, ring[it % 8].view(), 1, x, K, y, N, opt, s);
            cudaStreamEndCapture(s, &gr); cudaGraphInstantiate(&ex, gr, 0); cudaGraphUpload(ex, s);
            cudaGraphLaunch(ex, s); cudaStreamSynchronize(s);
        }
        cudaMemcpyToSymbol(cd::g_tq, z.data(), 4096 * 2 * 8); cudaMemcpyToSymbol(cd::g_tr, z.data(), 32768 * 4 * 8);
        cudaDeviceSynchronize();
        if (graph) { cudaGraphLaunch(ex, s); cudaStreamSynchronize(s); cudaGraphExecDestroy(ex); cudaGraphDestroy(gr); }
        else { cuda::gemm_q4_0(ctx, ring[it % 8].view(), 1, x, K, y, N, opt, s); cudaStreamSynchronize(s); }
        cudaMemcpyFromSymbol(tq.data(), cd::g_tq, 4096 * 2 * 8); cudaMemcpyFromSymbol(tr.data(), cd::g_tr, 32768 * 4 * 8);
        unsigned long long t0 = ~0ull;
        int qctas = 0;
        for (int b = 0; b < 4096; ++b) if (tq[b * 2]) { t0 = std::min(t0, tq[b * 2]); ++qctas; }
        for (long r = 0; r < N; ++r) t0 = std::min(t0, tr[r * 4]);
        std::vector<double> qs, qe, rs, rw, re;
        for (int b = 0; b < 4096; ++b) if (tq[b * 2]) { qs.push_back((tq[b * 2] - double(t0)) * 1e-3); qe.push_back((tq[b * 2 + 1] - double(t0)) * 1e-3); }
        std::map<int, int> per_bucket;
        for (long r = 0; r < N; ++r) { rs.push_back((tr[r * 4] - double(t0)) * 1e-3); rw.push_back((tr[r * 4 + 1] - double(t0)) * 1e-3); re.push_back((tr[r * 4 + 2] - double(t0)) * 1e-3); per_bucket[int(rs.back())]++; }
        if (it < 8) continue;  // the first rounds warm up
        std::printf("%s K%ld N%ld iter %d: quantizing pass %d CTAs; row warps %ld; warps starting per us:", graph ? "graph" : "stream", K, N, it, qctas, N);
        for (auto& kv : per_bucket) std::printf(" [%d] %d", kv.first, kv.second);
        std::printf("\n");
        if (qctas) { stat(qs, "quant start"); stat(qe, "quant end"); }
        stat(rs, "row start"); stat(rw, "row past wait"); stat(re, "row end");
    }
}
