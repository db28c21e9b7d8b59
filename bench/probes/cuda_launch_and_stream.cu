// amxmm_probe_cuda_launch_and_stream: what one-row decode can reach on this GPU. Per call, in a CUDA graph
// of back-to-back calls (as bench/cuda_gemm.cu measures): an empty kernel (the launch gap), amxmm's m = 1
// gemv (exact and fast) on a ring of 8 weight copies (cold), and a plain streaming read of the same quant
// bytes with 1-8 CTAs per SM (16-byte loads, 1 or 4 in flight per thread) — the read rate a kernel that
// does nothing else gets, next to which the gemv's rate is judged (bench/RESULTS.md).
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>
using namespace amxmm;
#define CK(x)                                                                   \
    do {                                                                        \
        cudaError_t e = (x);                                                    \
        if (e != cudaSuccess) {                                                 \
            std::printf("%s: %s\n", #x, cudaGetErrorString(e));                 \
            return 1;                                                           \
        }                                                                       \
    } while (0)
__global__ void empty_kernel() {}
__global__ void stream_read(const uint4* p, long n, unsigned* out) {
    unsigned acc = 0;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        uint4 v = __ldg(p + i); acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) out[0] = acc;
}
__global__ void stream_read_unroll(const uint4* p, long n, unsigned* out) {
    unsigned acc = 0;
    const long stride = (long)gridDim.x * blockDim.x;
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 a = __ldg(p + i), b = __ldg(p + i + stride), c = __ldg(p + i + 2 * stride), d = __ldg(p + i + 3 * stride);
        acc ^= a.x ^ b.y ^ c.z ^ d.w ^ a.y ^ b.x ^ c.w ^ d.z;
    }
    for (; i < n; i += stride) { uint4 v = __ldg(p + i); acc ^= v.x ^ v.w; }
    if (acc == 0x12345678u) out[0] = acc;
}
static double graph_time(cudaStream_t s, int calls, const std::function<void(int)>& enq) {
    enq(0); cudaStreamSynchronize(s);
    cudaGraph_t g; cudaGraphExec_t ex;
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    for (int i = 0; i < calls; ++i) enq(i);
    cudaStreamEndCapture(s, &g); cudaGraphInstantiate(&ex, g, 0);
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    double best = 1e9;
    for (int r = 0; r < 10; ++r) {
        cudaEventRecord(a, s); cudaGraphLaunch(ex, s); cudaEventRecord(b, s); cudaEventSynchronize(b);
        float ms; cudaEventElapsedTime(&ms, a, b); best = std::min(best, ms * 1e-3 / calls);
    }
    cudaGraphExecDestroy(ex); cudaGraphDestroy(g);
    return best;
}
int main() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("no CUDA device\n");
        return 0;
    }
    cudaStream_t s; CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    std::printf("empty <<<1,32>>>: %.2f us/call\n", 1e6 * graph_time(s, 200, [&](int) { empty_kernel<<<1, 32, 0, s>>>(); }));
    std::printf("empty <<<2*SMs,384>>>: %.2f us/call\n", 1e6 * graph_time(s, 200, [&](int) { empty_kernel<<<2 * sms, 384, 0, s>>>(); }));
    for (const std::pair<long, long>& shape : {std::pair<long, long>{4096, 14336}, {14336, 4096}, {2048, 4096}}) {
        const long K = shape.first, N = shape.second;
        std::vector<block_q4_0> q(std::size_t(N * K / 32));
        std::mt19937_64 rng(1);
        for (auto& b : q) { b.d = fp32_to_fp16(0.005f); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
        const int copies = 8;
        std::vector<cuda::q4_0_weight> ws;
        for (int c = 0; c < copies; ++c) ws.push_back(cuda::q4_0_weight::upload(q4_0_matrix_view{q.data(), N, K}, s));
        const double bytes = double(N) * K * 18 / 32;
        float *x, *y; unsigned* o;
        CK(cudaMalloc(&x, K * 4)); CK(cudaMalloc(&y, N * 4)); CK(cudaMalloc(&o, 4)); cudaMemset(x, 0, K * 4);
        cuda::context ctx(1 << 24);
        for (auto mode : {compute_mode::exact, compute_mode::fast}) {
            cuda::gemm_options op; op.mode = mode;
            double t = graph_time(s, copies * 4, [&](int i) { cuda::gemm_q4_0(ctx, ws[i % copies].view(), 1, x, K, y, N, op, s); });
            std::printf("K%ld N%ld gemv %s: %.2f us (%.0f GB/s)\n", K, N, to_string(mode), t * 1e6, bytes / t / 1e9);
        }
        // plain reads of the same quant bytes (the qs array only: 16/18 of the bytes)
        for (int blocks : {sms, 2 * sms, 4 * sms, 8 * sms}) {
            double t = graph_time(s, copies * 4, [&](int i) { const auto v = ws[i % copies].view(); stream_read<<<blocks, 256, 0, s>>>(reinterpret_cast<const uint4*>(v.qs), long(N * K / 32), o); });
            double t2 = graph_time(s, copies * 4, [&](int i) { const auto v = ws[i % copies].view(); stream_read_unroll<<<blocks, 256, 0, s>>>(reinterpret_cast<const uint4*>(v.qs), long(N * K / 32), o); });
            std::printf("K%ld N%ld stream read %d CTAs: %.2f us (%.0f GB/s), unrolled x4 %.2f us (%.0f GB/s)\n", K, N, blocks, t * 1e6,
                        bytes * 16 / 18 / t / 1e9, t2 * 1e6, bytes * 16 / 18 / t2 / 1e9);
        }
        cudaFree(x); cudaFree(y); cudaFree(o);
    }
}
