// Probe: where a 128x128x64 wgmma step's time goes (K2048 N4096 m=512, 1 CTA per SM). Variants of the
// q4_0_wgmma_kernel main loop with parts switched off (wrong results on purpose), kernel-only timing.
#include <amxmm/cuda.cuh>
#include <cstdio>
#include <vector>
using namespace amxmm;
using namespace amxmm::cuda::detail;
enum { MMA = 1, DEQ = 2, ACOPY = 4, WCOPY = 8, FENCE = 16, BAR2 = 32, WREG = 64, WTILE = 128 };

template <int F, int S>
__global__ void __launch_bounds__(256, 1) probe_kernel(const __nv_bfloat16* a, const std::uint8_t* qs, const std::uint16_t* dd,
                                                       float* y, int n, int k) {
#if AMXMM_CUDA_WGMMA
    extern __shared__ __align__(1024) unsigned char raw[];
    const unsigned raw_addr = smem_u32(raw);
    unsigned char* smem = raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
    constexpr int A_B = 128 * 128, B_B = 128 * 128, W_B = 128 * 32, D_B = 128 * 4;
    unsigned char* sa_base = smem;
    unsigned char* sb_base = sa_base + S * A_B;
    unsigned char* sw_base = sb_base + 2 * B_B;
    unsigned char* sd_base = sw_base + S * W_B;
    const int tid = threadIdx.x, wg = tid >> 7, lt = tid & 127;
    const long rb = k / 32, ksteps = rb / 2;
    const long n0 = long(blockIdx.x) * 128, row0 = long(blockIdx.y) * 128;
    const __nv_bfloat16* a_src[4];
    int a_dst[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int c = lt + 128 * i, ar = 64 * wg + (c >> 3), ch = c & 7;
        a_src[i] = a + (row0 + ar) * k + ch * 8;
        a_dst[i] = ar * 128 + ((ch ^ (ar & 7)) * 16);
    }
    const int wr = tid >> 1, wh = tid & 1;
    const std::uint8_t* w_src = qs + ((n0 + wr) * rb + wh) * 16;
    const std::uint16_t* d_src = dd + (n0 + (tid & 127)) * rb;
    const std::uint16_t* d_own = dd + (n0 + wr) * rb + wh;  // WREG: this thread's own scale
    uint4 wq[S];
    std::uint16_t wd[S];
    auto load_stage = [&](int slot, long ks) {
        if (F & ACOPY) {
            unsigned char* sa = sa_base + slot * A_B;
#pragma unroll
            for (int i = 0; i < 4; ++i) cp_async16(sa + a_dst[i], a_src[i] + ks * 64, true);
        }
        if ((F & WCOPY) && (F & WTILE)) {  // tile-major: each (128-row tile, step) is 4 KiB + 512 B contiguous
            const long t = long(blockIdx.x) * ksteps + ks;
            cp_async16(sw_base + slot * W_B + tid * 16, qs + t * 4096 + tid * 16, true);
            if (tid < 32) cp_async16(sd_base + slot * D_B + tid * 16, reinterpret_cast<const std::uint8_t*>(dd) + t * 512 + tid * 16, true);
        } else if (F & WCOPY) {
            cp_async16(sw_base + slot * W_B + tid * 16, w_src + ks * 32, true);
            if (tid < 128) cp_async4(sd_base + slot * D_B + tid * 4, d_src + ks * 2, true);
        }
    };
    auto wreg_load = [&](int slot, long ks) {
        wq[slot] = __ldg(reinterpret_cast<const uint4*>(w_src + ks * 32));
        wd[slot] = __ldg(d_own + ks * 2);
    };
    auto dequant = [&](int slot, int buf) {
        uint4 q;
        std::uint16_t dbits;
        if (F & WREG) {
            q = wq[slot];
            dbits = wd[slot];
        } else {
            q = *reinterpret_cast<const uint4*>(sw_base + slot * W_B + tid * 16);
            dbits = reinterpret_cast<const std::uint16_t*>(sd_base + slot * D_B)[wr * 2 + wh];
        }
        __nv_bfloat162 d1, d2;
        split_scale(dbits, d1, d2);
        unsigned char* row = sb_base + buf * B_B + wr * 128;
        const unsigned words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const unsigned p0 = __byte_perm(words[2 * half], 0u, 0x4140), p1 = __byte_perm(words[2 * half], 0u, 0x4342);
            const unsigned p2 = __byte_perm(words[2 * half + 1], 0u, 0x4140), p3 = __byte_perm(words[2 * half + 1], 0u, 0x4342);
            const uint4 lo = make_uint4(deq2(p0, d1, d2), deq2(p1, d1, d2), deq2(p2, d1, d2), deq2(p3, d1, d2));
            const uint4 hi = make_uint4(deq2(p0 >> 4, d1, d2), deq2(p1 >> 4, d1, d2), deq2(p2 >> 4, d1, d2), deq2(p3 >> 4, d1, d2));
            const int c_lo = 4 * wh + half, c_hi = 4 * wh + 2 + half;
            *reinterpret_cast<uint4*>(row + ((c_lo ^ (wr & 7)) * 16)) = lo;
            *reinterpret_cast<uint4*>(row + ((c_hi ^ (wr & 7)) * 16)) = hi;
        }
    };
    float acc[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
#pragma unroll
    for (int s = 0; s < S - 1; ++s) {
        load_stage(s, s);
        if (F & WREG) wreg_load(s, s);
        cp_async_commit();
    }
    const unsigned sa_addr = smem_u32(sa_base) + unsigned(wg) * 64u * 128u, sb_addr = smem_u32(sb_base);
    int slot = 0, load_slot = S - 1;
    for (long ks = 0; ks < ksteps; ++ks) {
        const int buf = int(ks & 1);
        cp_async_wait<S - 2>();
        __syncthreads();
        if (F & DEQ) dequant(slot, buf);
        if (F & FENCE) fence_proxy_async();
        if (F & BAR2) __syncthreads();
        if (F & MMA) {
            wgmma_fence();
            wgmma_hold(acc);
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wgmma_m64n128k16(acc, wgmma_desc(sa_addr + unsigned(slot * A_B + kk * 32)), wgmma_desc(sb_addr + unsigned(buf * B_B + kk * 32)));
            wgmma_commit();
            wgmma_wait<1>();
            wgmma_hold(acc);
        }
        const long nk = ks + S - 1;
        if (nk < ksteps) {
            load_stage(load_slot, nk);
            if (F & WREG) wreg_load(load_slot, nk);
        }
        cp_async_commit();
        slot = slot == S - 1 ? 0 : slot + 1;
        load_slot = load_slot == S - 1 ? 0 : load_slot + 1;
    }
    if (F & MMA) { wgmma_wait<0>(); wgmma_hold(acc); }
    cp_async_wait<0>();
    float s = 0;
#pragma unroll
    for (int i = 0; i < 64; ++i) s += acc[i];
    if (!(F & MMA)) s += float(*reinterpret_cast<unsigned*>(sb_base + (tid * 16) % B_B));  // keep the dequant alive
    y[(row0 + (tid & 127)) * n + n0 + (tid & 127)] = s;
#endif
}

template <int F, int S>
void run(const char* name, const __nv_bfloat16* a, const std::uint8_t* qs, const std::uint16_t* d, float* y, int m, int n, int k) {
    const int smem = 1024 + S * (128 * 128 + 128 * 32 + 128 * 4) + 2 * 128 * 128;
    cudaFuncSetAttribute(probe_kernel<F, S>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    dim3 grid(n / 128, m / 128);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    float best = 1e9;
    for (int r = 0; r < 5; ++r) {
        for (int i = 0; i < 3; ++i) probe_kernel<F, S><<<grid, 256, smem>>>(a, qs, d, y, n, k);
        cudaEventRecord(e0);
        for (int i = 0; i < 20; ++i) probe_kernel<F, S><<<grid, 256, smem>>>(a, qs, d, y, n, k);
        cudaEventRecord(e1); cudaEventSynchronize(e1);
        float ms; cudaEventElapsedTime(&ms, e0, e1); best = std::min(best, ms * 1000 / 20);
    }
    cudaError_t err = cudaGetLastError();
    std::printf("%-34s S%d  %7.2f us  %s\n", name, S, best, err == cudaSuccess ? "" : cudaGetErrorString(err));
}

#if AMXMM_CUDA_WGMMA
#define ACC8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[32], unsigned long long a, unsigned long long b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "%32, %33, p, 1, 1, 0, 0;\n}\n"
        : ACC8(0), ACC8(8), ACC8(16), ACC8(24)
        : "l"(a), "l"(b));
}
__device__ __forceinline__ void hold32(float (&d)[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
#endif

// 256 x 64 tiles: 4 warpgroups (m64n64 each), every thread dequantizes a quarter block (8 weights).
template <int F, int S>
__global__ void __launch_bounds__(512, 1) probe256(const __nv_bfloat16* a, const std::uint8_t* qs, const std::uint16_t* dd,
                                                   float* y, int n, int k) {
#if AMXMM_CUDA_WGMMA
    extern __shared__ __align__(1024) unsigned char raw[];
    const unsigned raw_addr = smem_u32(raw);
    unsigned char* smem = raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
    constexpr int A_B = 256 * 128, B_B = 64 * 128, W_B = 64 * 32, D_B = 64 * 4;
    unsigned char* sa_base = smem;
    unsigned char* sb_base = sa_base + S * A_B;
    unsigned char* sw_base = sb_base + 2 * B_B;
    unsigned char* sd_base = sw_base + S * W_B;
    const int tid = threadIdx.x, wg = tid >> 7, lt = tid & 127;
    const long rb = k / 32, ksteps = rb / 2;
    const long n0 = long(blockIdx.x) * 64, row0 = long(blockIdx.y) * 256;
    const __nv_bfloat16* a_src[4];
    int a_dst[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int c = lt + 128 * i, ar = 64 * wg + (c >> 3), ch = c & 7;
        a_src[i] = a + (row0 + ar) * k + ch * 8;
        a_dst[i] = ar * 128 + ((ch ^ (ar & 7)) * 16);
    }
    // W: threads < 128 copy 16 bytes (row tid / 2, block tid % 2); scales: threads < 64 copy a row's pair.
    const std::uint8_t* w_src = qs + ((n0 + (tid >> 1)) * rb + (tid & 1)) * 16;
    const std::uint16_t* d_src = dd + (n0 + (tid & 63)) * rb;
    // Dequant: row r = tid / 8, block b = (tid / 4) % 2, quarter q = tid % 4.
    const int r = tid >> 3, b = (tid >> 2) & 1, q = tid & 3;
    auto load_stage = [&](int slot, long ks) {
        if (F & ACOPY) {
            unsigned char* sa = sa_base + slot * A_B;
#pragma unroll
            for (int i = 0; i < 4; ++i) cp_async16(sa + a_dst[i], a_src[i] + ks * 64, true);
        }
        if (F & WCOPY) {
            if (tid < 128) cp_async16(sw_base + slot * W_B + tid * 16, w_src + ks * 32, true);
            if (tid < 64) cp_async4(sd_base + slot * D_B + tid * 4, d_src + ks * 2, true);
        }
    };
    auto dequant = [&](int slot, int buf) {
        const unsigned word = *reinterpret_cast<const unsigned*>(sw_base + slot * W_B + r * 32 + b * 16 + q * 4);
        const std::uint16_t dbits = reinterpret_cast<const std::uint16_t*>(sd_base + slot * D_B)[r * 2 + b];
        __nv_bfloat162 d1, d2;
        split_scale(dbits, d1, d2);
        const unsigned p0 = __byte_perm(word, 0u, 0x4140), p1 = __byte_perm(word, 0u, 0x4342);
        const uint2 lo = make_uint2(deq2(p0, d1, d2), deq2(p1, d1, d2));
        const uint2 hi = make_uint2(deq2(p0 >> 4, d1, d2), deq2(p1 >> 4, d1, d2));
        unsigned char* row = sb_base + buf * B_B + r * 128;
        const int e_lo = 32 * b + 4 * q, e_hi = e_lo + 16;  // first element of each 4-element group
        *reinterpret_cast<uint2*>(row + ((((e_lo >> 3) ^ (r & 7)) << 4) | ((e_lo & 7) * 2))) = lo;
        *reinterpret_cast<uint2*>(row + ((((e_hi >> 3) ^ (r & 7)) << 4) | ((e_hi & 7) * 2))) = hi;
    };
    float acc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
#pragma unroll
    for (int s = 0; s < S - 1; ++s) {
        load_stage(s, s);
        cp_async_commit();
    }
    const unsigned sa_addr = smem_u32(sa_base) + unsigned(wg) * 64u * 128u, sb_addr = smem_u32(sb_base);
    int slot = 0, load_slot = S - 1;
    for (long ks = 0; ks < ksteps; ++ks) {
        const int buf = int(ks & 1);
        cp_async_wait<S - 2>();
        __syncthreads();
        if (F & DEQ) dequant(slot, buf);
        if (F & FENCE) fence_proxy_async();
        if (F & BAR2) __syncthreads();
        if (F & MMA) {
            wgmma_fence();
            hold32(acc);
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wgmma_m64n64k16(acc, wgmma_desc(sa_addr + unsigned(slot * A_B + kk * 32)), wgmma_desc(sb_addr + unsigned(buf * B_B + kk * 32)));
            wgmma_commit();
            wgmma_wait<1>();
            hold32(acc);
        }
        const long nk = ks + S - 1;
        if (nk < ksteps) load_stage(load_slot, nk);
        cp_async_commit();
        slot = slot == S - 1 ? 0 : slot + 1;
        load_slot = load_slot == S - 1 ? 0 : load_slot + 1;
    }
    if (F & MMA) { wgmma_wait<0>(); hold32(acc); }
    cp_async_wait<0>();
    float s = 0;
#pragma unroll
    for (int i = 0; i < 32; ++i) s += acc[i];
    if (!(F & MMA)) s += float(*reinterpret_cast<unsigned*>(sb_base + (tid * 16) % B_B));
    y[(row0 + (tid & 255)) * n + n0 + (tid & 63)] = s;
#endif
}

template <int F, int S>
void run256(const char* name, const __nv_bfloat16* a, const std::uint8_t* qs, const std::uint16_t* d, float* y, int m, int n, int k) {
    const int smem = 1024 + S * (256 * 128 + 64 * 32 + 64 * 4) + 2 * 64 * 128;
    cudaFuncSetAttribute(probe256<F, S>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    dim3 grid(n / 64, m / 256);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    float best = 1e9;
    for (int r = 0; r < 5; ++r) {
        for (int i = 0; i < 3; ++i) probe256<F, S><<<grid, 512, smem>>>(a, qs, d, y, n, k);
        cudaEventRecord(e0);
        for (int i = 0; i < 20; ++i) probe256<F, S><<<grid, 512, smem>>>(a, qs, d, y, n, k);
        cudaEventRecord(e1); cudaEventSynchronize(e1);
        float ms; cudaEventElapsedTime(&ms, e0, e1); best = std::min(best, ms * 1000 / 20);
    }
    cudaError_t err = cudaGetLastError();
    std::printf("256x64 %-27s S%d  %7.2f us  %s\n", name, S, best, err == cudaSuccess ? "" : cudaGetErrorString(err));
}

int main(int argc, char** argv) {
    const int m = argc > 1 ? atoi(argv[1]) : 512, n = argc > 2 ? atoi(argv[2]) : 4096, k = argc > 3 ? atoi(argv[3]) : 2048;
    __nv_bfloat16* a; std::uint8_t* qs; std::uint16_t* d; float* y;
    cudaMalloc(&a, size_t(m) * k * 2); cudaMalloc(&qs, size_t(n) * k / 2); cudaMalloc(&d, size_t(n) * k / 16); cudaMalloc(&y, size_t(m) * n * 4);
    cudaMemset(a, 0x3c, size_t(m) * k * 2); cudaMemset(qs, 0x5a, size_t(n) * k / 2); cudaMemset(d, 0x20, size_t(n) * k / 16);
    std::printf("m%d n%d k%d\n", m, n, k);
    constexpr int ALL = MMA | DEQ | ACOPY | WCOPY | FENCE | BAR2;
    run<ALL, 3>("full", a, qs, d, y, m, n, k);
    run<ALL, 4>("full", a, qs, d, y, m, n, k);
    run<ALL, 6>("full", a, qs, d, y, m, n, k);
    run<(ALL & ~WCOPY) | WREG, 3>("full, W in registers", a, qs, d, y, m, n, k);
    run<(ALL & ~WCOPY) | WREG, 4>("full, W in registers", a, qs, d, y, m, n, k);
    run<ALL & ~DEQ, 4>("no dequant", a, qs, d, y, m, n, k);
    run<ALL & ~MMA, 4>("no mma", a, qs, d, y, m, n, k);
    run<ALL & ~(MMA | ACOPY), 4>("no mma, no A copy", a, qs, d, y, m, n, k);
    run<MMA | ACOPY | BAR2, 4>("mma + A copy + bars", a, qs, d, y, m, n, k);
    run<MMA | ACOPY, 4>("mma + A copy, 1 bar", a, qs, d, y, m, n, k);
    run<WCOPY | BAR2, 4>("W copy + bars", a, qs, d, y, m, n, k);
    run<WCOPY | BAR2, 8>("W copy + bars", a, qs, d, y, m, n, k);
    run<BAR2, 4>("bars only", a, qs, d, y, m, n, k);
    run<ACOPY | BAR2, 4>("A copy + bars", a, qs, d, y, m, n, k);
    run<DEQ | FENCE | BAR2 | WCOPY, 4>("W copy + deq + fence + bars", a, qs, d, y, m, n, k);
    run<DEQ | BAR2 | WCOPY, 4>("W copy + deq + bars", a, qs, d, y, m, n, k);
    run<DEQ | BAR2 | WREG, 4>("W regs + deq + bars", a, qs, d, y, m, n, k);
    run<ALL | WTILE, 3>("full, W tile-major", a, qs, d, y, m, n, k);
    run<ALL | WTILE, 4>("full, W tile-major", a, qs, d, y, m, n, k);
    run<WCOPY | BAR2 | WTILE, 4>("W copy + bars, tile-major", a, qs, d, y, m, n, k);
    run<DEQ | FENCE | BAR2 | WCOPY | WTILE, 4>("W tile + deq + fence + bars", a, qs, d, y, m, n, k);
    if (m % 256 == 0 && argc > 4) {
        run256<ALL, 3>("full", a, qs, d, y, m, n, k);
        run256<ALL, 4>("full", a, qs, d, y, m, n, k);
        run256<ALL & ~DEQ, 4>("no dequant", a, qs, d, y, m, n, k);
        run256<ALL & ~MMA, 4>("no mma", a, qs, d, y, m, n, k);
        run256<MMA | ACOPY | BAR2, 4>("mma + A copy + bars", a, qs, d, y, m, n, k);
        run256<DEQ | FENCE | BAR2 | WCOPY, 4>("W copy + deq + fence + bars", a, qs, d, y, m, n, k);
        run256<BAR2, 4>("bars only", a, qs, d, y, m, n, k);
    }
    return 0;
}
