// How long 192 CTAs take to load (and reduce) an 8 KB activation row: the same row in every CTA (moe_rows_exact_kernel's
// x at Qwen3 M = 1), a row per CTA, the same row read in a rotated order, the same row after a dependent id load.
// %globaltimer per CTA: start (thread 0 at entry), done (thread 0 after the barrier that follows the loads).
#include <cuda_runtime.h>
#include <cstdio>
#include <vector>
#include <algorithm>
__device__ unsigned long long g_t[4096][2];
__device__ __forceinline__ unsigned long long now() { unsigned long long t; asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t)); return t; }
template <int Mode>  // 0 same row, 1 row per CTA, 2 same row rotated, 3 same row after a dependent load, 4 row per CTA after a dependent load
__global__ void __launch_bounds__(256) xload(const float4* x, const int* ids, float* out, int items_per_row) {
    __shared__ float red[8];
    if (threadIdx.x == 0) g_t[blockIdx.x][0] = now();
    const float4* row = x;
    if (Mode == 1 || Mode == 4) row = x + (long long)(blockIdx.x) * items_per_row;
    int off = 0;
    if (Mode == 3 || Mode == 4) off = ids[blockIdx.x] & 0;  // a dependent round trip, as for the expert id
    if (Mode == 2) off = (blockIdx.x * 64) % items_per_row;
    float s = 0.0f;
    for (int i = threadIdx.x; i < items_per_row; i += 256) {
        const float4 v = __ldg(row + (i + off) % items_per_row);
        s += fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
    }
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(~0u, s, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) { g_t[blockIdx.x][1] = now(); out[blockIdx.x] = red[0] + red[7]; }
}
__global__ void touch(const float4* x, long long n, float* out) {
    float s = 0; for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += 256ll * gridDim.x) s += x[i].x;
    if (s == 12345.f) out[0] = s;
}
__global__ void flush(float4* big, long long n) { for (long long i = blockIdx.x * 256ll + threadIdx.x; i < n; i += 256ll * gridDim.x) big[i].x += 1.0f; }
int main() {
    const int ctas = 192, items = 512;
    float4* x; int* ids; float* out; float4* big;
    const long long big_n = (200ll << 20) / 16;
    cudaMalloc(&x, std::size_t(ctas) * items * 16); cudaMalloc(&ids, ctas * 4); cudaMalloc(&out, ctas * 4); cudaMalloc(&big, big_n * 16);
    cudaMemset(x, 0, std::size_t(ctas) * items * 16); cudaMemset(ids, 0, ctas * 4); cudaMemset(big, 0, big_n * 16);
    std::vector<unsigned long long> t(4096 * 2);
    auto run = [&](auto kern, const char* name, bool hot) {
        for (int it = 0; it < 4; ++it) {
            if (hot) touch<<<132, 256>>>(x, (long long)ctas * items, out); else flush<<<264, 256>>>(big, big_n);
            kern<<<ctas, 256>>>(x, ids, out, items);
            cudaDeviceSynchronize();
            cudaMemcpyFromSymbol(t.data(), g_t, 4096 * 16);
            unsigned long long t0 = ~0ull; for (int b = 0; b < ctas; ++b) t0 = std::min(t0, t[b * 2]);
            std::vector<double> own, all, st;
            for (int b = 0; b < ctas; ++b) { own.push_back((t[b * 2 + 1] - t[b * 2]) * 1e-3); all.push_back((t[b * 2 + 1] - t0) * 1e-3); st.push_back((t[b * 2] - t0) * 1e-3); }
            std::sort(own.begin(), own.end()); std::sort(all.begin(), all.end()); std::sort(st.begin(), st.end());
            if (it == 3) std::printf("%-34s %s  start max %5.2f | done-own min %5.2f med %5.2f max %5.2f | done-t0 min %5.2f med %5.2f max %5.2f us\n", name, hot ? "L2-hot " : "flushed",
                st.back(), own.front(), own[own.size() / 2], own.back(), all.front(), all[all.size() / 2], all.back());
        }
        cudaError_t e = cudaGetLastError(); if (e != cudaSuccess) std::printf("CUDA error %s\n", cudaGetErrorString(e));
    };
    for (int hot = 1; hot >= 0; --hot) {
        run(xload<0>, "same row", hot); run(xload<1>, "row per CTA", hot); run(xload<2>, "same row, rotated", hot);
        run(xload<3>, "same row after a dependent load", hot); run(xload<4>, "row per CTA after a dependent load", hot);
    }
}
