// Probe: dense M = 1 exact through moe_rows_exact_kernel (x quantized per CTA, 32 rows per CTA, one launch)
// against gemm_q4_0 exact (quantizing pass + row gemv), cold ring of 8 copies.
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
int main() {
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(1 << 24);
    const char* fn = "probe";
    std::int32_t* id0; cudaMalloc(&id0, 4); cudaMemset(id0, 0, 4);
    for (auto [K, N] : std::vector<std::pair<long, long>>{{4096, 14336}, {14336, 4096}, {2048, 4096}, {4096, 4096}}) {
        std::vector<block_q4_0> q(std::size_t(N * K / 32));
        std::mt19937_64 rng(1);
        for (auto& b : q) { b.d = fp32_to_fp16(0.005f * float(1 + rng() % 7)); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
        const int copies = 8;
        std::vector<cuda::q4_0_weight> ws;
        for (int c = 0; c < copies; ++c) ws.push_back(cuda::q4_0_weight::upload(q4_0_matrix_view{q.data(), N, K}, s));
        const double bytes = double(N) * K * 18 / 32;
        float *x, *y, *y2;
        cudaMalloc(&x, K * 4); cudaMalloc(&y, N * 4); cudaMalloc(&y2, N * 4);
        std::vector<float> xh(K); for (auto& e : xh) e = float(int(rng() % 2001) - 1000) / 1000.0f;
        cudaMemcpy(x, xh.data(), K * 4, cudaMemcpyHostToDevice);
        cuda::gemm_options op; op.mode = compute_mode::exact;
        ctx.reserve(cuda::gemm_workspace_bytes(1, ws[0].layout(), op));
        const moe_routing r{1, 1, id0, 1};
        auto pr = [&](const char* what, double t) { std::printf("K%ld N%ld %-44s %7.2f us  %5.0f GB/s\n", K, N, what, t, bytes / t / 1e3); };
        for (int rep = 0; rep < 2; ++rep) {
            pr("gemm_q4_0 exact (pass + row gemv)", graph_time(s, copies * 4, [&](int i) { cuda::gemm_q4_0(ctx, ws[i % copies].view(), 1, x, K, y, N, op, s); }));
            pr("moe_rows_exact_kernel, one expert", graph_time(s, copies * 4, [&](int i) {
                cd::launch_moe_rows_exact(ws[i % copies].view(), nullptr, 0, x, K, 0, r, 1, y2, 0, 0, nullptr, ctx.error_flag(), s, fn); }));
        }
        cudaStreamSynchronize(s);
        std::vector<float> a(N), b(N);
        cudaMemcpy(a.data(), y, N * 4, cudaMemcpyDeviceToHost); cudaMemcpy(b.data(), y2, N * 4, cudaMemcpyDeviceToHost);
        std::printf("K%ld N%ld bits %s\n", K, N, std::memcmp(a.data(), b.data(), N * 4) ? "DIFFER" : "equal");
        cudaFree(x); cudaFree(y); cudaFree(y2);
    }
}
