// Does an L2-hot activation row arrive late when weight loads from HBM follow it? 192 CTAs x 256 threads: x (same 8 KB
// row in every CTA) loaded first, then (optionally) 36 KB of this CTA's cold weights; stamp when x's values are in
// registers (after a use of them), and when the weights are.
#include <cuda_runtime.h>
#include <cstdio>
#include <vector>
#include <algorithm>
__device__ unsigned long long g_t[4096][3];
__device__ __forceinline__ unsigned long long now() { unsigned long long t; asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t)); return t; }
template <bool Weights>
__global__ void __launch_bounds__(256) xw(const float4* x, const uint4* w, float* out) {
    __shared__ float red[8];
    if (threadIdx.x == 0) g_t[blockIdx.x][0] = now();
    const float4 a = __ldg(x + threadIdx.x), b = __ldg(x + 256 + threadIdx.x);
    uint4 q[9];
    if (Weights) {
        const uint4* wc = w + (long long)blockIdx.x * 2304;  // 36 KB per CTA
#pragma unroll
        for (int i = 0; i < 9; ++i) q[i] = __ldg(wc + i * 256 + threadIdx.x);
    }
    float s = fmaxf(fabsf(a.x) + fabsf(a.y), fabsf(b.z) + fabsf(b.w));
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(~0u, s, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) g_t[blockIdx.x][1] = now();
    unsigned acc = 0;
    if (Weights) {
#pragma unroll
        for (int i = 0; i < 9; ++i) acc += q[i].x ^ q[i].y ^ q[i].z ^ q[i].w;
    }
    acc = __reduce_add_sync(~0u, acc);
    __syncthreads();
    if (threadIdx.x == 0) { g_t[blockIdx.x][2] = now(); out[blockIdx.x] = red[0] + float(acc & 1); }
}
__global__ void touch(const float4* x, long long n, float* out) {
    float s = 0; for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += 256ll * gridDim.x) s += x[i].x;
    if (s == 12345.f) out[0] = s;
}
__global__ void flush(float4* big, long long n) { for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += 256ll * gridDim.x) big[i].x += 1.0f; }
int main() {
    const int ctas = 192;
    float4* x; float* out; float4* big; uint4* w;
    const long long big_n = (200ll << 20) / 16, wn = 40ll * ctas * 2304;  // 40 sets of weights (283 MB)
    cudaMalloc(&x, 8192); cudaMalloc(&out, ctas * 4); cudaMalloc(&big, big_n * 16); cudaMalloc(&w, wn * 16);
    cudaMemset(x, 0, 8192); cudaMemset(big, 0, big_n * 16); cudaMemset(w, 1, wn * 16);
    std::vector<unsigned long long> t(4096 * 3);
    auto run = [&](auto kern, const char* name, int xhot) {
        for (int it = 0; it < 6; ++it) {
            flush<<<264, 256>>>(big, big_n);
            if (xhot) touch<<<1, 256>>>(x, 512, out);
            kern<<<ctas, 256>>>(x, w + (long long)(it % 40) * ctas * 2304, out);
            cudaDeviceSynchronize();
            cudaMemcpyFromSymbol(t.data(), g_t, 4096 * 24);
            unsigned long long t0 = ~0ull; for (int b = 0; b < ctas; ++b) t0 = std::min(t0, t[b * 3]);
            std::vector<double> xa, wa;
            for (int b = 0; b < ctas; ++b) { xa.push_back((t[b * 3 + 1] - t0) * 1e-3); wa.push_back((t[b * 3 + 2] - t0) * 1e-3); }
            std::sort(xa.begin(), xa.end()); std::sort(wa.begin(), wa.end());
            if (it >= 4) std::printf("%-28s x %s | x in: min %5.2f med %5.2f max %5.2f | weights in: min %5.2f med %5.2f max %5.2f us\n", name, xhot ? "L2-hot " : "in HBM",
                xa.front(), xa[xa.size() / 2], xa.back(), wa.front(), wa[wa.size() / 2], wa.back());
        }
        cudaError_t e = cudaGetLastError(); if (e != cudaSuccess) std::printf("CUDA error %s\n", cudaGetErrorString(e));
    };
    for (int r = 0; r < 2; ++r)
    for (int hot = 1; hot >= 0; --hot) { run(xw<false>, "x alone", hot); run(xw<true>, "x, then 36 KB of weights", hot); }
}
