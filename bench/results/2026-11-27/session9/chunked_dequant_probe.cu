// Probe: dequant + cuBLAS at m = 512 / 2048, whole W vs W in chunks (N rows or K slices) dequantized into a
// reused bf16 buffer that can stay in L2 between the dequant pass and cuBLAS.
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>
using namespace amxmm;
namespace cd = amxmm::cuda::detail;
static double graph_time(cudaStream_t s, int calls, const std::function<void()>& enq) {
    enq(); cudaStreamSynchronize(s);
    cudaGraph_t g; cudaGraphExec_t ex;
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    for (int i = 0; i < calls; ++i) enq();
    cudaStreamEndCapture(s, &g); cudaGraphInstantiate(&ex, g, 0);
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    double best = 1e9;
    for (int r = 0; r < 10; ++r) {
        cudaEventRecord(a, s); cudaGraphLaunch(ex, s); cudaEventRecord(b, s); cudaEventSynchronize(b);
        float ms; cudaEventElapsedTime(&ms, a, b); best = std::min(best, ms * 1e-3 / calls);
    }
    cudaGraphExecDestroy(ex); cudaGraphDestroy(g);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) std::printf("CUDA error %s\n", cudaGetErrorString(e));
    return best * 1e6;
}
static void gemm_bf16(cublasHandle_t h, int n, int m, int k, const __nv_bfloat16* w, int ldw, const __nv_bfloat16* x, int ldx,
                      float* y, int ldy, float beta) {
    const float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16BF, ldw, x, CUDA_R_16BF, ldx, &beta, y,
                                     CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) std::printf("cublas status %d\n", int(st));
}
int main() {
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cuda::context ctx(std::size_t(1) << 30);
    cublasHandle_t h = ctx.cublas();
    cublasSetStream(h, s);
    cublasSetWorkspace(h, ctx.cublas_workspace(), cuda::context::cublas_workspace_bytes);
    const int calls = 20;
    for (auto [K, N] : std::vector<std::pair<long, long>>{{2048, 4096}, {4096, 4096}, {4096, 14336}, {14336, 4096}}) {
        std::vector<block_q4_0> q(std::size_t(N * K / 32));
        std::mt19937_64 rng(1);
        for (auto& b : q) { b.d = fp32_to_fp16(0.005f); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
        cuda::q4_0_weight w = cuda::q4_0_weight::upload(q4_0_matrix_view{q.data(), N, K}, s);
        const auto v = w.view();
        for (long m : {512L, 2048L}) {
            float *x, *y, *y2; __nv_bfloat16 *xb, *wb, *wc;
            cudaMalloc(&x, m * K * 4); cudaMalloc(&y, m * N * 4); cudaMalloc(&y2, m * N * 4);
            cudaMalloc(&xb, m * K * 2); cudaMalloc(&wb, N * K * 2); cudaMalloc(&wc, N * K * 2);
            {
                std::vector<float> xh(std::size_t(m * K));
                for (auto& e : xh) e = float(int(rng() % 2001) - 1000) / 1000.0f;
                cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice);
            }
            const char* fn = "probe";
            cd::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, fn);
            cd::dequant_bf16(v, wb, s, fn);
            cudaStreamSynchronize(s);
            const double t_cublas = graph_time(s, calls, [&] { gemm_bf16(h, N, m, K, wb, K, xb, K, y, N, 0.f); });
            cuda::gemm_options op; op.path = cuda::gemm_path::dequant_cublas;
            const double t_lib = graph_time(s, calls, [&] { cuda::gemm_q4_0(ctx, v, m, x, K, y, N, op, s); });
            const double t_x = graph_time(s, calls, [&] { cd::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, fn); });
            const double t_w = graph_time(s, calls, [&] { cd::dequant_bf16(v, wb, s, fn); });
            std::printf("K%ld N%ld M%ld: cublas %.1f | lib dequant_cublas %.1f (%.0f%%) | x conv %.1f | dequant %.1f\n", K, N, m, t_cublas,
                        t_lib, 100 * t_cublas / t_lib, t_x, t_w);
            // N chunks: dequant rows [n0, n1) into wc (reused), cuBLAS on them
            std::vector<float> ref(std::size_t(m * N)), got(std::size_t(m * N));
            cuda::gemm_q4_0(ctx, v, m, x, K, y, N, op, s);
            cudaMemcpy(ref.data(), y, ref.size() * 4, cudaMemcpyDeviceToHost);
            for (long c : {1024L, 2048L, 4096L}) {
                if (c >= N) continue;
                auto run = [&] {
                    cd::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, fn);
                    for (long n0 = 0; n0 < N; n0 += c) {
                        const long rows = std::min(c, N - n0);
                        cuda::q4_0_device_view cv = v;
                        cv.layout.n = rows;
                        cv.qs += n0 * v.layout.row_blocks() * 16;
                        cv.d += n0 * v.layout.row_blocks();
                        cd::dequant_bf16(cv, wc, s, fn);
                        gemm_bf16(h, int(rows), int(m), int(K), wc, int(K), xb, int(K), y2 + n0, int(N), 0.f);
                    }
                };
                const double t = graph_time(s, calls, run);
                run(); cudaMemcpy(got.data(), y2, got.size() * 4, cudaMemcpyDeviceToHost);
                double md = 0; for (std::size_t i = 0; i < ref.size(); ++i) md = std::max(md, double(std::fabs(ref[i] - got[i])));
                std::printf("   N chunks of %ld: %.1f (%.0f%% of cublas)  max|diff| vs whole %.3g\n", c, t, 100 * t_cublas / t, md);
            }
            // K slices: dequant K columns [k0, k1) of all rows into wc, accumulate with beta = 1
            for (long ks : {1024L, 2048L, 4096L}) {
                if (ks >= K) continue;
                auto run = [&] {
                    cd::convert_rows_bf16(x, K, 0, 1, m, K, xb, s, fn);
                    for (long k0 = 0; k0 < K; k0 += ks) {
                        const long kk = std::min(ks, K - k0);
                        cd::dequant_q4_0_bf16_kernel<><<<dim3(unsigned((2 * kk / 32 + 127) / 128), unsigned(std::min<long>((N + 7) / 8, 65535))),
                                                         dim3(32, 8), 0, s>>>(v.qs + (k0 / 32) * 16, v.d + k0 / 32, N, kk, v.layout.row_blocks(), wc);
                        gemm_bf16(h, int(N), int(m), int(kk), wc, int(kk), xb + k0, int(K), y2, int(N), k0 ? 1.f : 0.f);
                    }
                };
                const double t = graph_time(s, calls, run);
                run(); cudaMemcpy(got.data(), y2, got.size() * 4, cudaMemcpyDeviceToHost);
                double md = 0; for (std::size_t i = 0; i < ref.size(); ++i) md = std::max(md, double(std::fabs(ref[i] - got[i])));
                std::printf("   K slices of %ld: %.1f (%.0f%% of cublas)  max|diff| vs whole %.3g\n", ks, t, 100 * t_cublas / t, md);
            }
            cudaFree(x); cudaFree(y); cudaFree(y2); cudaFree(xb); cudaFree(wb); cudaFree(wc);
        }
    }
}
