// Hopper (sm_90a) tensor-core GEMM: q4_0_wgmma_kernel, the warpgroup-MMA counterpart of q4_0_mma_kernel
// with the same parameters (mma_params), tiles, epilogues and numerics: dense GEMM (with split K) and the
// grouped MoE tiles of moe_gemm / moe_ffn.
//
// Why a second kernel: mma.sync reaches about a third of cuBLAS's bf16 rate on an H100/H200, and
// dequantizing W to a bf16 workspace first costs a pass over 4.5 + 16 bits per weight that caps the
// dequant + cuBLAS path at about 70% of cuBLAS at m = 512 (bench/RESULTS.md, "CUDA on the H200").
// wgmma.mma_async reads both operands from shared memory and runs asynchronously, so the CTA
// dequantizes the next K step's weight tile while the tensor cores multiply the current one.
//
// One CTA: 256 threads = 2 warpgroups; a 128 × 128 output tile (warpgroup g owns rows 64g..64g+63 and
// all 128 columns, 64 fp32 accumulators per thread); K in steps of 64 (two Q4_0 blocks). Per step:
//   1. every thread waits for its cp.async copies of the step (A rows of its own warpgroup, one 16-byte
//      half block of W, the scales), then a barrier;
//   2. thread t dequantizes (row t/2, block t%2) of W into the shared bf16 tile Bs[step % 2] (the same
//      bf16(d·(q - 8)) as q4_0_mma_kernel and the CPU `fast` mode, bit for bit), a proxy fence, a barrier;
//   3. each warpgroup issues 4 × wgmma m64n128k16 (A: its 64 rows; B: Bs) and commits them;
//   4. it waits until only that group is in flight (the previous step's products are done), then issues
//      the copies of step + 2 into the slot the previous step used (a warpgroup only overwrites A rows
//      it read itself; W and scales were consumed by step 2 before the last barrier).
// So the dequantization of step s + 1 overlaps the products of step s. Shared tiles use the 128-byte
// swizzle wgmma expects (16-byte chunk c of row r at ((c ^ (r & 7)) · 16), 1024-byte aligned).
// Every output element is one thread's fp32 sum over K in a fixed order (the tensor cores' order within
// a k16 step), so results do not depend on the grid. Split K (mma_params::split_steps): CTA z takes a
// slice of the K steps and writes its partial tile to its own plane; split_k_sum_kernel adds the planes
// in slice order.
//
// Measured (H100, 2026-11-26, bench/RESULTS.md "The wgmma kernel"): ~0.8 us per 128 × 128 × 64 K step,
// ~40% of the tensor peak per SM at best, against ~0.49 us for the MMAs alone. A warp-specialized
// version (TMA copies, dequantizing warpgroups, MMA warpgroups on mbarriers) and one that dequantizes
// W straight into wgmma's register operand were no faster (same section, "Three more designs"). The
// copy + dequantize + fence path alone takes longer than the MMA path alone, and the two barely overlap
// ("Where a K step's time goes"); W's row-major layout makes its copies costly (a tile-major one saved
// 9-12% of the kernel there, not adopted: every other CUDA kernel reads W by rows).
//
// Built only where the translation unit targets sm_90a (CMAKE_CUDA_ARCHITECTURES "90a"; plain "90"
// lacks wgmma). Elsewhere the kernel traps, and context::features().wgmma is false, so the host never
// launches it there: the context asks the device which code it loaded (sm90a_probe_kernel).
#pragma once

#include "kernels.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define AMXMM_CUDA_WGMMA 1
#else
#define AMXMM_CUDA_WGMMA 0
#endif

AMXMM_NAMESPACE_BEGIN
namespace cuda {
namespace detail {

constexpr int wgmma_threads = 256;
constexpr int wgmma_bm = 128;     // activation rows per CTA tile (two warpgroups × 64)
constexpr int wgmma_stages = 3;   // copy slots: 2 steps in flight ahead of the one being multiplied (2 CTAs per SM)
constexpr int wgmma_a_bytes = wgmma_bm * 128;        // (128, 64) bf16 per slot
constexpr int wgmma_b_bytes = mma_bn * 128;          // (128, 64) bf16 dequantized W, two buffers
constexpr int wgmma_w_bytes = mma_bn * 32;           // (128, 2, 16) quant bytes per slot
constexpr int wgmma_d_bytes = mma_bn * 4;            // (128, 2) fp16 scales per slot
constexpr int wgmma_smem_bytes = 1024 /* alignment slack */ + wgmma_stages * (wgmma_a_bytes + wgmma_w_bytes + wgmma_d_bytes) +
                                 2 * wgmma_b_bytes;

/// Writes 1 where the code loaded for this device is sm_90a's (wgmma available), else 0.
template <class = void>  // a template: one definition across translation units
__global__ void sm90a_probe_kernel(int* out) {
    *out = AMXMM_CUDA_WGMMA;
}

#if AMXMM_CUDA_WGMMA
/// Shared-memory matrix descriptor: K-major rows of 128 bytes, 128-byte swizzle, 8-row groups 1024 bytes
/// apart (stride byte offset); the leading byte offset is unused for this layout (1 by convention).
__device__ __forceinline__ unsigned long long wgmma_desc(unsigned smem_addr) {
    return (unsigned long long)((smem_addr & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

#define AMXMM_WG_ACC8(i)                                                                                      \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
        "+f"(d[i + 7])

/// d (64 rows × 128 columns, the accumulator fragment) += A (64 × 16, desc a) · B (128 × 16, desc b)ᵀ.
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], unsigned long long a, unsigned long long b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n}\n"
        : AMXMM_WG_ACC8(0), AMXMM_WG_ACC8(8), AMXMM_WG_ACC8(16), AMXMM_WG_ACC8(24), AMXMM_WG_ACC8(32),
          AMXMM_WG_ACC8(40), AMXMM_WG_ACC8(48), AMXMM_WG_ACC8(56)
        : "l"(a), "l"(b));
}
#undef AMXMM_WG_ACC8

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/// Orders this thread's generic-proxy shared-memory writes (st.shared, cp.async) before later
/// async-proxy reads (wgmma operands).
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/// Keeps the accumulators in registers across the asm statements (no spill-and-reload between issue
/// and wait, which would make ptxas serialize the wgmma).
__device__ __forceinline__ void wgmma_hold(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
#endif

/// One CTA computes a 128 × 128 output tile (128 × 64 of gate and of up in gate_up_act mode); grid and
/// tiles as q4_0_mma_kernel with 128-row tiles; 256 threads; wgmma_smem_bytes dynamic shared memory.
template <class = void>  // a template: one definition across translation units
__global__ void __launch_bounds__(wgmma_threads, 2) q4_0_wgmma_kernel(mma_params p) {
#if AMXMM_CUDA_WGMMA
    extern __shared__ __align__(1024) unsigned char wg_smem_raw[];
    // wgmma's swizzle is computed from the address bits: tiles must sit on 1024-byte boundaries.
    const unsigned raw_addr = smem_u32(wg_smem_raw);
    unsigned char* smem = wg_smem_raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
    unsigned char* sa_base = smem;                                            // stages × A
    unsigned char* sb_base = sa_base + wgmma_stages * wgmma_a_bytes;          // 2 × B (bf16)
    unsigned char* sw_base = sb_base + 2 * wgmma_b_bytes;                     // stages × W quants
    unsigned char* sd_base = sw_base + wgmma_stages * wgmma_w_bytes;          // stages × scales

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = tid >> 7, lt = tid & 127;  // warpgroup, thread within it
    const bool dual = p.epilogue == gate_up_act;

    i64 expert, row_begin, row_end;
    if (!mma_row_tile(p, wgmma_bm, expert, row_begin, row_end)) return;
    const i64 n0 = i64(blockIdx.x) * (dual ? mma_bn / 2 : mma_bn);
    const i64 rb = p.row_blocks, ksteps = rb / 2;
    // This CTA's K steps [ks0, ks1) (split K: a slice of them, partial sums to its own y plane).
    const i64 ks0 = p.split_steps ? i64(blockIdx.z) * p.split_steps : 0;
    const i64 ks1 = p.split_steps ? min(ksteps, ks0 + p.split_steps) : ksteps;
    float* const y_out = p.y + (p.split_steps ? i64(blockIdx.z) * p.split_stride : 0);

    // Loader state. A: 4 chunks per thread, rows of the thread's own warpgroup (64g + c / 8).
    constexpr int a_chunks = 4;
    const __nv_bfloat16* a_src[a_chunks];
    int a_dst[a_chunks], a_ch[a_chunks];
    bool a_ok[a_chunks];
#pragma unroll
    for (int i = 0; i < a_chunks; ++i) {
        const int c = lt + 128 * i;
        const int ar = 64 * wg + (c >> 3), ch = c & 7;
        const i64 r = row_begin + ar;
        a_ok[i] = r < row_end;
        a_src[i] = p.a + (a_ok[i] ? mma_a_row(p, r) : 0) * p.lda + ch * 8 + ks0 * mma_bk;
        a_ch[i] = ch;
        a_dst[i] = ar * 128 + ((ch ^ (ar & 7)) * 16);
    }
    // W: thread t copies (and later dequantizes) half block t % 2 of tile row t / 2.
    const int wr = tid >> 1, wh = tid & 1;
    i64 wrow = dual ? n0 + (wr & 63) : n0 + wr;
    const bool w_ok = wrow < p.n;
    if (!w_ok) wrow = 0;
    const std::uint8_t* w_src = ((dual && wr >= 64) ? p.qs2 : p.qs) + ((expert * p.n + wrow) * rb + wh) * 16 + ks0 * 32;
    // (rows past N copy nothing: cp.async with source size 0 zero-fills, from a valid address)
    // Scales: threads < 128 copy the pair of tile row tid.
    i64 drow = dual ? n0 + (tid & 63) : n0 + tid;
    const bool d_ok = tid < mma_bn && drow < p.n;
    if (!d_ok) drow = 0;
    const std::uint16_t* d_src = ((dual && tid >= 64) ? p.d2 : p.d) + (expert * p.n + drow) * rb + ks0 * 2;

    // Copies step ks into `slot`. The sources advance by one step per call (the steps are loaded in order).
    const bool k_tail = p.k % mma_bk != 0;  // K % 64 == 32: the last step's upper 32 columns of A are zero
    auto load_stage = [&](int slot, i64 ks) {
        unsigned char* sa = sa_base + slot * wgmma_a_bytes;
        const bool last = k_tail && ks == ksteps - 1;
#pragma unroll
        for (int i = 0; i < a_chunks; ++i) {
            const bool ok = a_ok[i] && !(last && a_ch[i] >= 4);
            cp_async16(sa + a_dst[i], ok ? static_cast<const void*>(a_src[i]) : static_cast<const void*>(p.a), ok);
            a_src[i] += mma_bk;
        }
        cp_async16(sw_base + slot * wgmma_w_bytes + tid * 16, w_src, w_ok);
        w_src += 32;
        if (tid < mma_bn) cp_async4(sd_base + slot * wgmma_d_bytes + tid * 4, d_src, d_ok);
        d_src += 2;
    };

    // Dequantizes this thread's half block of slot `slot` into bf16 tile `buf`: row wr, chunks 4·wh..4·wh+3.
    auto dequant = [&](int slot, int buf) {
        const uint4 q = *reinterpret_cast<const uint4*>(sw_base + slot * wgmma_w_bytes + tid * 16);
        const std::uint16_t* sd = reinterpret_cast<const std::uint16_t*>(sd_base + slot * wgmma_d_bytes);
        __nv_bfloat162 d1, d2;
        split_scale(sd[wr * 2 + wh], d1, d2);
        unsigned char* row = sb_base + buf * wgmma_b_bytes + wr * 128;
        const unsigned words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int half = 0; half < 2; ++half) {  // bytes 0-7, then 8-15 of the block
            // bytes (0,1), (2,3) of each word spread to bits 0-7 / 16-23
            const unsigned p0 = __byte_perm(words[2 * half], 0u, 0x4140), p1 = __byte_perm(words[2 * half], 0u, 0x4342);
            const unsigned p2 = __byte_perm(words[2 * half + 1], 0u, 0x4140),
                           p3 = __byte_perm(words[2 * half + 1], 0u, 0x4342);
            const uint4 lo = make_uint4(deq2(p0, d1, d2), deq2(p1, d1, d2), deq2(p2, d1, d2), deq2(p3, d1, d2));
            const uint4 hi = make_uint4(deq2(p0 >> 4, d1, d2), deq2(p1 >> 4, d1, d2), deq2(p2 >> 4, d1, d2),
                                        deq2(p3 >> 4, d1, d2));
            const int c_lo = 4 * wh + half, c_hi = 4 * wh + 2 + half;  // elements 8·half.. (low), 16 + 8·half.. (high)
            *reinterpret_cast<uint4*>(row + ((c_lo ^ (wr & 7)) * 16)) = lo;
            *reinterpret_cast<uint4*>(row + ((c_hi ^ (wr & 7)) * 16)) = hi;
        }
    };

    float acc[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = 0.0f;

#pragma unroll
    for (int s = 0; s < wgmma_stages - 1; ++s) {
        if (ks0 + s < ks1) load_stage(s, ks0 + s);
        cp_async_commit();
    }
    const unsigned sa_addr = smem_u32(sa_base) + unsigned(wg) * 64u * 128u, sb_addr = smem_u32(sb_base);
    int slot = 0, load_slot = wgmma_stages - 1;
    for (i64 ks = ks0; ks < ks1; ++ks) {
        const int buf = int(ks & 1);
        cp_async_wait<wgmma_stages - 2>();
        __syncthreads();  // step ks's copies visible; both warpgroups are past step ks - 2's products
        dequant(slot, buf);
        fence_proxy_async();
        __syncthreads();  // Bs[buf] complete
        wgmma_fence();
        wgmma_hold(acc);
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
            wgmma_m64n128k16(acc, wgmma_desc(sa_addr + unsigned(slot * wgmma_a_bytes + kk * 32)),
                             wgmma_desc(sb_addr + unsigned(buf * wgmma_b_bytes + kk * 32)));
        wgmma_commit();
        wgmma_wait<1>();  // step ks - 1 done: its A slot (this warpgroup's rows) may be overwritten
        wgmma_hold(acc);
        const i64 nk = ks + wgmma_stages - 1;
        if (nk < ks1) load_stage(load_slot, nk);
        cp_async_commit();
        slot = slot == wgmma_stages - 1 ? 0 : slot + 1;
        load_slot = load_slot == wgmma_stages - 1 ? 0 : load_slot + 1;
    }
    wgmma_wait<0>();
    wgmma_hold(acc);
    cp_async_wait<0>();

    // Epilogue. acc[4j + c]: row 16·(warp % 4) + lane / 4 + 8·(c / 2) of the warpgroup's 64, column
    // 8j + 2·(lane % 4) + c % 2.
    const int g = lane >> 2, tq = lane & 3;
#pragma unroll
    for (int hrow = 0; hrow < 2; ++hrow) {
        const i64 r = row_begin + 64 * wg + 16 * (warp & 3) + g + 8 * hrow;
        if (r >= row_end) continue;
        if (dual) {
            __nv_bfloat16* hr = p.h + r * p.ldh;
#pragma unroll
            for (int j = 0; j < 8; ++j)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    const i64 col = n0 + 8 * j + 2 * tq + c;
                    if (col < p.n)
                        hr[col] = __float2bfloat16_rn(ffn_act(p.act, acc[4 * j + 2 * hrow + c]) *
                                                      acc[4 * (j + 8) + 2 * hrow + c]);
                }
        } else {
            float* const yr = mma_out_row(p, y_out, r);
#pragma unroll
            for (int j = 0; j < 16; ++j) {
                const i64 col = n0 + 8 * j + 2 * tq;
                if (col + 1 < p.n && ((reinterpret_cast<std::uintptr_t>(yr + col) & 7) == 0)) {
                    *reinterpret_cast<float2*>(yr + col) = make_float2(acc[4 * j + 2 * hrow], acc[4 * j + 2 * hrow + 1]);
                } else {
                    if (col < p.n) yr[col] = acc[4 * j + 2 * hrow];
                    if (col + 1 < p.n) yr[col + 1] = acc[4 * j + 2 * hrow + 1];
                }
            }
        }
    }
#else
    (void)p;
    __trap();  // not sm_90a code: the host checks context::features().wgmma before launching
#endif
}

/// y[r][c] = Σ_z part[z][r][c] (z = 0, 1, ... in order: a fixed summation order) for r < m, c < n; part
/// planes are m × n, contiguous. Grid-stride, 4 columns per thread where n % 4 == 0.
template <class = void>  // a template: one definition across translation units
__global__ void __launch_bounds__(256) split_k_sum_kernel(const float* part, int splits, i64 m, i64 n, float* y, i64 ldy) {
    const i64 plane = m * n;
    if (n % 4 == 0 && ldy % 4 == 0 && (reinterpret_cast<std::uintptr_t>(y) & 15) == 0) {
        for (i64 i = (i64(blockIdx.x) * blockDim.x + threadIdx.x) * 4; i < plane; i += i64(gridDim.x) * blockDim.x * 4) {
            float4 s = *reinterpret_cast<const float4*>(part + i);
            for (int z = 1; z < splits; ++z) {
                const float4 v = *reinterpret_cast<const float4*>(part + z * plane + i);
                s.x += v.x;
                s.y += v.y;
                s.z += v.z;
                s.w += v.w;
            }
            *reinterpret_cast<float4*>(y + (i / n) * ldy + i % n) = s;
        }
    } else {
        for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < plane; i += i64(gridDim.x) * blockDim.x) {
            float s = part[i];
            for (int z = 1; z < splits; ++z) s += part[z * plane + i];
            y[(i / n) * ldy + i % n] = s;
        }
    }
}

}  // namespace detail
}  // namespace cuda
AMXMM_NAMESPACE_END
