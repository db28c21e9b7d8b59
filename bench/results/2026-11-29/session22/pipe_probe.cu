// Probe (session 22): dense M >= 512 on the dequant + cuBLAS path, N cut into chunks whose dequantization and
// cuBLAS calls are pipelined over streams: the conversions run back to back on the call's stream, each chunk's
// cuBLAS call on a side stream as soon as its rows are ready, so chunk i's product overlaps chunk i+1's
// dequantization. Graph replays, hot, µs (best of 7 replays).
#include <amxmm/cuda.cuh>
#include <cmath>
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
    for (int r = 0; r < 7; ++r) {
        cudaEventRecord(a, s); cudaGraphLaunch(ex, s); cudaEventRecord(b, s); cudaEventSynchronize(b);
        float ms; cudaEventElapsedTime(&ms, a, b); best = std::min(best, ms * 1e-3 / calls);
    }
    cudaGraphExecDestroy(ex); cudaGraphDestroy(g);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) std::printf("CUDA error %s\n", cudaGetErrorString(e));
    return best * 1e6;
}
static cuda::q4_0_device_view rows_of(cuda::q4_0_device_view v, long n0, long nc) {
    v.layout.n = nc;
    v.qs += std::size_t(n0 * v.layout.row_blocks()) * 16;
    v.d += std::size_t(n0 * v.layout.row_blocks());
    return v;
}
int main(int argc, char** argv) {
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    constexpr int max_chunks = 16;
    cudaStream_t side[max_chunks];
    cudaEvent_t ready[max_chunks], done[max_chunks];
    for (int i = 0; i < max_chunks; ++i) {
        cudaStreamCreateWithFlags(&side[i], cudaStreamNonBlocking);
        cudaEventCreateWithFlags(&ready[i], cudaEventDisableTiming);
        cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming);
    }
    cuda::context ctx(std::size_t(1) << 30);
    cublasHandle_t h; cublasCreate(&h);
    const std::size_t ws_bytes = std::size_t(32) << 20;
    char* cws; cudaMalloc(&cws, ws_bytes);
    const long shapes[][2] = {{2048, 4096}, {4096, 4096}, {4096, 14336}, {14336, 4096}};
    std::mt19937_64 rng(3);
    for (auto& sh : shapes) {
        const long K = sh[0], N = sh[1];
        std::vector<block_q4_0> q(std::size_t(N * K / 32));
        for (auto& b : q) { b.d = fp32_to_fp16(0.005f * float(1 + rng() % 7)); for (auto& c : b.qs) c = std::uint8_t(rng()); }
        auto w = cuda::q4_0_weight::upload(q4_0_matrix_view{q.data(), N, K}, s);
        const cuda::q4_0_device_view wv = w.view();
        __nv_bfloat16 *wb, *xb; float *x, *y, *y2;
        cudaMalloc(&wb, std::size_t(N * K) * 2);
        cudaMalloc(&xb, std::size_t(2048 * K) * 2);
        cudaMalloc(&x, std::size_t(2048 * K) * 4);
        cudaMalloc(&y, std::size_t(2048 * N) * 4);
        cudaMalloc(&y2, std::size_t(2048 * N) * 4);
        std::vector<float> xh(std::size_t(2048 * K));
        for (auto& v : xh) v = float(int(rng() % 2001) - 1000) / 1000.0f;
        cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice);
        const float one = 1.0f, zero = 0.0f;
        auto gemm = [&](cudaStream_t st, char* ws, std::size_t wsb, long m, long n0, long nc, float* out) {
            cublasSetStream(h, st);
            cublasSetWorkspace(h, ws, wsb);
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(nc), int(m), int(K), &one, wb + n0 * K, CUDA_R_16BF, int(K), xb,
                         CUDA_R_16BF, int(K), &zero, out + n0, CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        };
        // chunks: c pieces of N, each a multiple of 128 rows (the last takes the rest)
        auto pipelined = [&](long m, int c, float* out, bool side_dequant) {
            const long step = ((N + c - 1) / c + 127) / 128 * 128;
            int i = 0;
            cudaStream_t dq = s;
            if (side_dequant) {  // dequantization on side[max_chunks-1]; the chunks' products start from s
                cudaEventRecord(done[max_chunks - 1], s);
                cudaStreamWaitEvent(side[max_chunks - 1], done[max_chunks - 1], 0);
                dq = side[max_chunks - 1];
            }
            for (long n0 = 0; n0 < N; n0 += step, ++i) {
                const long nc = std::min(step, N - n0);
                if (i == 0) cuda::detail::convert_and_dequant_bf16(x, K, m, rows_of(wv, 0, nc), xb, wb, dq, "p");
                else cuda::detail::convert_and_dequant_bf16(x, K, 0, rows_of(wv, n0, nc), xb, wb + n0 * K, dq, "p");
                cudaEventRecord(ready[i], dq);
                cudaStreamWaitEvent(side[i], ready[i], 0);
                gemm(side[i], cws + i * (ws_bytes / max_chunks), ws_bytes / max_chunks, m, n0, nc, out);
                cudaEventRecord(done[i], side[i]);
            }
            for (int j = 0; j < i; ++j) cudaStreamWaitEvent(s, done[j], 0);
            if (side_dequant) { cudaEventRecord(ready[max_chunks - 1], dq); cudaStreamWaitEvent(s, ready[max_chunks - 1], 0); }
        };
        for (long m : {512L, 2048L}) {
            const int calls = m == 512 ? 20 : 8;
            std::printf("K%ld N%ld M%ld\n", K, N, m);
            const double t_lib = graph_time(s, calls, [&](int) { cuda::gemm_q4_0(ctx, wv, m, x, K, y, N, s); });
            cuda::detail::convert_and_dequant_bf16(x, K, m, wv, xb, wb, s, "p");
            const double t_cub = graph_time(s, calls, [&](int) { gemm(s, cws, ws_bytes, m, 0, N, y2); });
            std::printf("  cublas %.1f  lib %.1f (%.0f%%)\n", t_cub, t_lib, 100 * t_cub / t_lib);
            std::vector<float> a(std::size_t(m * N)), b(a.size());
            cuda::gemm_q4_0(ctx, wv, m, x, K, y, N, s);
            cudaMemcpyAsync(a.data(), y, a.size() * 4, cudaMemcpyDeviceToHost, s);
            cudaStreamSynchronize(s);
            for (int sd = 0; sd < 2; ++sd)
            for (int c : {1, 2, 3, 4, 6, 8, 12}) {
                const double t = graph_time(s, calls, [&](int) { pipelined(m, c, y2, sd); });
                cudaMemsetAsync(y2, 0, b.size() * 4, s);
                pipelined(m, c, y2, sd);
                cudaMemcpyAsync(b.data(), y2, b.size() * 4, cudaMemcpyDeviceToHost, s);
                cudaStreamSynchronize(s);
                double md = 0, mx = 0; long neq = 0;
                for (std::size_t i = 0; i < a.size(); ++i) { md = std::max(md, double(std::fabs(a[i] - b[i]))); mx = std::max(mx, double(std::fabs(a[i]))); neq += a[i] != b[i]; }
                std::printf("  %s chunks %2d: %.1f (%.0f%% of cublas)  max|diff| %.3g of max %.3g, %ld differ\n",
                            sd ? "side-dq" : "main-dq", c, t, 100 * t_cub / t, md, mx, neq);
            }
            std::fflush(stdout);
        }
        cudaFree(wb); cudaFree(xb); cudaFree(x); cudaFree(y); cudaFree(y2);
    }
    return 0;
}
