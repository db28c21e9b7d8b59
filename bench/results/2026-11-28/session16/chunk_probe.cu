// Probe (session 16): dense M >= 512 on the dequant + cuBLAS path. Whole weight dequantized to bf16 then one
// cuBLAS call (the library's automatic path) against N-chunked: per chunk of nc rows, dequantize into a reused
// workspace (small enough to stay in L2) and run cuBLAS on it. Also the parts alone. Graph replays, hot, µs.
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
    cuda::context ctx(std::size_t(1) << 30);
    cublasHandle_t h; cublasCreate(&h); cublasSetStream(h, s);
    void* cws; cudaMalloc(&cws, 32 << 20); cublasSetWorkspace(h, cws, 32 << 20);
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
        auto gemm = [&](long m, long n0, long nc, const __nv_bfloat16* wchunk, float* out) {
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(nc), int(m), int(K), &one, wchunk, CUDA_R_16BF, int(K), xb,
                         CUDA_R_16BF, int(K), &zero, out + n0, CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        };
        for (long m : {512L, 2048L}) {
            const int calls = m == 512 ? 20 : 8;
            std::printf("K%ld N%ld M%ld\n", K, N, m);
            const double t_lib = graph_time(s, calls, [&](int) { cuda::gemm_q4_0(ctx, wv, m, x, K, y, N, s); });
            cuda::detail::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, "p");
            cuda::detail::dequant_bf16(wv, wb, s, "p");
            const double t_cub = graph_time(s, calls, [&](int) { gemm(m, 0, N, wb, y2); });
            const double t_conv = graph_time(s, calls, [&](int) { cuda::detail::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, "p"); });
            const double t_deq = graph_time(s, calls, [&](int) { cuda::detail::dequant_bf16(wv, wb, s, "p"); });
            const double t_all = graph_time(s, calls, [&](int) {
                cuda::detail::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, "p");
                cuda::detail::dequant_bf16(wv, wb, s, "p");
                gemm(m, 0, N, wb, y2);
            });
            std::printf("  cublas %.1f  lib %.1f (%.0f%%)  conv %.1f  deq %.1f  conv+deq+cublas %.1f\n", t_cub, t_lib,
                        100 * t_cub / t_lib, t_conv, t_deq, t_all);
            for (long nc : {1024L, 2048L, 3072L, 4096L, 7168L}) {
                if (nc >= N) continue;
                const double t = graph_time(s, calls, [&](int) {
                    cuda::detail::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, "p");
                    for (long n0 = 0; n0 < N; n0 += nc) {
                        const long c = std::min(nc, N - n0);
                        cuda::detail::dequant_bf16(rows_of(wv, n0, c), wb, s, "p");
                        gemm(m, n0, c, wb, y2);
                    }
                });
                // correctness against the library call
                cuda::gemm_q4_0(ctx, wv, m, x, K, y, N, s);
                std::vector<float> a(std::size_t(m * N)), b(a.size());
                cudaMemcpyAsync(a.data(), y, a.size() * 4, cudaMemcpyDeviceToHost, s);
                cudaMemcpyAsync(b.data(), y2, b.size() * 4, cudaMemcpyDeviceToHost, s);
                cudaStreamSynchronize(s);
                double md = 0, mx = 0; long neq = 0;
                for (std::size_t i = 0; i < a.size(); ++i) { md = std::max(md, double(std::fabs(a[i] - b[i]))); mx = std::max(mx, double(std::fabs(a[i]))); neq += a[i] != b[i]; }
                std::printf("  chunk %5ld: %.1f (%.0f%% of cublas)  max|diff| %.3g of max %.3g, %ld differ\n", nc, t, 100 * t_cub / t, md, mx, neq);
            }
        }
        cudaFree(wb); cudaFree(xb); cudaFree(x); cudaFree(y); cudaFree(y2);
    }
    return 0;
}
