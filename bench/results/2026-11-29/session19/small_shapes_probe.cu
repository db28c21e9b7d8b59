// Session 19: dense gemm_q4_0 forced to wgmma and to dequant_cublas on small and mid-size weights, m = 9..256,
// hot (16 calls of one weight per graph replay) and cold (a ring of copies >= 4 × L2), min of 7 replays, µs.
#include <amxmm/cuda.cuh>
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>
namespace cu = amxmm::cuda;
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("CUDA %s: %s\n", #x, cudaGetErrorString(e_)); std::exit(1); } } while (0)

int main() {
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("# %s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    cu::context ctx;
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    const std::size_t l2 = std::size_t(prop.l2CacheSize);
    struct shape { std::int64_t n, k; };
    const std::vector<shape> shapes = {{1024, 1024}, {2048, 2048}, {4096, 2048}, {2048, 4096}, {6144, 2048},
                                       {4096, 4096}, {8192, 2048}, {2048, 8192}};
    const std::vector<std::int64_t> ms = {9, 16, 32, 64, 128, 256};
    std::mt19937 rng(7);
    for (const shape s : shapes) {
        std::vector<amxmm::block_q4_0> blocks(std::size_t(s.n * s.k / 32));
        for (auto& bl : blocks) {
            bl.d = amxmm::fp32_to_fp16(std::uniform_real_distribution<float>(0.001f, 0.01f)(rng));
            for (auto& q : bl.qs) q = std::uint8_t(rng());
        }
        std::vector<cu::q4_0_weight> ring;
        ring.push_back(cu::q4_0_weight::upload({blocks.data(), s.n, s.k}, st));
        const std::size_t bytes = ring[0].layout().total_bytes();
        const std::size_t copies = std::max<std::size_t>(2, (4 * l2 + bytes - 1) / bytes);
        while (ring.size() < copies) ring.push_back(cu::q4_0_weight::upload({blocks.data(), s.n, s.k}, st));
        for (const std::int64_t m : ms) {
            float *x, *y;
            CK(cudaMalloc(&x, std::size_t(m * s.k) * 4));
            CK(cudaMalloc(&y, std::size_t(m * s.n) * 4));
            CK(cudaMemset(x, 0, std::size_t(m * s.k) * 4));
            double t[2][2];  // [path][cold]
            for (int p = 0; p < 2; ++p) {
                cu::gemm_options opt;
                opt.path = p == 0 ? cu::gemm_path::wgmma : cu::gemm_path::dequant_cublas;
                opt.mode = amxmm::compute_mode::fast;
                ctx.reserve(cu::plan_gemm_q4_0(m, ring[0].layout(), opt, ctx.features()).workspace_bytes);
                for (int cold = 0; cold < 2; ++cold) {
                    const int calls = cold ? int(copies) : 16;
                    cu::gemm_q4_0(ctx, ring[0].view(), m, x, s.k, y, s.n, opt, st);
                    CK(cudaStreamSynchronize(st));
                    cudaGraph_t g;
                    cudaGraphExec_t ge;
                    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
                    for (int i = 0; i < calls; ++i)
                        cu::gemm_q4_0(ctx, ring[cold ? std::size_t(i) : 0].view(), m, x, s.k, y, s.n, opt, st);
                    CK(cudaStreamEndCapture(st, &g));
                    CK(cudaGraphInstantiate(&ge, g, 0));
                    double best = 1e30;
                    for (int r = 0; r < 8; ++r) {
                        CK(cudaEventRecord(a, st));
                        CK(cudaGraphLaunch(ge, st));
                        CK(cudaEventRecord(b, st));
                        CK(cudaEventSynchronize(b));
                        float ms_ = 0;
                        CK(cudaEventElapsedTime(&ms_, a, b));
                        if (r > 0) best = std::min(best, double(ms_) * 1e3 / calls);
                    }
                    t[p][cold] = best;
                    CK(cudaGraphExecDestroy(ge));
                    CK(cudaGraphDestroy(g));
                }
            }
            std::printf("N%lld K%lld (N*K = 2^%.1f) m%lld: hot wgmma %.2f dequant_cublas %.2f (ratio d/w %.3f) | cold wgmma %.2f dequant_cublas %.2f (ratio %.3f)\n",
                        (long long)s.n, (long long)s.k, std::log2(double(s.n * s.k)), (long long)m, t[0][0], t[1][0],
                        t[1][0] / t[0][0], t[0][1], t[1][1], t[1][1] / t[0][1]);
            std::fflush(stdout);
            CK(cudaFree(x));
            CK(cudaFree(y));
        }
    }
}
