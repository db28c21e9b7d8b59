// Sweep: wgmma vs dequant_cublas (whole calls, CUDA graph replays), correctness spot check.
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <random>
#include <vector>
#include <cmath>
using namespace amxmm;
int main() {
    cuda::context ctx;
    std::printf("wgmma feature: %d\n", int(ctx.features().wgmma));
    struct shape { long n, k; };
    std::vector<shape> shapes = {{4096, 2048}, {4096, 4096}, {14336, 4096}, {4096, 14336}};
    std::vector<long> ms = {9, 16, 32, 64, 128, 256, 512, 1024, 2048};
    std::mt19937 rng(1);
    cudaStream_t st; cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    float *dx, *dy1, *dy2;
    cudaMalloc(&dx, 2048L * 14336 * 4); cudaMalloc(&dy1, 2048L * 14336 * 4); cudaMalloc(&dy2, 2048L * 14336 * 4);
    { std::vector<float> x(2048L * 14336); std::uniform_real_distribution<float> xv(-1, 1); for (auto& v : x) v = xv(rng);
      cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice); }
    for (auto s : shapes) {
        const long nb = s.k / 32;
        std::vector<block_q4_0> blocks(s.n * nb);
        std::uniform_int_distribution<int> byte(0, 255);
        std::uniform_real_distribution<float> sc(0.001f, 0.02f);
        for (auto& b : blocks) { b.d = fp32_to_fp16(sc(rng)); for (auto& q : b.qs) q = std::uint8_t(byte(rng)); }
        auto w = cuda::q4_0_weight::upload({blocks.data(), s.n, s.k});
        for (long m : ms) {
            cuda::gemm_options o1, o2; o1.path = cuda::gemm_path::dequant_cublas; o2.path = cuda::gemm_path::wgmma;
            ctx.reserve(std::max(cuda::gemm_workspace_bytes(m, w.layout(), o1), cuda::gemm_workspace_bytes(m, w.layout(), o2)));
            cuda::gemm_q4_0(ctx, w.view(), m, dx, s.k, dy1, s.n, o1, st);
            const int splits = cuda::gemm_q4_0(ctx, w.view(), m, dx, s.k, dy2, s.n, o2, st).k_splits;
            cudaStreamSynchronize(st);
            std::vector<float> y1(m * s.n), y2(m * s.n);
            cudaMemcpy(y1.data(), dy1, y1.size() * 4, cudaMemcpyDeviceToHost);
            cudaMemcpy(y2.data(), dy2, y2.size() * 4, cudaMemcpyDeviceToHost);
            double maxd = 0; for (size_t i = 0; i < y1.size(); ++i) maxd = std::max(maxd, (double)std::fabs(y1[i] - y2[i]));
            float t[2][3];
            for (int round = 0; round < 3; ++round)
                for (int which = 0; which < 2; ++which) {
                    auto& o = which ? o2 : o1;
                    const int reps = 20;
                    cudaGraph_t g; cudaGraphExec_t ge;
                    cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal);
                    for (int i = 0; i < reps; ++i) cuda::gemm_q4_0(ctx, w.view(), m, dx, s.k, dy2, s.n, o, st);
                    cudaStreamEndCapture(st, &g); cudaGraphInstantiate(&ge, g, 0);
                    cudaGraphLaunch(ge, st);
                    cudaEventRecord(e0, st); cudaGraphLaunch(ge, st); cudaEventRecord(e1, st); cudaEventSynchronize(e1);
                    float ms_; cudaEventElapsedTime(&ms_, e0, e1); t[which][round] = ms_ * 1000 / reps;
                    cudaGraphExecDestroy(ge); cudaGraphDestroy(g);
                }
            auto mn = [](float* a) { return std::min(a[0], std::min(a[1], a[2])); };
            std::printf("K%ld N%ld m%ld: dequant_cublas %.1f us, wgmma %.1f us (ratio %.2f) %.0f TFLOP/s  maxdiff %.2g splits %d\n", s.k, s.n, m, mn(t[0]), mn(t[1]),
                        mn(t[0]) / mn(t[1]), 2.0 * m * s.n * s.k / (mn(t[1]) * 1e-6) / 1e12, maxd, splits);
        }
    }
    return 0;
}
