// amxmm CUDA kernels (device code; the host API is in gemm.cuh and moe.cuh). Terse: the numerics and
// layouts are described where the host API documents them.
//
//   q4_0_gemv_kernel<M, G>  small M, fp32 arithmetic (`fast`): each weight byte read once (16 B per lane),
//                         persistent CTAs that stage the activations in shared memory
//   q4_0_gemv_row_exact_kernel<M, GateUp>  exact (compute_mode::exact), dense m <= 8 and MoE rows of
//                         more than 64 blocks: a warp per weight row, the activations quantized to Q8_0
//                         beforehand (q8_stage_rows_kernel), __dp4a block dots, fp32 block scaling, no shared
//                         memory; GateUp: moe_ffn's gate and up rows with h = act(g)·u
//   moe_rows_exact_kernel<GateUp>  exact MoE decode rows of at most 64 blocks, x quantized per CTA, 32 rows
//                         per CTA: moe_gemm's rows, or (GateUp) moe_ffn's gate and up with act and h's Q8_0
//                         block per 32 rows
//   moe_by_expert_exact_kernel<R, RW, S, GateUp>  exact MoE decode grouped by expert: a warp per RW weight rows
//                         (S times) of a tile's expert, each row read once for the tile's (up to R) pairs
//   moe_down_slot_sum_kernel  exact moe_ffn's down and the sum over a token's slots
//   q4_0_mma_kernel<MT, WM>  tensor cores: Q4_0 tiles dequantized to bf16 in registers (B fragments of
//                         mma.sync m16n8k16), activations bf16 via cp.async; dense, MoE grouped, and the
//                         fused gate/up (SiLU/GELU · up) epilogue of moe_ffn
//   (q4_0_wgmma_kernel, the Hopper counterpart of q4_0_mma_kernel, is in kernels_sm90.cuh)
//   rows_to_bf16_kernel   fp32 activation rows -> contiguous bf16 rows (RNE)
//   convert_and_dequant_bf16_kernel  a dense dequant + cuBLAS call's conversions in one launch: x -> bf16
//                         (rows_to_bf16_cta) and W -> bf16(d·q) (dequant_q4_0_bf16_cta)
//   moe_sort_kernel       deterministic stable counting sort of (token, slot) pairs by expert + MoE tiles
//   moe_ffn_act_kernel / moe_ffn_reduce_kernel   MoE pointwise steps
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN
namespace cuda {
namespace detail {

using i64 = long long;

__device__ __forceinline__ float fp16_bits_to_float(std::uint16_t b) { return __half2float(__ushort_as_half(b)); }

/// act(g) as moe_ffn defines it (0: SiLU, 1: GELU tanh), fp32.
__device__ __forceinline__ float ffn_act(int act, float g) {
    if (act == 0) return g / (1.0f + expf(-g));
    // GELU (tanh form) as g·σ(2u), the CPU's form (kernel/activation.hpp): 0.5·g·(1 + tanh(u)) loses
    // every digit to cancellation in fp32 once u < -9.
    return g / (1.0f + expf(-1.5957691216057308f * g * (1.0f + 0.044715f * g * g)));
}

// ---- GEMV (M <= 8 rows, or one (token, slot) row per CTA row for MoE) -------------------------------------
//
// Persistent CTAs (about as many as fit on the device at once) stage the activations in shared memory
// once, then stream the weight. The rows are cut into row sets of G·RW rows (G = 32 / L row groups of
// L lanes in a warp, RW rows per group); row set r belongs to CTA r mod grid (every CTA gets the same
// number of row sets, ±1), which hands them to its warp slots in rounds. A warp works a chunk of L·U
// blocks per step and issues the next chunk's 16-byte quant and scale loads before it computes the
// current one (two register buffers), so every warp keeps about two chunks in flight. Rows too long
// for the warps to hold the weight in flight are split along K over the S warps of a slot (chunks
// c ≡ kp mod S), whose partials are summed in warp order through shared memory (one barrier per
// round). G and S come from the shape only (gemv_split), so the arithmetic, and with it every bit of
// the result, is the same on every device and for any grid.

/// Warps per CTA: 12 for M = 1 (80 registers, two CTAs per SM: both chunk buffers without spills), 8 above.
__host__ __device__ constexpr int gemv_warps(int m) { return m == 1 ? 12 : 8; }
__host__ __device__ constexpr int gemv_threads(int m) { return 32 * gemv_warps(m); }
/// Weight rows per lane group (RW): 1 for M = 1, 2 above (one activation load serves both rows).
__host__ __device__ constexpr int gemv_rows_per_warp(int m) { return m == 1 ? 1 : 2; }
/// Blocks per lane per step (U): the quant registers of two steps in flight must fit the budget.
__host__ __device__ constexpr int gemv_unroll(int m) { return m == 1 ? 4 : 2; }
/// CTAs per SM the register budget is sized for (__launch_bounds__): 2 up to M = 2 (64 and 128
/// registers), 1 above (the accumulators of M rows).
__host__ __device__ constexpr int gemv_min_ctas(int m) { return m <= 2 ? 2 : 1; }
/// Warps the K split aims for: about the warps an H100 holds at once (a fixed number, not the device's,
/// so that the split, and so the summation order, does not depend on the device).
constexpr long long gemv_split_target_warps = 4096;

struct gemv_params {
    const float* x;         // row i of the CTA's set: x + (t + i)·ldx_token + s·ldx_slot
    i64 ldx_token, ldx_slot;
    const std::uint8_t* qs; // device weight (q4_0_device_layout)
    const std::uint16_t* d;
    i64 n, k, row_blocks, experts;
    const std::int32_t* ids;  // null: dense (blockIdx.y == 0, t = s = 0, expert 0); else pair = blockIdx.y
    i64 ld_ids;
    int top_k;
    float* y;               // row i: y + (t + i)·ldy_token + s·ldy_slot
    i64 ldy_token, ldy_slot;
    int* error_flag;        // set to 1 when an expert id is out of range (its rows become NaN)
    int ksplit;             // S: warps sharing one row set (gemv_split)
    i64 sets;               // row sets per pair: ceil(n / (G·RW))
};

/// How the GEMV splits an (n × k) weight for m activation rows and `pairs` (token, slot) pairs.
struct gemv_split_info {
    int groups = 1;  ///< G: row groups per warp (lanes per row L = 32 / G)
    int ksplit = 1;  ///< S
    i64 sets = 0;    ///< row sets (G·RW rows each) per pair
    i64 rounds = 0;  ///< rounds of (warps / S) row sets: the most CTAs per pair that all have work
};

inline gemv_split_info gemv_split(int m, i64 n, i64 k, i64 pairs) {
    const int U = gemv_unroll(m), RW = gemv_rows_per_warp(m), W = gemv_warps(m);
    const i64 nb = k / 32;
    gemv_split_info s;
    // Short rows: several rows per warp, so that a step still covers a whole (or most of a) row.
    if (m == 1) s.groups = nb <= 8 * U ? 4 : nb <= 16 * U ? 2 : 1;
    const int L = 32 / s.groups;
    const i64 nchunks = (nb + L * U - 1) / (L * U);
    const i64 sets = (n + s.groups * RW - 1) / (s.groups * RW) * pairs;  // warp row sets of the whole call
    while (W % (s.ksplit * 2) == 0 && s.ksplit * 2 <= nchunks && sets * s.ksplit * 2 <= gemv_split_target_warps)
        s.ksplit *= 2;
    s.sets = (n + s.groups * RW - 1) / (s.groups * RW);
    const int slots = W / s.ksplit;
    s.rounds = (s.sets + slots - 1) / slots;
    return s;
}

/// Bytes of staged activations per (row, block) in the exact kernels: 32 int8 quants (16 B of elements
/// 0..15, 16 B of elements 16..31) and an 8-byte meta word (d_x as fp32, 0x4B400000 - 8·Σq).
constexpr int gemv_exact_block_bytes = 40;

/// Bytes of m staged activation rows of K: fp32 (q4_0_gemv_kernel's shared memory: m·K·4) or, exact,
/// Q8_0 (m·(K/32)·40: the exact kernels' quantized rows, in the workspace or shared memory).
inline std::size_t gemv_act_smem_bytes(int m, i64 k, bool exact = false) {
    return exact ? std::size_t(m) * std::size_t(k / 32) * gemv_exact_block_bytes : std::size_t(m) * std::size_t(k) * sizeof(float);
}
/// uint4 items of `rows` quantized activation rows of K (the exact layout: gemv_act_smem_bytes rounded up to 16 B),
/// as a workspace carver takes them.
inline std::size_t q8_rows_items(i64 rows, i64 k) { return (gemv_act_smem_bytes(int(rows), k, true) + 15) / 16; }
/// Dynamic shared memory of q4_0_gemv_kernel<M, G>: the M staged fp32 rows, then (S > 1) the partial sums
/// of two rounds.
inline std::size_t gemv_smem_bytes(int m, i64 k, int groups, int ksplit) {
    const std::size_t red = ksplit > 1 ? std::size_t(2 * gemv_warps(m) * groups * gemv_rows_per_warp(m) * m) * sizeof(float) : 0;
    return gemv_act_smem_bytes(m, k) + red;
}

// ---- exact mode: Q8_0 quantization of the activations (ggml's quantize_row_q8_0_ref, bit for bit) --------
//
// Per block of 32: amax = max |x| (NaN-propagating here: any NaN or inf makes the block "bad"), d = amax /
// 127 (IEEE division), id = d != 0 ? 1 / d : 0, q = low byte of x86 cvttss2si(roundf(x·id)) (out of int32
// range or NaN -> 0), d stored as fp16 (RNE). The CPU refuses non-finite activations; the device cannot
// throw, so a bad block's scale is staged as NaN and the outputs of that activation row become NaN.

/// One element: x86 truncation of roundf(x·id) to int32 (0 when out of range / NaN); the caller keeps the
/// low byte (as quantize_row_q8_0_ref's (int8_t) cast does).
__device__ __forceinline__ int q8_element(float x, float id) {
    const float r = roundf(__fmul_rn(x, id));
    return fabsf(r) < 2147483648.0f ? __float2int_rz(r) : 0;  // -2^31 itself: INT_MIN, low byte 0 either way
}

/// The quantized block's 8 words as the exact kernel stages them, from 8 consecutive lanes (lane & 7 = f
/// holds elements 4f..4f+3 in v): returns this lane's word (bytes = int8 quants of its 4 elements) and, via
/// meta, (d_x as fp32 bits, 0x4B400000 - 8·Σq) (the same in all 8 lanes). All 32 lanes of the warp must call.
__device__ __forceinline__ unsigned q8_quantize_word(float4 v, int2& meta) {
    // |x| as int bits: non-negative floats order as their bits, and every NaN lies above +inf
    int a = max(max(__float_as_int(fabsf(v.x)), __float_as_int(fabsf(v.y))),
                max(__float_as_int(fabsf(v.z)), __float_as_int(fabsf(v.w))));
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) a = max(a, __shfl_xor_sync(0xffffffffu, a, o));
    const float amax = __int_as_float(a);
    const bool bad = !(amax <= 3.402823466e38f);  // inf or NaN
    const float d = __fdiv_rn(amax, 127.0f);
    const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
    const int q0 = q8_element(v.x, id), q1 = q8_element(v.y, id), q2 = q8_element(v.z, id), q3 = q8_element(v.w, id);
    const unsigned word = __byte_perm(__byte_perm(unsigned(q0), unsigned(q1), 0x0040), __byte_perm(unsigned(q2), unsigned(q3), 0x0040), 0x5410);
    int sum = __dp4a(int(word), 0x01010101, 0);  // Σ of the signed bytes
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float dx = bad ? __int_as_float(0x7fc00000) : __half2float(__float2half_rn(d));
    meta = make_int2(__float_as_int(dx), 0x4B400000 - 8 * sum);
    return word;
}

// Programmatic dependent launch (sm_90 and later; no-ops below): a kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it still runs, once
// that one has called pdl_launch_dependents(); it must call pdl_wait() before it reads what that kernel
// writes, or writes what work before it may still read.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ unsigned smem_u32(const void* p) { return unsigned(__cvta_generic_to_shared(p)); }

// sm_80+ instructions (cp.async, ldmatrix, bf16 mma.sync). Code built for an older architecture compiles
// (a consumer's default CMAKE_CUDA_ARCHITECTURES may be older) but traps; context refuses such devices.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define AMXMM_CUDA_SM80_ONLY(...) __trap()
#else
#define AMXMM_CUDA_SM80_ONLY(...) __VA_ARGS__
#endif

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    AMXMM_CUDA_SM80_ONLY(asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
                                      "r"(valid ? 16 : 0)));
}
__device__ __forceinline__ void cp_async8(void* dst, const void* src, bool valid) {
    AMXMM_CUDA_SM80_ONLY(asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
                                      "r"(valid ? 8 : 0)));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
    AMXMM_CUDA_SM80_ONLY(asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
                                      "r"(valid ? 4 : 0)));
}
__device__ __forceinline__ void cp_async_commit() { AMXMM_CUDA_SM80_ONLY(asm volatile("cp.async.commit_group;\n" ::)); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {  // a compiler barrier too: shared loads after it stay after it
    AMXMM_CUDA_SM80_ONLY(asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"));
}

/// MoE gemv grids: the (token t, slot s) of pair blockIdx.y and its expert id as routed (unchecked).
__device__ __forceinline__ std::int32_t pair_expert(const std::int32_t* ids, i64 ld_ids, int top_k, i64& t, i64& s) {
    const i64 pair = blockIdx.y;
    t = pair / top_k;
    s = pair % top_k;
    return ids[t * ld_ids + s];
}

/// True when m activation rows from x with stride ldx are all 16-byte aligned (load_x4's vec).
__device__ __forceinline__ bool rows_x4_aligned(const float* x, i64 ldx, int m) {
    return (reinterpret_cast<std::uintptr_t>(x) & 15u) == 0 && (m == 1 || (ldx & 3) == 0);
}

/// Float4 item idx (elements 4·idx..4·idx+3) of an activation row: one 16-byte load where the rows are
/// 16-byte aligned (vec), else four.
__device__ __forceinline__ float4 load_x4(const float* xr, i64 idx, bool vec) {
    return vec ? __ldg(reinterpret_cast<const float4*>(xr) + idx)
               : make_float4(__ldg(xr + 4 * idx), __ldg(xr + 4 * idx + 1), __ldg(xr + 4 * idx + 2), __ldg(xr + 4 * idx + 3));
}

/// One lane's part of a warp's Q8_0 staging step: float4 item idx (elements 4·idx..4·idx+3) of a row, v
/// (when `valid`), quantized with its block's other 7 lanes and stored into that row's lo / hi / meta
/// arrays (the exact gemv's staged layout). Every lane of the warp must call (q8_quantize_word shuffles);
/// invalid lanes quantize zeros. q8_stage_item: the same, v loaded from row xr (global memory).
__device__ __forceinline__ void q8_stage_value(float4 v, int idx, bool valid, uint4* lo, uint4* hi, int2* meta_out) {
    int2 meta;
    const unsigned word = q8_quantize_word(v, meta);
    if (valid) {
        const int b = idx >> 3, f = idx & 7;
        reinterpret_cast<unsigned*>((f < 4 ? lo : hi) + b)[f & 3] = word;
        if (f == 0) meta_out[b] = meta;
    }
}
__device__ __forceinline__ void q8_stage_item(const float* xr, int idx, bool valid, bool vec, uint4* lo, uint4* hi,
                                              int2* meta_out) {
    q8_stage_value(valid ? load_x4(xr, idx, vec) : make_float4(0.0f, 0.0f, 0.0f, 0.0f), idx, valid, lo, hi, meta_out);
}

/// The exact gemv's activations quantized once per call (read by q4_0_gemv_row_exact_kernel): rows i < m,
/// row i at x + (i / per)·ldx + (i % per)·ld_sub (dense and per-token rows: per = 1; MoE per-slot rows:
/// per = top_k), in the staged layout — lo, hi: (m, nb) uint4, then meta: (m, nb) int2, contiguous (40 B
/// per block). Grid-stride over the m·K/4 float4 items, 32 per warp step (every lane shuffles:
/// warp-uniform loop).
template <class = void>  // a template: one definition across translation units
__global__ void q8_stage_rows_kernel(const float* x, i64 ldx, int per, i64 ld_sub, int m, int nb, uint4* lo) {
    pdl_launch_dependents();  // the row gemv may start loading its weights now (it waits for lo)
    pdl_wait();               // x may come from the kernel before (moe_ffn's h), launched as its dependent
    uint4* const hi = lo + i64(m) * nb;
    int2* const meta_out = reinterpret_cast<int2*>(hi + i64(m) * nb);
    const int items = nb * 8, lane = int(threadIdx.x) & 31;
    const i64 total = i64(m) * items;
    const bool vec = rows_x4_aligned(x, ldx, m) && (per == 1 || (ld_sub & 3) == 0);
    for (i64 base = i64(blockIdx.x) * blockDim.x + threadIdx.x - lane; base < total; base += i64(gridDim.x) * blockDim.x) {
        const i64 g = base + lane;
        const bool valid = g < total;
        const int i = valid ? int(g / items) : 0, idx = valid ? int(g - i64(i) * items) : 0;
        q8_stage_item(x + i64(i / per) * ldx + i64(i % per) * ld_sub, idx, valid, vec, lo + i64(i) * nb, hi + i64(i) * nb,
                      meta_out + i64(i) * nb);
    }
}

/// Σ over one block of (q_w - 8)·q_x for a weight row (4 words of nibbles) and a staged activation block
/// (lo: elements 0..15, hi: elements 16..31, bias = 0x4B400000 - 8·Σq_x), as float, exactly: byte i of
/// weight word wi holds element 4wi + i (low nibble) and 16 + 4wi + i (high nibble), so the low nibbles
/// pair with word wi of lo and the high nibbles with word wi of hi. The int32 chain starts at the bias:
/// its value is 0x4B400000 + sumi with |sumi| <= 32·8·128 < 2^22, i.e. the float 1.5·2^23 + sumi exactly.
__device__ __forceinline__ float exact_block_sum(const unsigned (&wl)[4], const unsigned (&wh)[4], uint4 lo, uint4 hi, int bias) {
    int s = bias;
    s = __dp4a(int(wl[0]), int(lo.x), s);
    s = __dp4a(int(wh[0]), int(hi.x), s);
    s = __dp4a(int(wl[1]), int(lo.y), s);
    s = __dp4a(int(wh[1]), int(hi.y), s);
    s = __dp4a(int(wl[2]), int(lo.z), s);
    s = __dp4a(int(wh[2]), int(hi.z), s);
    s = __dp4a(int(wl[3]), int(lo.w), s);
    s = __dp4a(int(wh[3]), int(hi.w), s);
    return __fsub_rn(__int_as_float(s), 12582912.0f);
}

/// The sum of v over the warp's lanes with a fixed butterfly (the same bits on every lane, for any launch).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/// acc + (one weight block · one staged activation block) as the CPU's exact block update: float(sumi)·(d_w·d_x),
/// both products rounded, added without FMA. qv: the block's 16 quant bytes; dw: its fp16 scale bits;
/// lo, hi, meta: the activation block as q8_stage_rows_kernel stages it.
__device__ __forceinline__ float exact_block_update(float acc, uint4 qv, std::uint16_t dw, uint4 lo, uint4 hi, int2 meta) {
    const unsigned wl[4] = {qv.x & 0x0F0F0F0Fu, qv.y & 0x0F0F0F0Fu, qv.z & 0x0F0F0F0Fu, qv.w & 0x0F0F0F0Fu};
    const unsigned wh[4] = {(qv.x >> 4) & 0x0F0F0F0Fu, (qv.y >> 4) & 0x0F0F0F0Fu, (qv.z >> 4) & 0x0F0F0F0Fu,
                            (qv.w >> 4) & 0x0F0F0F0Fu};
    const float sumi = exact_block_sum(wl, wh, lo, hi, meta.y);
    return __fadd_rn(acc, __fmul_rn(sumi, __fmul_rn(fp16_bits_to_float(dw), __int_as_float(meta.x))));
}

/// Warps (weight rows) per CTA of q4_0_gemv_row_exact_kernel, and the blocks per lane and weight it loads
/// before any arithmetic. H100, m = 1, cold, whole-kernel times (bench/RESULTS.md, session 9): 2 blocks
/// took 14.2 us at K = 14336 N = 4096 where 4 took 15.2, and tied at K = 2048 and 4096 (2.5, 13.8 us);
/// 8 blocks, or 2 and 4 rows per warp, were slower or mixed; m > 1 and the gate + up form used 2 already.
constexpr int gemv_row_warps = 8;
constexpr int gemv_row_unroll = 2;

/// Where the exact decode kernels read and write. q4_0_gemv_row_exact_kernel: dense: ids null, one pair
/// (blockIdx.y = 0), M rows; MoE: blockIdx.y = pair = t·top_k + s. Activation row of the pair: xq_row =
/// t·xq_token + s·xq_slot of the quantized rows (q8_stage_rows_kernel's layout for `xq_rows` rows); output
/// y + t·ldy_token + s·ldy_slot. moe_rows_exact_kernel: x quantized in the kernel (xq_rows = m), output as
/// above. moe_down_slot_sum_kernel: h row of (t, s) is xq row t·xq_token + s, output y + t·ldy_token.
/// In MoE, a pair's expert is ids[t·ld_ids + s]; out of range: error_flag set, NaN output.
struct gemv_row_params {
    const std::uint8_t* qs;
    const std::uint16_t* d;
    i64 n, row_blocks;
    int nb;
    const uint4* xq;
    i64 xq_rows, xq_token, xq_slot;
    float* y;
    i64 ldy_token, ldy_slot, ldy_row;  // ldy_row: between the M activation rows' outputs (dense m > 1)
    const std::int32_t* ids;
    i64 ld_ids, experts;
    int top_k;
    int* error_flag;
    // GateUp (moe_ffn): the second weight (up) of the same shape; y receives act(gate·x)·(up·x) in fp32
    const std::uint8_t* qs_up;
    const std::uint16_t* d_up;
    int act;  // 0: SiLU, 1: GELU tanh
    // moe_down_slot_sum_kernel: routing weights[t·ld_weights + s] (null: all 1); stage_h: each chunk's h rows
    // are copied into shared memory first (moe_down_staged_bytes of it), else read through L1
    const float* weights;
    i64 ld_weights;
    bool stage_h;
};

/// The exact gemv for decode (dense m <= gemv_max_rows rows; MoE's (token, slot) rows with M = 1 where
/// rows are long, see moe_rows_fused): one warp per weight row, the activations already quantized
/// (q8_stage_rows_kernel) and read through the L1 cache. No shared memory, no barrier and an ordinary grid
/// of N / 8 CTAs per pair, which the hardware schedules as SMs free up: a persistent kernel that quantized
/// per CTA spent ~4 us of a 13.6 us K=4096 N=14336 m = 1 call (H200) on its staging and on the last round
/// of row sets; moe_rows_exact_kernel (x quantized per CTA, 32 rows per CTA) on one dense weight took
/// 10-80% longer than the pass + this kernel at m = 1 (H100, bench/RESULTS.md, session 10).
/// Lane l sums the row's blocks l, l + 32, ... in order, then the lanes are summed with a fixed butterfly:
/// the result depends on the shape only. Per block and activation row: float(sumi)·(d_w·d_x), both products
/// rounded, added without FMA (the CPU's exact block update). Activation row i of the pair is quantized row
/// t·xq_token + s·xq_slot + i; its output row is y + t·ldy_token + s·ldy_slot + i·ldy_row. Launched as a
/// programmatic dependent of the quantizing pass where the device has it: the first weight loads are
/// issued before pdl_wait(), which holds the activation reads and the y writes (every kernel before the
/// pass has completed when this one starts, and the pass writes only xq, so the weights and ids are final).
/// GateUp (M = 1): each warp forms row n of gate and of up (p.qs_up) over the same activation blocks and
/// writes h = act(g)·u as moe_ffn_act_kernel computes it (fp32).
template <int M, bool GateUp>
__global__ void __launch_bounds__(32 * gemv_row_warps, M <= 2 ? 4 : 2) q4_0_gemv_row_exact_kernel(gemv_row_params p) {
    static_assert(M >= 1 && (!GateUp || M == 1), "rows");
    pdl_launch_dependents();  // what follows in moe_ffn (h's quantizing pass) waits for y itself
    const int lane = int(threadIdx.x) & 31;
    const i64 row = i64(blockIdx.x) * gemv_row_warps + (threadIdx.x >> 5);
    i64 t = 0, s = 0, expert = 0;
    if (p.ids) {
        const std::int32_t e = pair_expert(p.ids, p.ld_ids, p.top_k, t, s);
        if (e < 0 || e >= p.experts) {
            pdl_wait();  // before writing y
            if (blockIdx.x == 0 && threadIdx.x == 0) atomicOr(p.error_flag, 1);
            if (row < p.n && lane == 0)
                for (int i = 0; i < M; ++i) p.y[t * p.ldy_token + s * p.ldy_slot + i * p.ldy_row + row] = __int_as_float(0x7fc00000);
            return;
        }
        expert = e;
    }
    if (row >= p.n) return;  // warp-uniform
    const int nb = p.nb;
    const i64 xrow = t * p.xq_token + s * p.xq_slot;  // the pair's first quantized activation row
    const uint4* const x_lo = p.xq + xrow * nb;
    const uint4* const x_hi = x_lo + p.xq_rows * nb;
    const int2* const x_meta = reinterpret_cast<const int2*>(p.xq + 2 * p.xq_rows * nb) + xrow * nb;
    constexpr int W = GateUp ? 2 : 1;   // weights read per row: gate (and up)
    constexpr int U = gemv_row_unroll;  // blocks per lane and weight in flight
    const i64 r = expert * p.n + row;
    const uint4* qr[W];
    const std::uint16_t* dr[W];
    qr[0] = reinterpret_cast<const uint4*>(p.qs) + r * p.row_blocks;
    dr[0] = p.d + r * p.row_blocks;
    if constexpr (GateUp) {
        qr[1] = reinterpret_cast<const uint4*>(p.qs_up) + r * p.row_blocks;
        dr[1] = p.d_up + r * p.row_blocks;
    }
    float acc[W][M] = {};
    bool waited = false;
    for (int b0 = lane; b0 < nb; b0 += 32 * U) {
        uint4 q[W][U];
        std::uint16_t dw[W][U];
#pragma unroll
        for (int v = 0; v < W; ++v)
#pragma unroll
            for (int u = 0; u < U; ++u) {  // every load of the step before any arithmetic
                const int b = b0 + 32 * u;
                q[v][u] = b < nb ? __ldg(qr[v] + b) : make_uint4(0, 0, 0, 0);
                dw[v][u] = b < nb ? __ldg(dr[v] + b) : std::uint16_t(0);
            }
        if (!waited) {  // the activations are complete past this point
            pdl_wait();
            waited = true;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int b = b0 + 32 * u;
            if (b >= nb) break;
#pragma unroll
            for (int v = 0; v < W; ++v)
#pragma unroll
                for (int i = 0; i < M; ++i)
                    acc[v][i] = exact_block_update(acc[v][i], q[v][u], dw[v][u], x_lo[i * nb + b], x_hi[i * nb + b], x_meta[i * nb + b]);
        }
    }
#pragma unroll
    for (int v = 0; v < W; ++v)
#pragma unroll
        for (int i = 0; i < M; ++i) acc[v][i] = warp_sum(acc[v][i]);
    if (!waited) pdl_wait();  // lanes past the row's last block skipped the loop
    if (lane == 0) {
        float* const yr = p.y + t * p.ldy_token + s * p.ldy_slot + row;
        if constexpr (GateUp)
            yr[0] = __fmul_rn(ffn_act(p.act, acc[0][0]), acc[1][0]);  // moe_ffn_act_kernel's h
        else
#pragma unroll
            for (int i = 0; i < M; ++i) yr[i * p.ldy_row] = acc[0][i];
    }
}

/// Pairs per tile of the exact MoE decode grouped by expert (moe_by_expert_exact_kernel): a weight row is read
/// once for up to this many of its expert's (token, slot) pairs. Experts with more pairs take several tiles.
constexpr int moe_by_expert_pairs = 4;

/// Weight rows per warp and step of moe_by_expert_exact_kernel for rows of nb blocks: short rows (one or two blocks
/// per lane) take several rows per warp, so that a lane has 4 loads in flight (moe_rows_exact_kernel's reason):
/// 4 rows, or 2 of gate and 2 of up (4 rows of both spill at 128 registers); longer rows one, with
/// gemv_row_unroll blocks per lane, row and weight in a step (q4_0_gemv_row_exact_kernel's), and 3 CTAs per SM
/// (launch bounds; 74-79 registers). H100, session 13: 3 CTAs per SM made Mixtral's moe_ffn 4-6% faster at
/// M = 4..12; short rows lost 8-40% with 2 rows per warp, and more with 3 CTAs per SM (spills).
inline int moe_by_expert_rows_per_warp(i64 nb, bool gate_up) { return nb > 64 ? 1 : gate_up ? 2 : 4; }
/// Steps per CTA of moe_by_expert_exact_kernel (N rows of nb blocks, RW rows per warp, up to max_tiles tiles): a CTA
/// of short rows forms several groups of 8·RW rows, so that its start (the wait, the tile, the pairs' rows: three
/// dependent loads) is paid once for them: 4 where that still leaves 1024 CTAs or more, else 2. Long rows: one.
/// H100, session 13, against one step: Qwen3-30B-A3B moe_ffn M = 16 125 -> 110 us (4 steps), M = 1 22.5 -> 20.9
/// (2 steps; 24.4 with 4: too few CTAs).
inline int moe_by_expert_steps(i64 nb, i64 n, int rw, i64 max_tiles) {
    if (nb > 64) return 1;
    const i64 step_rows = i64(gemv_row_warps) * rw;
    return max_tiles * ((n + 4 * step_rows - 1) / (4 * step_rows)) >= 1024 ? 4 : 2;
}

/// The exact MoE decode grouped by expert (moe_gemv_grouping::by_expert). CTA (blockIdx.x, blockIdx.y = tile):
/// S steps of 8 warps of RW consecutive weight rows each (rows 8·RW·(S·blockIdx.x + step) + RW·warp ..), of the
/// tile's expert, for the tile's pairs: moe_sort_kernel's
/// sorted rows [tile.y, tile.z), at most R, in ascending pair order. Per (row, pair) the dot is formed exactly as
/// q4_0_gemv_row_exact_kernel forms it (lane l: blocks l, l + 32, ... in order, the same butterfly), so the bits
/// are the per-pair kernels'; but each weight block is loaded once for all of the tile's pairs (each pair's
/// quantized activation block is read through L1, once for the warp's RW rows), so an expert that several pairs
/// of the call share is read from memory once per tile instead of once per pair.
/// Pair (t, s) = sorted_pair[row]: activation row t·xq_token + s·xq_slot of the quantized rows, output
/// y + t·ldy_token + s·ldy_slot + n (GateUp: gate and up, h = act(g)·u in fp32 as moe_ffn_act_kernel forms it).
/// Pairs whose expert id is out of range are in no tile (moe_sort_kernel flags them). Launched as a programmatic
/// dependent: it reads the tiles and the activations after pdl_wait(), so every kernel before it must have
/// waited for its own predecessor (moe_sort_kernel waits at its end for the quantizing pass before it).
template <int R, int RW, int S, bool GateUp>
__global__ void __launch_bounds__(32 * gemv_row_warps, RW == 1 ? 3 : 2)
    moe_by_expert_exact_kernel(gemv_row_params p, const int4* tiles, const int* tile_count, const std::int32_t* sorted_pair) {
    constexpr int W = GateUp ? 2 : 1;                  // weights read per row: gate (and up)
    constexpr int U = RW == 1 ? gemv_row_unroll : 1;  // blocks per lane, row and weight in flight
    constexpr int step_rows = gemv_row_warps * RW;    // the CTA's rows per step
    pdl_launch_dependents();
    pdl_wait();  // the tiles and the quantized activations are complete past this point
    // The tile and the count are loaded together (tiles has room for the grid's every blockIdx.y): each CTA's
    // chain of dependent loads before its first weight load is what its start costs.
    const int4 tile = tiles[blockIdx.y];
    if (int(blockIdx.y) >= *tile_count) return;  // the grid is sized for the worst case
    const int lane = int(threadIdx.x) & 31, nb = p.nb, pairs = tile.z - tile.y;  // 1 .. R pairs
    // Step st: the warp's rows row0 .. row0 + RW - 1 of the CTA's st-th group of step_rows rows.
    const i64 first = i64(blockIdx.x) * S * step_rows + (threadIdx.x >> 5) * RW;
    if (first >= p.n) return;  // warp-uniform
    uint4 q[W][RW][U];
    std::uint16_t dw[W][RW][U];
    const auto load = [&](i64 row0, int b0) {  // every load of a step (blocks b0, b0 + 32, ...) before any arithmetic
        const i64 r0 = i64(tile.x) * p.n + row0;
#pragma unroll
        for (int v = 0; v < W; ++v)
#pragma unroll
            for (int j = 0; j < RW; ++j)
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const int b = b0 + 32 * u;
                    const bool ok = b < nb && row0 + j < p.n;
                    const i64 at = (r0 + j) * p.row_blocks + b;
                    q[v][j][u] = ok ? __ldg(reinterpret_cast<const uint4*>(v ? p.qs_up : p.qs) + at) : make_uint4(0, 0, 0, 0);
                    dw[v][j][u] = ok ? __ldg((v ? p.d_up : p.d) + at) : std::uint16_t(0);
                }
    };
    load(first, lane);  // the first weights are in flight while the pairs' rows are looked up
    i64 xrow[R], yrow[R];  // per pair: its activation row's first block, its output row
#pragma unroll
    for (int i = 0; i < R; ++i) {
        const i64 pair = i < pairs ? sorted_pair[tile.y + i] : 0, t = pair / p.top_k, s = pair % p.top_k;
        xrow[i] = (t * p.xq_token + s * p.xq_slot) * nb;
        yrow[i] = t * p.ldy_token + s * p.ldy_slot;
    }
    const uint4* const x_lo = p.xq;
    const uint4* const x_hi = x_lo + p.xq_rows * nb;
    const int2* const x_meta = reinterpret_cast<const int2*>(p.xq + 2 * p.xq_rows * nb);
    for (int st = 0; st < S; ++st) {
        const i64 row0 = first + i64(st) * step_rows;
        if (row0 >= p.n) break;  // warp-uniform
        float acc[W][RW][R] = {};
        for (int b0 = lane; b0 < nb; b0 += 32 * U) {
            if (st > 0 || b0 != lane) load(row0, b0);
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int b = b0 + 32 * u;
                if (b >= nb) break;
#pragma unroll
                for (int i = 0; i < R; ++i) {
                    if (i >= pairs) break;  // warp-uniform
                    const uint4 lo = x_lo[xrow[i] + b], hi = x_hi[xrow[i] + b];
                    const int2 meta = x_meta[xrow[i] + b];
#pragma unroll
                    for (int j = 0; j < RW; ++j)
#pragma unroll
                        for (int v = 0; v < W; ++v) acc[v][j][i] = exact_block_update(acc[v][j][i], q[v][j][u], dw[v][j][u], lo, hi, meta);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < R; ++i) {
            if (i >= pairs) break;
#pragma unroll
            for (int j = 0; j < RW; ++j) {
                const float g = warp_sum(acc[0][j][i]);
                const float out = GateUp ? __fmul_rn(ffn_act(p.act, g), warp_sum(acc[W - 1][j][i])) : g;  // moe_ffn_act_kernel's h
                if (lane == 0 && row0 + j < p.n) p.y[yrow[i] + row0 + j] = out;
            }
        }
    }
}

/// Weight rows per warp of moe_rows_exact_kernel: its CTA forms 32 rows (moe_ffn: one Q8_0 block of h).
constexpr int moe_rows_per_warp = 32 / gemv_row_warps;

/// True when MoE exact decode rows of nb blocks (K / 32) run moe_rows_exact_kernel (x quantized per CTA,
/// 32 rows per CTA), false when they run the quantizing pass + q4_0_gemv_row_exact_kernel (a warp per
/// row). H100, cold, moe_gemm at M = 1 and 4 (bench/RESULTS.md, session 10): the first was 4-19% faster on
/// rows of 24-64 blocks (Qwen3's gate, up and down, DeepSeek-V3's down) and up to 34% slower on rows of
/// 128-448 (the gate and up of DeepSeek-V3 and Mixtral, Mixtral's down): with 4 rows per warp, long rows
/// take many dependent load steps per warp and fewer CTAs share them out. moe_ffn applies the same rule to
/// its down rows (F / 32 blocks): moe_down_slot_sum_kernel, or the row gemv per pair + the slot-sum kernel
/// (Mixtral's 448-block down rows: 1.4-2.7% slower on the first, session 10).
inline bool moe_rows_fused(i64 nb) { return nb <= 64; }

/// Float4 items of x that moe_rows_exact_kernel<true> copies into shared memory as they are (all of x up to K = 2048).
constexpr int moe_rows_x_copied_items = 512;

/// Shared memory of moe_rows_exact_kernel: the CTA's 32 h values, x's quantized row (40 B per block of K) and, for
/// gate/up (moe_ffn), x's first moe_rows_x_copied_items float4 items as loaded (16-byte aligned).
inline std::size_t moe_rows_smem_bytes(i64 k, bool gate_up) {
    const std::size_t quantized = 32 * sizeof(float) + gemv_act_smem_bytes(1, k, true);
    return gate_up ? (quantized + 15) / 16 * 16 + 16 * std::size_t(std::min<i64>(k / 4, moe_rows_x_copied_items)) : quantized;
}

/// The exact MoE gemv for decode in one kernel, x quantized inside. CTA (blockIdx.x, pair = blockIdx.y =
/// t·top_k + s) forms rows n0 .. n0 + 31 (n0 = 32·blockIdx.x) of the pair's expert, 4 per warp:
///   1. it issues its first weight loads, then quantizes the pair's x row (x + t·ldx_token + s·ldx_slot; 8 KB at
///      K = 2048, from L2) into shared memory (q8_stage_rows_kernel's layout and bits; each CTA of the pair
///      repeats this). GateUp: x is copied by cp.async before the weights' loads (see the code);
///   2. per row, the dot as q4_0_gemv_row_exact_kernel forms it (lane l: blocks l, l + 32, ... in order,
///      then warp_sum), so the bits are those of the dense exact gemv on the routed expert. A lane loads one
///      block per row and weight per step: two (loaded together) took 9.37 us where one took 8.56 at Qwen3's
///      M = 1 with gate and up (128 registers against 95), and were slower at K = 4096 and 7168 too (H100,
///      bench/RESULTS.md, session 10).
/// GateUp = false (moe_gemm): y(t, s)[n] = the dot (p.y, p.ldy_token, p.ldy_slot); a pair whose id is out of
///   range gets NaN rows and raises p.error_flag.
/// GateUp = true (moe_ffn; F = p.n is a multiple of 32): gate (p.qs) and up (p.qs_up) rows over the same x,
///   h = act(g)·u in fp32 (moe_ffn_act_kernel's formula), and the CTA's 32 h values become block blockIdx.x
///   of hq row `pair` (q8_stage_rows_kernel's layout and bits). A pair whose id is out of range writes
///   nothing (moe_down_slot_sum_kernel flags it and never reads its h).
/// Why one kernel: the quantizing passes before (x) and after (h) cost 1.5 and 1.1 us of a 14.6 us Qwen3
/// M = 1 moe_ffn call (H100, bench/RESULTS.md, session 10). Launched as the call's first kernel (not a
/// programmatic dependent: x comes from the caller's work); what follows may start loading weights at once.
template <bool GateUp>
__global__ void __launch_bounds__(32 * gemv_row_warps, 2)
    moe_rows_exact_kernel(gemv_row_params p, const float* x, i64 ldx_token, i64 ldx_slot, uint4* hq) {
    constexpr int R = moe_rows_per_warp, W = GateUp ? 2 : 1;  // W: weights (gate, up)
    extern __shared__ uint4 smem[];  // the CTA's 32 h values (8 uint4), then x quantized: lo (nb), hi (nb), meta (nb int2)
    pdl_launch_dependents();
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, nb = p.nb;
    const i64 n0 = i64(blockIdx.x) * 32 + warp * R;  // the warp's first row
    i64 t = 0, s = 0;
    const std::int32_t e = pair_expert(p.ids, p.ld_ids, p.top_k, t, s);
    if (e < 0 || e >= p.experts) {  // CTA-uniform
        if constexpr (!GateUp) {
            if (blockIdx.x == 0 && threadIdx.x == 0) atomicOr(p.error_flag, 1);
            if (lane < R && n0 + lane < p.n) p.y[t * p.ldy_token + s * p.ldy_slot + n0 + lane] = __int_as_float(0x7fc00000);
        }
        return;
    }
    const i64 row0 = i64(e) * p.n + n0;  // the warp's first weight row
    uint4 q[W][R];
    std::uint16_t dw[W][R];
    const auto load = [&](int b) {  // block b of the warp's rows, every load before any arithmetic (b < nb)
#pragma unroll
        for (int j = 0; j < R; ++j)
#pragma unroll
            for (int v = 0; v < W; ++v) {
                const bool ok = n0 + j < p.n;
                const i64 at = (row0 + j) * p.row_blocks + b;
                q[v][j] = ok ? __ldg(reinterpret_cast<const uint4*>(v ? p.qs_up : p.qs) + at) : make_uint4(0, 0, 0, 0);
                dw[v][j] = ok ? __ldg((v ? p.d_up : p.d) + at) : std::uint16_t(0);
            }
    };
    float* const hs = reinterpret_cast<float*>(smem);
    uint4* const x_lo = smem + 8;
    uint4* const x_hi = x_lo + nb;
    int2* const x_meta = reinterpret_cast<int2*>(x_lo + 2 * nb);
    const float* const xr = x + t * ldx_token + s * ldx_slot;
    const bool vec = (reinterpret_cast<std::uintptr_t>(xr) & 15u) == 0;
    if constexpr (GateUp) {
        // x's first items are copied into shared memory by cp.async and awaited on their own (cp.async.wait_group).
        // Loaded into registers, x shared a scoreboard with the weights' first-round loads, and its first use
        // waited for all of them (SASS). Qwen3 moe_ffn, cold, graph replays (H100, bench/RESULTS.md, session 12):
        // M = 1 13.44 -> 12.87 us, M = 4 +0.5%, M = 16 unchanged. Most of the M = 1 gain comes from the larger
        // shared-memory footprint, not from an earlier x: 8 KB of unused shared memory alone gave 12.97 us
        // (more of down's CTAs start beside gate/up's), and per-CTA timelines show x no earlier. The copy
        // itself: gate/up alone 8.74 -> 8.62 us at M = 1, 76.4 -> 75.8 at M = 16. moe_gemm keeps x in
        // registers: with the copy (and its shared memory), Qwen3's per-slot down rows took 10-12% longer at M = 4, 16.
        float4* const x_copy = reinterpret_cast<float4*>(x_lo + 2 * nb + (nb + 1) / 2);  // after meta, 16-byte aligned
        const int x_items = nb * 8, x_copied = vec ? min(x_items, moe_rows_x_copied_items) : 0;
        for (int idx = int(threadIdx.x); idx < x_copied; idx += 32 * gemv_row_warps)
            cp_async16(x_copy + idx, reinterpret_cast<const float4*>(xr) + idx, true);
        cp_async_commit();
        if (lane < nb) load(lane);  // in flight while x is quantized
        cp_async_wait<0>();         // this thread's copies of x: the items it quantizes below
        for (int base = warp * 32; base < x_items; base += 32 * gemv_row_warps) {  // warp-uniform
            const int idx = base + lane;
            const bool valid = idx < x_items;
            const float4 v = !valid ? make_float4(0.0f, 0.0f, 0.0f, 0.0f) : idx < x_copied ? x_copy[idx] : load_x4(xr, idx, vec);
            q8_stage_value(v, idx, valid, x_lo, x_hi, x_meta);
        }
    } else {
        if (lane < nb) load(lane);  // in flight while x is quantized
        for (int base = warp * 32; base < nb * 8; base += 32 * gemv_row_warps)  // warp-uniform
            q8_stage_item(xr, base + lane, base + lane < nb * 8, vec, x_lo, x_hi, x_meta);
    }
    __syncthreads();
    float acc[W][R] = {};
    for (int b = lane; b < nb; b += 32) {
        if (b != lane) load(b);
        const uint4 lo = x_lo[b], hi = x_hi[b];
        const int2 meta = x_meta[b];
#pragma unroll
        for (int j = 0; j < R; ++j)
#pragma unroll
            for (int v = 0; v < W; ++v) acc[v][j] = exact_block_update(acc[v][j], q[v][j], dw[v][j], lo, hi, meta);
    }
    if constexpr (!GateUp) {
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const float dot = warp_sum(acc[0][j]);
            if (lane == 0 && n0 + j < p.n) p.y[t * p.ldy_token + s * p.ldy_slot + n0 + j] = dot;
        }
    } else {
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const float g = warp_sum(acc[0][j]), u = warp_sum(acc[W - 1][j]);
            if (lane == 0) hs[warp * R + j] = __fmul_rn(ffn_act(p.act, g), u);
        }
        __syncthreads();
        if (warp == 0) {  // lanes 0..7: the block's 8 float4 items
            const i64 rows = p.xq_rows * p.top_k, pair = blockIdx.y;
            const float4 v = lane < 8 ? reinterpret_cast<const float4*>(hs)[lane] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            const int hnb = int(p.n / 32);
            q8_stage_value(v, int(blockIdx.x) * 8 + lane, lane < 8, hq + pair * hnb, hq + (rows + pair) * hnb,
                           reinterpret_cast<int2*>(hq + 2 * rows * hnb) + pair * hnb);
        }
    }
}

/// Weight loads per lane that moe_down_slot_sum_kernel<S> issues together: S slots of the token (a chunk;
/// more slots take several chunks) × gemv_sum_loads / S blocks of each. S = gemv_sum_slots_for(top_k): with
/// 8 slots of one block each, Mixtral's top-2 rows of 448 blocks took 14 dependent steps and ran 34% slower
/// at M = 4 than a warp per (row, pair) (H100, bench/RESULTS.md, session 10).
constexpr int gemv_sum_loads = 8;
inline int gemv_sum_slots_for(i64 top_k) { return top_k >= 5 ? 8 : top_k >= 3 ? 4 : top_k == 2 ? 2 : 1; }

/// Shared memory of moe_down_slot_sum_kernel when it stages h: one chunk's quantized rows (40 B per block of F).
inline std::size_t moe_down_staged_bytes(i64 top_k, i64 f) {
    return gemv_act_smem_bytes(int(std::min<i64>(top_k, gemv_sum_slots_for(top_k))), f, true);
}
/// Staged up to here (Qwen3 7.7 KB, DeepSeek-V3 20 KB, Mixtral 36 KB): more would cut the CTAs per SM.
constexpr std::size_t moe_down_max_staged_bytes = 48 * 1024;

/// moe_ffn's down projection and its sum over slots in one kernel (exact mode, after moe_rows_exact_kernel<true>):
/// token t = blockIdx.y, one warp per output column c (p.n = K of them). For each slot s in order the warp
/// forms o = down_e[c] · h(t, s) exactly as q4_0_gemv_row_exact_kernel does (the same lanes, block order
/// and butterfly), then y[t·ldy_token + c] = Σ_s w[t][s]·o in slot order, each product and sum rounded
/// (moe_ffn_reduce_kernel's arithmetic), NaN where an id is out of range (error_flag set). So the bits are
/// those of the row gemv per pair followed by the reduce kernel, without the per-pair outputs.
/// Why: down's rows are short (F / 32 blocks, 24 for Qwen3), so with a warp per (row, pair) each lane
/// had one load in flight, and 2048 CTAs ran in waves at 1.1 TB/s (H100, Qwen3 M = 1: 6.2 us for 7.1 MB;
/// bench/RESULTS.md, session 10). Here a lane loads gemv_sum_loads blocks of up to S slots before any
/// arithmetic, and the separate slot sum (2.7 us on the call's chain) is gone. Every warp of the CTA
/// reads all of the token's h rows, so they are staged in shared memory once per CTA (p.stage_h) where
/// they fit moe_down_max_staged_bytes.
template <int S>
__global__ void __launch_bounds__(32 * gemv_row_warps, 2) moe_down_slot_sum_kernel(gemv_row_params p) {
    constexpr int U = gemv_sum_loads / S;  // blocks per slot and lane in a step
    extern __shared__ uint4 staged[];  // p.stage_h: the chunk's h rows, lo (rows × nb), hi (rows × nb), meta (rows × nb int2)
    pdl_launch_dependents();
    const int lane = int(threadIdx.x) & 31, nb = p.nb;
    const i64 row = i64(blockIdx.x) * gemv_row_warps + (threadIdx.x >> 5), t = blockIdx.y;
    const bool active = row < p.n;  // warp-uniform; inactive warps still take part in the CTA's barriers
    const uint4* const g_lo = p.xq;
    const uint4* const g_hi = g_lo + p.xq_rows * nb;
    const int2* const g_meta = reinterpret_cast<const int2*>(p.xq + 2 * p.xq_rows * nb);
    bool bad_id = false;
    float sum = 0.0f;
    for (int s0 = 0; s0 < p.top_k; s0 += S) {
        const int rows = min(S, p.top_k - s0);
        i64 wrow[S];  // the slot's weight row (-1: no such slot, its id is out of range, or an inactive warp)
#pragma unroll
        for (int v = 0; v < S; ++v) {
            const std::int32_t e = v < rows ? p.ids[t * p.ld_ids + s0 + v] : 0;
            const bool ok = v < rows && e >= 0 && e < p.experts;
            bad_id |= v < rows && !ok;
            wrow[v] = ok && active ? i64(e) * p.n + row : -1;
        }
        uint4 q[S][U];
        std::uint16_t dw[S][U];
        const auto load = [&](int b0) {  // every load of a step (blocks b0, b0 + 32, ...) before any arithmetic
#pragma unroll
            for (int v = 0; v < S; ++v)
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const int b = b0 + 32 * u;
                    const bool ok = wrow[v] >= 0 && b < nb;
                    q[v][u] = ok ? __ldg(reinterpret_cast<const uint4*>(p.qs) + wrow[v] * p.row_blocks + b) : make_uint4(0, 0, 0, 0);
                    dw[v][u] = ok ? __ldg(p.d + wrow[v] * p.row_blocks + b) : std::uint16_t(0);
                }
        };
        if (lane < nb) load(lane);
        if (s0 == 0) pdl_wait();  // h's quantized rows are complete past this point
        // the chunk's h rows (pair rows t·top_k + s0 ..): from shared memory when staged, else through L1
        const i64 first = (t * p.xq_token + s0) * nb;
        const uint4* lo = g_lo + first;
        const uint4* hi = g_hi + first;
        const int2* meta = g_meta + first;
        if (p.stage_h) {  // every warp reads all of them: once per CTA from L2 instead of once per warp
            if (s0 > 0) __syncthreads();  // the previous chunk's reads are done
            uint4* const s_hi = staged + rows * nb;
            int2* const s_meta = reinterpret_cast<int2*>(s_hi + rows * nb);
            for (int i = int(threadIdx.x); i < rows * nb; i += int(blockDim.x)) {
                staged[i] = lo[i];
                s_hi[i] = hi[i];
                s_meta[i] = meta[i];
            }
            __syncthreads();
            lo = staged;
            hi = s_hi;
            meta = s_meta;
        }
        float acc[S] = {};
        for (int b0 = lane; b0 < nb; b0 += 32 * U) {
            if (b0 != lane) load(b0);
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int b = b0 + 32 * u;
                if (b >= nb) break;
#pragma unroll
                for (int v = 0; v < S; ++v)
                    if (wrow[v] >= 0)
                        acc[v] = exact_block_update(acc[v], q[v][u], dw[v][u], lo[v * nb + b], hi[v * nb + b], meta[v * nb + b]);
            }
        }
#pragma unroll
        for (int v = 0; v < S; ++v) {
            if (v >= rows) break;
            acc[v] = warp_sum(acc[v]);
            const int s = s0 + v;
            const float o = wrow[v] >= 0 || !active ? acc[v] : __int_as_float(0x7fc00000);
            const float term = __fmul_rn(p.weights ? p.weights[t * p.ld_weights + s] : 1.0f, o);
            sum = s == 0 ? term : __fadd_rn(sum, term);
        }
    }
    if (bad_id && row == 0 && lane == 0) atomicOr(p.error_flag, 1);
    if (active && lane == 0) p.y[t * p.ldy_token + row] = sum;
}

// Dequantization without int->float conversions: for a nibble q at bits 4s..4s+3 of u (s = 0..3),
// float(0x4B000000 | (u & (15 << 4s))) = 2^23 + q·16^s exactly, and subtracting 2^23 + 8·16^s gives
// (q - 8)·16^s exactly. The activation of that element was staged pre-multiplied by 16^-s (exact: a
// power of two), so each product is x·(q - 8) exactly as fp32 computes it.
__device__ __forceinline__ float gemv_nib(unsigned u, unsigned mask, float c) {
    return __uint_as_float(0x4B000000u | (u & mask)) - c;
}
constexpr float gemv_c0 = 8388616.0f;  // 2^23 + 8
constexpr float gemv_c1 = 8388736.0f;  // 2^23 + 8·16
constexpr float gemv_c2 = 8390656.0f;  // 2^23 + 8·256
constexpr float gemv_c3 = 8421376.0f;  // 2^23 + 8·4096

/// dot[r] = Σ_j x_j·(q_j - 8) over one block for RW weight rows; q[r] = row r's 16 bytes of the block,
/// xs4 = staged activations of the block (xs4 + f·nb, f = 0..7: float4 group f holds elements 4f..4f+3,
/// pre-scaled). Each activation float4 is read from shared memory once for all RW rows.
template <int RW>
__device__ __forceinline__ void gemv_block_dot(const uint4 (&q)[RW], const float4* xs4, int nb, float (&dot)[RW]) {
#pragma unroll
    for (int r = 0; r < RW; ++r) dot[r] = 0.0f;
#pragma unroll
    for (int wi = 0; wi < 4; ++wi) {
        // word wi = bytes 4wi..4wi+3: low nibbles are elements 4wi..4wi+3, high nibbles 16+4wi..16+4wi+3
        const float4 xl = xs4[wi * nb];
        const float4 xh = xs4[(4 + wi) * nb];
#pragma unroll
        for (int r = 0; r < RW; ++r) {
            const unsigned w = wi == 0 ? q[r].x : wi == 1 ? q[r].y : wi == 2 ? q[r].z : q[r].w;
            const unsigned u0 = w, u1 = w >> 16;
            float a = dot[r];
            a = fmaf(xl.x, gemv_nib(u0, 0x000Fu, gemv_c0), a);
            a = fmaf(xh.x, gemv_nib(u0, 0x00F0u, gemv_c1), a);
            a = fmaf(xl.y, gemv_nib(u0, 0x0F00u, gemv_c2), a);
            a = fmaf(xh.y, gemv_nib(u0, 0xF000u, gemv_c3), a);
            a = fmaf(xl.z, gemv_nib(u1, 0x000Fu, gemv_c0), a);
            a = fmaf(xh.z, gemv_nib(u1, 0x00F0u, gemv_c1), a);
            a = fmaf(xl.w, gemv_nib(u1, 0x0F00u, gemv_c2), a);
            a = fmaf(xh.w, gemv_nib(u1, 0xF000u, gemv_c3), a);
            dot[r] = a;
        }
    }
}

/// grid (g <= min(rounds, resident CTAs / pairs), dense ? 1 : M·top_k), gemv_threads(M) threads,
/// gemv_smem_bytes(M, K, G, S) dynamic shared memory; p.ksplit and p.sets from gemv_split (which also
/// gives G). CTA c owns the row sets c + g·i (i < R_c); in round j, warp w (slot w / S, part w % S)
/// takes its i = j·(W / S) + w / S, rows (c + g·i)·G·RW + (lane / L)·RW + r (r < RW), and the chunks
/// c' ≡ w % S (mod S) of L·U blocks; lane l reads blocks c'·L·U + l % L + L·u (16 B quants + 2 B scale
/// each). Per block the dot with every activation row is formed in fp32 and scaled by d; each lane sums
/// its blocks in order, the L lanes of a group with a fixed butterfly, the S warps in warp order: the
/// result is deterministic and independent of the grid.
template <int M, int G>
__global__ void __launch_bounds__(gemv_threads(M), gemv_min_ctas(M)) q4_0_gemv_kernel(gemv_params p) {
    constexpr int RW = gemv_rows_per_warp(M), U = gemv_unroll(M), W = gemv_warps(M);
    constexpr int L = 32 / G, CB = L * U;  // lanes per row group, blocks per chunk
    static_assert(G == 1 || G == 2 || G == 4, "row groups");
    // (M, 8, nb) float4: row i, group f, block b; then (2, W, G, RW, M) floats
    extern __shared__ float4 gemv_xs[];
    const int nb = int(p.k / 32);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int lg = lane % L, grp = lane / L;
    const int S = p.ksplit, slot = warp / S, kp = warp % S, slots = W / S;
    const int nchunks = (nb + CB - 1) / CB;
    const int my_chunks = (nchunks - kp + S - 1) / S;  // >= 1: gemv_split keeps S <= nchunks

    i64 t = 0, s = 0, expert = 0;
    if (p.ids) {
        const std::int32_t e = pair_expert(p.ids, p.ld_ids, p.top_k, t, s);
        if (e < 0 || e >= p.experts) {  // uniform over the CTA: no barrier has been reached yet
            if (tid == 0) atomicOr(p.error_flag, 1);
            float* yr = p.y + t * p.ldy_token + s * p.ldy_slot;
            for (i64 n = blockIdx.x * i64(blockDim.x) + tid; n < p.n; n += i64(gridDim.x) * blockDim.x)
                yr[n] = __int_as_float(0x7fc00000);
            return;
        }
        expert = e;
    }
    const float* x0 = p.x + t * p.ldx_token + s * p.ldx_slot;
    float* y0 = p.y + t * p.ldy_token + s * p.ldy_slot;
    const int n = int(p.n);  // <= 2^30 (launch_gemv)
    const i64 rb = p.row_blocks;
    const std::uint8_t* qbase = p.qs + expert * p.n * rb * 16;
    const std::uint16_t* dbase = p.d + expert * p.n * rb;

    struct chunk_regs {
        uint4 q[U][RW];
        std::uint16_t d[U][RW];
    };
    const int sets = int(p.sets);                                          // <= 2^30 (launch_gemv)
    const int my_sets = (sets - 1 - int(blockIdx.x)) / int(gridDim.x) + 1;  // R_c >= 1: grid.x <= sets
    const int my_rounds = (my_sets + slots - 1) / slots;
    // First row of this lane group in round j; -1 when the warp has no row set in that round.
    const auto group_row = [&](int j) {
        const int i = j * slots + slot;
        return i < my_sets ? (int(blockIdx.x) + int(gridDim.x) * i) * (G * RW) + grp * RW : -1;
    };
    // Loads chunk c of this lane group's rows in round j (zeros past the row end, past N, or without a set).
    auto load = [&](chunk_regs& cr, int j, int c) {
        const int row0 = group_row(j);
#pragma unroll
        for (int r = 0; r < RW; ++r) {
            const bool ok = row0 >= 0 && row0 + r < n;
            const i64 blk0 = i64(ok ? row0 + r : 0) * rb;  // the row's first block
            const uint4* qr = reinterpret_cast<const uint4*>(qbase) + blk0;
            const std::uint16_t* dr = dbase + blk0;
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int b = c * CB + lg + L * u;
                if (ok && b < nb) {
                    cr.q[u][r] = __ldg(qr + b);
                    cr.d[u][r] = __ldg(dr + b);
                } else {
                    cr.q[u][r] = make_uint4(0, 0, 0, 0);
                    cr.d[u][r] = 0;
                }
            }
        }
    };

    const int items = my_rounds * my_chunks;  // (round, chunk) steps of this warp
    int load_round = 0, run_round = 0, load_ci = 0, run_ci = 0;
    const auto advance = [&](int& j, int& ci) {
        if (++ci == my_chunks) {
            ci = 0;
            ++j;
        }
    };
    chunk_regs A, B;
    load(A, load_round, kp);  // the first weight loads are in flight while the activations are staged
    advance(load_round, load_ci);

    {  // Stage the activations: element j of block b of row i, pre-scaled by 16^-s(j) (see gemv_nib):
       // s(j) = (j >= 16) + 2·(j odd).
        const bool vec = rows_x4_aligned(x0, p.ldx_token, M);
#pragma unroll 1
        for (int i = 0; i < M; ++i) {
            const float* xr = x0 + i * p.ldx_token;
            float4* dst = gemv_xs + i * 8 * nb;
            for (int idx = tid; idx < nb * 8; idx += blockDim.x) {
                const int b = idx >> 3, f = idx & 7;
                const float4 v = load_x4(xr, idx, vec);
                const float se = f >= 4 ? 0.0625f : 1.0f;                 // even j: 16^-1 or 1
                const float so = f >= 4 ? (1.0f / 4096.0f) : (1.0f / 256.0f);  // odd j: 16^-3 or 16^-2
                dst[f * nb + b] = make_float4(v.x * se, v.y * so, v.z * se, v.w * so);
            }
        }
    }
    __syncthreads();

    float acc[RW][M];
#pragma unroll
    for (int r = 0; r < RW; ++r)
#pragma unroll
        for (int i = 0; i < M; ++i) acc[r][i] = 0.0f;
    // (2, W, G, RW, M) partials (S > 1), after the activations
    float* red = reinterpret_cast<float*>(gemv_xs + M * 8 * nb);
    int parity = 0;

    // Sums this warp's lanes for its rows of round j and stores them (S = 1) or combines the S warps'
    // partials in warp order (one barrier per round; the partial buffers alternate between rounds, so a
    // warp writing round j + 1's partials never overwrites what the leader still reads of round j).
    const auto finish = [&](int j) {
        const int row0 = group_row(j);
#pragma unroll
        for (int r = 0; r < RW; ++r)
#pragma unroll
            for (int i = 0; i < M; ++i) {
                float v = acc[r][i];
#pragma unroll
                for (int o = L / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
                acc[r][i] = v;
            }
        if (S == 1) {
            if (lg == 0) {
#pragma unroll
                for (int r = 0; r < RW; ++r) {
                    if (row0 < 0 || row0 + r >= n) continue;
#pragma unroll
                    for (int i = 0; i < M; ++i) y0[i * p.ldy_token + row0 + r] = acc[r][i];
                }
            }
        } else {
            float* mine = red + ((parity * W + warp) * G + grp) * (RW * M);
            if (lg == 0) {
#pragma unroll
                for (int r = 0; r < RW; ++r) {
#pragma unroll
                    for (int i = 0; i < M; ++i) mine[r * M + i] = acc[r][i];
                }
            }
            __syncthreads();
            if (kp == 0 && lg == 0) {
#pragma unroll
                for (int r = 0; r < RW; ++r) {
                    if (row0 < 0 || row0 + r >= n) continue;
#pragma unroll
                    for (int i = 0; i < M; ++i) {
                        float v = mine[r * M + i];
                        for (int j = 1; j < S; ++j) v += mine[j * (G * RW * M) + r * M + i];
                        y0[i * p.ldy_token + row0 + r] = v;
                    }
                }
            }
            parity ^= 1;
        }
#pragma unroll
        for (int r = 0; r < RW; ++r)
#pragma unroll
            for (int i = 0; i < M; ++i) acc[r][i] = 0.0f;
    };

    const auto run = [&](const chunk_regs& cr) {
        const int c = kp + run_ci * S;
        const bool has_set = run_round * slots + slot < my_sets;  // warp-uniform: skip the arithmetic of an idle slot
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int b = c * CB + lg + L * u;
            if (has_set && b < nb) {
                float dv[RW];
#pragma unroll
                for (int r = 0; r < RW; ++r) dv[r] = fp16_bits_to_float(cr.d[u][r]);
#pragma unroll
                for (int i = 0; i < M; ++i) {
                    float dot[RW];
                    gemv_block_dot<RW>(cr.q[u], gemv_xs + i * 8 * nb + b, nb, dot);
#pragma unroll
                    for (int r = 0; r < RW; ++r) acc[r][i] = fmaf(dv[r], dot[r], acc[r][i]);
                }
            }
        }
        if (run_ci == my_chunks - 1) finish(run_round);
        advance(run_round, run_ci);
    };

    // Two register buffers: the next step's loads are issued before the current step's arithmetic.
    for (int it = 0; it < items; it += 2) {
        if (it + 1 < items) {
            load(B, load_round, kp + load_ci * S);
            advance(load_round, load_ci);
        }
        run(A);
        if (it + 1 >= items) break;
        if (it + 2 < items) {
            load(A, load_round, kp + load_ci * S);
            advance(load_round, load_ci);
        }
        run(B);
    }
}

// ---- tensor-core GEMM (mma.sync m16n8k16 bf16, fp32 accumulate) --------------------------------------------

constexpr int mma_threads = 256;  // 8 warps: 2 along M × 4 along N
constexpr int mma_bn = 128;       // weight rows per CTA tile (64 gate + 64 up in the fused gate/up mode)
constexpr int mma_bk = 64;        // K per pipeline stage: two Q4_0 blocks
constexpr int mma_stages = 3;

/// Tile shape of q4_0_mma_kernel<MT, WM>: 8 warps as WM (along M) × 8/WM (along N); each warp owns MT m16
/// tiles × NT n8 tiles of the (BM = 16·WM·MT) × 128 CTA tile. WM = 1 (32-row tiles: MoE experts with few
/// rows, small dense m) dequantizes each weight element once per CTA; WM = 2 shares A fragments more.
/// Shared memory of one pipeline stage:
///   A  (BM, 64) bf16, 128 B per row, 16-byte chunks XOR-swizzled by (row & 7)
///   W  (128, 2, 16) quant bytes, the two blocks' halves swapped on rows with (row >> 2) & 1
///   D  (128, 2) fp16 scales
template <int MT, int WM>
struct mma_tile {
    static constexpr int warps_n = 8 / WM;
    static constexpr int nt = 16 / warps_n;  // n8 tiles per warp: 128 columns / warps_n / 8
    static constexpr int bm = 16 * WM * MT;
    static constexpr int a_chunks = bm / 32;  // 16-byte A chunks per thread per stage: bm·8 / 256
    static constexpr int a_bytes = bm * 128;
    static constexpr int w_bytes = mma_bn * 32;
    static constexpr int d_bytes = mma_bn * 4;
    static constexpr int stage_bytes = a_bytes + w_bytes + d_bytes;
    static constexpr int smem_bytes = mma_stages * stage_bytes;
    static_assert(bm % 32 == 0 && nt >= 2 && nt % 2 == 0, "tile shape");
};

enum mma_a_rows : int { a_identity = 0, a_pair_token = 1, a_pair = 2 };
enum mma_epilogue : int { store_identity = 0, store_pair = 1, gate_up_act = 2 };

struct mma_params {
    const __nv_bfloat16* a;  // activation rows, bf16, row stride lda (a multiple of 8)
    i64 lda;
    int a_rows;              // mma_a_rows: row r of the tile set reads a + src·lda, src = r / pair / pair / top_k
    const std::uint8_t* qs;  // weight (all experts); gate in gate_up_act mode
    const std::uint16_t* d;
    const std::uint8_t* qs2; // up weight (gate_up_act mode only)
    const std::uint16_t* d2;
    i64 n, k, row_blocks;
    i64 m;                       // dense: rows [0, m), tile y = blockIdx.y
    const int4* tiles;           // grouped: {expert, row_begin, row_end, -} per tile; null for dense
    const int* tile_count;
    const std::int32_t* sorted_pair;  // sorted row -> pair t·top_k + s (grouped)
    int top_k;
    int epilogue;                // mma_epilogue
    float* y;                    // store_identity: y + row·ldy_token; store_pair: y + t·ldy_token + s·ldy_slot
    i64 ldy_token, ldy_slot;
    __nv_bfloat16* h;            // gate_up_act: h + row·ldh, bf16(act(gate)·up)
    i64 ldh;
    int act;
    // q4_0_mma_exact_kernel only: the activations quantized (q8_stage_rows_kernel's layout for xq_rows rows of
    // K / 32 blocks; tile row r reads row mma_a_row(p, r) of them; a and lda unused), and in gate_up_act mode
    // the fp32 h of each pair at hf + pair·ldh (h unused).
    const uint4* xq;
    i64 xq_rows;
    float* hf;
    // Split K (q4_0_wgmma_kernel, dense store_identity only): CTA z = blockIdx.z multiplies steps
    // [z·split_steps, (z + 1)·split_steps) and stores its partial sums at y + z·split_stride.
    // split_steps = 0: all of K (every other kernel ignores both).
    i64 split_steps, split_stride;
};

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
    AMXMM_CUDA_SM80_ONLY(asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                                      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                                      : "r"(smem_u32(p))));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    AMXMM_CUDA_SM80_ONLY(asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)));
}

/// bf16x2 {bf16(d·(q_lo - 8)), bf16(d·(q_hi - 8))} for nibbles at bits sh_lo and sh_hi of u (RNE; the
/// fp32 product is exact, so this is bf16(d·q) exactly as the CPU `fast` mode rounds it).
__device__ __forceinline__ unsigned deq_pair(unsigned u, int sh_lo, int sh_hi, float dv) {
    const float lo = (__uint_as_float(0x4B000000u | ((u >> sh_lo) & 15u)) - 8388616.0f) * dv;
    const float hi = (__uint_as_float(0x4B000000u | ((u >> sh_hi) & 15u)) - 8388616.0f) * dv;
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
}

__device__ __forceinline__ __nv_bfloat162 bits_bf162(unsigned u) {
    __nv_bfloat162 r;
    memcpy(&r, &u, 4);
    return r;
}
__device__ __forceinline__ unsigned bf162_bits(__nv_bfloat162 v) {
    unsigned u;
    memcpy(&u, &v, 4);
    return u;
}

/// A block scale d (fp16 bits) as d1 + d2, both bf16 (pairs): d1 = bf16(d), d2 = d - d1 exactly (the
/// remainder of rounding an 11-bit significand to 8 bits has at most 3 significant bits).
__device__ __forceinline__ void split_scale(std::uint16_t bits, __nv_bfloat162& d1, __nv_bfloat162& d2) {
    const float d = fp16_bits_to_float(bits);
    const __nv_bfloat16 h1 = __float2bfloat16_rn(d);
    const __nv_bfloat16 h2 = __float2bfloat16_rn(d - __bfloat162float(h1));
    d1 = __halves2bfloat162(h1, h1);
    d2 = __halves2bfloat162(h2, h2);
}

/// bf16x2 {bf16(d·(q0 - 8)), bf16(d·(q1 - 8))} for nibbles q0 at bits 0-3 and q1 at bits 16-19 of v, in
/// bf16 arithmetic that is exact up to one rounding: 0x4300 | q is 128 + q, minus 136 gives q - 8; then
/// (q - 8)·d2 is exact (4 × 3 bits) and one fused multiply-add forms (q - 8)·d1 + (q - 8)·d2 = (q - 8)·d
/// and rounds it once (RNE) — bf16(d·(q - 8)) bit for bit as the CPU `fast` mode rounds it.
__device__ __forceinline__ unsigned deq2(unsigned v, __nv_bfloat162 d1, __nv_bfloat162 d2) {
    const __nv_bfloat162 q = __hsub2(bits_bf162((v & 0x000F000Fu) | 0x43004300u), bits_bf162(0x43084308u));
    return bf162_bits(__hfma2(q, d1, __hmul2(q, d2)));
}

/// The rows [row_begin, row_end) and expert of CTA row tile blockIdx.y: grouped, from p.tiles; dense,
/// `bm` rows from blockIdx.y·bm. False for grouped CTAs past *p.tile_count (they have no tile).
__device__ __forceinline__ bool mma_row_tile(const mma_params& p, int bm, i64& expert, i64& row_begin, i64& row_end) {
    expert = 0;
    if (p.tiles) {
        if (int(blockIdx.y) >= *p.tile_count) return false;
        const int4 ti = p.tiles[blockIdx.y];
        expert = ti.x;
        row_begin = ti.y;
        row_end = ti.z;
    } else {
        row_begin = i64(blockIdx.y) * bm;
        row_end = min(p.m, row_begin + bm);
    }
    return true;
}

/// The activation row (of p.a) that tile row r reads (mma_a_rows).
__device__ __forceinline__ i64 mma_a_row(const mma_params& p, i64 r) {
    if (p.a_rows == a_identity) return r;
    const i64 pair = p.sorted_pair[r];
    return p.a_rows == a_pair_token ? pair / p.top_k : pair;
}

/// Where output row r goes: y + r·ldy_token (store_identity, y = p.y or a split-K plane) or, for
/// store_pair, p.y + t·ldy_token + s·ldy_slot of its (token, slot) pair.
__device__ __forceinline__ float* mma_out_row(const mma_params& p, float* y, i64 r) {
    if (p.epilogue != store_pair) return y + r * p.ldy_token;
    const i64 pair = p.sorted_pair[r];
    return p.y + (pair / p.top_k) * p.ldy_token + (pair % p.top_k) * p.ldy_slot;
}

/// The weight half of a stage of the mma kernels (q4_0_mma_kernel, q4_0_mma_exact_kernel): thread tid copies
/// W chunk (tile row tid / 2, block half tid % 2; the halves swapped on rows with (row >> 2) & 1) and, if
/// tid < 128, the scale pair of tile row tid. gate_up_act: tile rows 64.. are up's rows of the same columns.
/// Rows past N copy nothing (cp.async with source size 0 zero-fills, from a valid address).
struct mma_w_loader {
    const std::uint8_t* w_src;
    const std::uint16_t* d_src;
    int w_dst;
    bool w_ok, d_ok, copies_d;
    __device__ mma_w_loader(const mma_params& p, i64 expert, i64 n0, bool dual, int tid) {
        const int wr = tid >> 1, wh = tid & 1;
        i64 wrow = dual ? n0 + (wr & 63) : n0 + wr;
        w_ok = wrow < p.n;
        if (!w_ok) wrow = 0;
        w_src = ((dual && wr >= 64) ? p.qs2 : p.qs) + ((expert * p.n + wrow) * p.row_blocks + wh) * 16;
        w_dst = wr * 32 + ((wh ^ ((wr >> 2) & 1)) * 16);
        copies_d = tid < mma_bn;
        i64 drow = dual ? n0 + (tid & 63) : n0 + tid;
        d_ok = copies_d && drow < p.n;
        if (!d_ok) drow = 0;
        d_src = ((dual && tid >= 64) ? p.d2 : p.d) + (expert * p.n + drow) * p.row_blocks;
    }
    /// K step ks into the stage's W (mma_bn × 32 bytes) and D (mma_bn × 4 bytes) areas.
    __device__ void load(const mma_params& p, unsigned char* w, unsigned char* d, int tid, i64 ks) const {
        cp_async16(w + w_dst, w_ok ? static_cast<const void*>(w_src + ks * 32) : static_cast<const void*>(p.qs), w_ok);
        if (copies_d) cp_async4(d + tid * 4, d_ok ? static_cast<const void*>(d_src + ks * 2) : static_cast<const void*>(p.d), d_ok);
    }
};

/// Tile row (inside the 128-row W tile) of a warp's n8 tile j, warp column wn. gate_up_act: tiles j < NT/2 are
/// gate rows, tiles j + NT/2 the up rows of the same columns (W tile rows 64 + ...).
template <int NT>
__device__ __forceinline__ void mma_weight_tile_rows(bool dual, int wn, int (&wt_row)[NT]) {
    constexpr int half_nt = NT / 2;
#pragma unroll
    for (int j = 0; j < NT; ++j)
        wt_row[j] = dual ? (j < half_nt ? 8 * half_nt * wn + 8 * j : 64 + 8 * half_nt * wn + 8 * (j - half_nt))
                         : 8 * NT * wn + 8 * j;
}

/// The epilogue of the mma kernels. acc[i][j]: c0, c1 at (row g, cols 2tq, 2tq+1), c2, c3 at (row g + 8, same
/// cols) of m16 tile i and n8 tile j of warp (wm, wn). gate_up_act: store_h(r, col, gate, up) for the tile's row r
/// (j < NT/2 are gate, j + NT/2 up, of the same columns); otherwise y row mma_out_row(p, p.y, r).
template <int MT, int NT, class StoreH>
__device__ __forceinline__ void mma_epilogue(const mma_params& p, const float (&acc)[MT][NT][4], i64 row_begin, i64 row_end,
                                             i64 n0, int wm, int wn, int g, int tq, StoreH store_h) {
    constexpr int half_nt = NT / 2;
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int hrow = 0; hrow < 2; ++hrow) {
            const i64 r = row_begin + wm * (16 * MT) + i * 16 + g + 8 * hrow;
            if (r >= row_end) continue;
            if (p.epilogue == gate_up_act) {
#pragma unroll
                for (int j = 0; j < half_nt; ++j)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const i64 col = n0 + 8 * half_nt * wn + 8 * j + 2 * tq + c;
                        if (col < p.n) store_h(r, col, acc[i][j][2 * hrow + c], acc[i][j + half_nt][2 * hrow + c]);
                    }
            } else {
                float* const yr = mma_out_row(p, p.y, r);
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const i64 col = n0 + 8 * NT * wn + 8 * j + 2 * tq + c;
                        if (col < p.n) yr[col] = acc[i][j][2 * hrow + c];
                    }
            }
        }
}

/// The mma kernels' accumulators, zeroed.
template <int MT, int NT>
__device__ __forceinline__ void mma_zero(float (&acc)[MT][NT][4]) {
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;
}

/// The mma kernels' cp.async pipeline over mma_stages shared-memory stages: load_stage(stage, ks) issues
/// K step ks's copies into `stage`. Fill: steps 0 .. mma_stages - 2 in flight (one commit group each,
/// empty past ksteps).
template <class LoadStage>
__device__ __forceinline__ void mma_pipeline_fill(const LoadStage& load_stage, i64 ksteps) {
#pragma unroll
    for (int s = 0; s < mma_stages - 1; ++s) {
        if (s < ksteps) load_stage(s, s);
        cp_async_commit();
    }
}

/// At the start of K step ks: its stage has landed and is visible to all (so everyone is done with step
/// ks - 1's stage, which the copies of step ks + mma_stages - 1 then reuse).
template <class LoadStage>
__device__ __forceinline__ void mma_pipeline_advance(const LoadStage& load_stage, i64 ks, i64 ksteps) {
    cp_async_wait<mma_stages - 2>();
    __syncthreads();
    const i64 nk = ks + mma_stages - 1;
    if (nk < ksteps) load_stage(int(nk % mma_stages), nk);
    cp_async_commit();
}

/// One CTA computes a BM × 128 output tile (BM × 64 of gate and of up in gate_up_act mode).
/// grid: (ceil(N / 128) or ceil(N / 64) for gate_up_act, dense ? ceil(m / BM) : max tiles); 256 threads;
/// mma_tile<MT, WM>::smem_bytes dynamic shared memory. Grouped CTAs past *tile_count exit at once.
template <int MT, int WM>
__global__ void __launch_bounds__(mma_threads, WM == 1 ? 3 : 2) q4_0_mma_kernel(mma_params p) {
    using T = mma_tile<MT, WM>;
    constexpr int NT = T::nt;
    extern __shared__ __align__(128) unsigned char mma_smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / T::warps_n, wn = warp % T::warps_n;
    const int g = lane >> 2, tq = lane & 3;
    const bool dual = p.epilogue == gate_up_act;

    i64 expert, row_begin, row_end;
    if (!mma_row_tile(p, T::bm, expert, row_begin, row_end)) return;
    const i64 n0 = i64(blockIdx.x) * (dual ? mma_bn / 2 : mma_bn);
    const i64 rb = p.row_blocks, ksteps = rb / 2;

    // Loader state: every thread copies a_chunks A chunks, one W chunk and (threads < 128) one scale
    // pair per stage, always the same rows, so the source rows are resolved once.
    const __nv_bfloat16* a_src[T::a_chunks];
    int a_dst[T::a_chunks], a_ch[T::a_chunks];
    bool a_ok[T::a_chunks];
#pragma unroll
    for (int i = 0; i < T::a_chunks; ++i) {
        const int c = tid + mma_threads * i;  // chunk (row ar, 16-byte column ch) of the (BM, 64) A tile
        const int ar = c >> 3, ch = c & 7;
        const i64 r = row_begin + ar;
        a_ok[i] = r < row_end;
        a_src[i] = p.a + (a_ok[i] ? mma_a_row(p, r) : 0) * p.lda + ch * 8;
        a_ch[i] = ch;
        a_dst[i] = ar * 128 + ((ch ^ (ar & 7)) * 16);
    }
    const mma_w_loader wl(p, expert, n0, dual, tid);

    auto load_stage = [&](int stage, i64 ks) {
        unsigned char* base = mma_smem + stage * T::stage_bytes;
        const i64 k0 = ks * mma_bk;
#pragma unroll
        for (int i = 0; i < T::a_chunks; ++i) {
            const bool ok = a_ok[i] && k0 + a_ch[i] * 8 < p.k;  // K % 64 == 32: the last step's upper half is zero
            cp_async16(base + a_dst[i], ok ? static_cast<const void*>(a_src[i] + k0) : static_cast<const void*>(p.a), ok);
        }
        wl.load(p, base + T::a_bytes, base + T::a_bytes + T::w_bytes, tid, ks);
    };

    float acc[MT][NT][4];
    mma_zero(acc);
    int wt_row[NT];
    mma_weight_tile_rows(dual, wn, wt_row);

    mma_pipeline_fill(load_stage, ksteps);
    for (i64 ks = 0; ks < ksteps; ++ks) {
        mma_pipeline_advance(load_stage, ks, ksteps);
        const unsigned char* base = mma_smem + int(ks % mma_stages) * T::stage_bytes;
        const unsigned char* sa = base;
        const unsigned char* sw = base + T::a_bytes;
        const std::uint16_t* sd = reinterpret_cast<const std::uint16_t*>(base + T::a_bytes + T::w_bytes);
#pragma unroll
        for (int blk = 0; blk < 2; ++blk) {
            // B fragments of this block for both of its k16 halves: thread (g, tq) needs elements
            // 2tq, 2tq+1 (b0) and 2tq+8, 2tq+9 (b1) of the k16 step: bytes 2tq, 2tq+1, 2tq+8, 2tq+9
            // of the block, low nibbles for the first half, high nibbles for the second.
            unsigned bf[NT][2][2];  // [n8 tile][k16 half][b0/b1]
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int r = wt_row[j] + g;
                const unsigned char* q = sw + r * 32 + ((blk ^ ((r >> 2) & 1)) * 16);
                // bytes (2tq, 2tq+1) and (2tq+8, 2tq+9), each pair spread to bits 0-7 and 16-23
                const unsigned lo = __byte_perm(*reinterpret_cast<const std::uint16_t*>(q + 2 * tq), 0u, 0x4140);
                const unsigned hi = __byte_perm(*reinterpret_cast<const std::uint16_t*>(q + 2 * tq + 8), 0u, 0x4140);
                __nv_bfloat162 d1, d2;
                split_scale(sd[r * 2 + blk], d1, d2);
                bf[j][0][0] = deq2(lo, d1, d2);       // low nibbles: elements 2tq, 2tq+1
                bf[j][0][1] = deq2(hi, d1, d2);       //              elements 2tq+8, 2tq+9
                bf[j][1][0] = deq2(lo >> 4, d1, d2);  // high nibbles: the same + 16
                bf[j][1][1] = deq2(hi >> 4, d1, d2);
            }
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int kk = blk * 2 + half;  // k16 step inside the 64-wide stage
#pragma unroll
                for (int i = 0; i < MT; ++i) {
                    const int ar = wm * (16 * MT) + i * 16 + (lane & 15);
                    const int ch = kk * 2 + (lane >> 4);
                    unsigned af[4];
                    ldmatrix_x4(af, sa + ar * 128 + ((ch ^ (ar & 7)) * 16));
#pragma unroll
                    for (int j = 0; j < NT; ++j) mma_bf16(acc[i][j], af, bf[j][half][0], bf[j][half][1]);
                }
            }
        }
    }
    cp_async_wait<0>();

    // h = bf16(act(gate)·up) by sorted row
    mma_epilogue(p, acc, row_begin, row_end, n0, wm, wn, g, tq, [&](i64 r, i64 col, float gv, float uv) {
        p.h[r * p.ldh + col] = __float2bfloat16_rn(ffn_act(p.act, gv) * uv);
    });
}

// ---- exact mode on the tensor cores ------------------------------------------------------------------------

/// Shared memory of one pipeline stage of q4_0_mma_exact_kernel<MT, WM> (the warps as in mma_tile<MT, WM>):
///   A  (BM, 64) int8: the step's two blocks of the quantized rows as 16-byte chunks lo0, hi0, lo1, hi1,
///      chunk c of row r at ((c ^ ((r >> 1) & 3)) · 16) (ldmatrix reads 8 rows of one chunk: no bank conflict)
///   AM (BM, 2) int2: the rows' (d_x bits, bias) of the two blocks
///   W, D as mma_tile's (quant bytes with the halves swapped on rows with (row >> 2) & 1; fp16 scales)
template <int MT, int WM>
struct mma_exact_tile {
    static constexpr int bm = mma_tile<MT, WM>::bm;
    static constexpr int a_bytes = bm * 64;
    static constexpr int am_bytes = bm * 16;
    static constexpr int w_bytes = mma_tile<MT, WM>::w_bytes;
    static constexpr int d_bytes = mma_tile<MT, WM>::d_bytes;
    static constexpr int stage_bytes = a_bytes + am_bytes + w_bytes + d_bytes;
    static constexpr int smem_bytes = mma_stages * stage_bytes;
    static constexpr int a_chunks = bm * 4;  // 16-byte A chunks per stage
};

/// c (16 × 8, int32) += A (16 × 32, s8, row-major fragments) · B (32 × 8, u8, column fragments).
__device__ __forceinline__ void mma_s8u8(int (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    AMXMM_CUDA_SM80_ONLY(asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)));
}

/// compute_mode::exact on the tensor cores: the tiles, grid, rows and epilogues of q4_0_mma_kernel<MT, WM>, with
/// the activations quantized to Q8_0 beforehand (p.xq) and each Q4_0 block one m16n8k32 integer product. A K step
/// of 32 is exactly one block, so every product is that block's integer dot Σ q_x·q_w (the weight's nibbles as u8,
/// the C fragment starting from the row's bias -8·Σq_x, as the exact gemv does), and every thread then applies
/// y = y + float(s_b)·(d_w,b·d_x,b) to its outputs, block after block in K order: reference_gemm_exact's
/// arithmetic and order, so the result is the CPU's exact result bit for bit (the exact gemv sums lane partials
/// and matches it only to fp32 summation order). gate_up_act: h = act(g)·u in fp32 (moe_ffn_act_kernel's form)
/// at p.hf + pair·p.ldh. Blocks past K / 32 (an odd count: the padded last block) are skipped, not added as zero.
template <int MT, int WM>
__global__ void __launch_bounds__(mma_threads, 2) q4_0_mma_exact_kernel(mma_params p) {
    using T = mma_tile<MT, WM>;
    using E = mma_exact_tile<MT, WM>;
    constexpr int NT = T::nt;
    extern __shared__ __align__(128) unsigned char mma_smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / T::warps_n, wn = warp % T::warps_n;
    const int g = lane >> 2, tq = lane & 3;
    const bool dual = p.epilogue == gate_up_act;

    i64 expert, row_begin, row_end;
    if (!mma_row_tile(p, T::bm, expert, row_begin, row_end)) return;
    const i64 n0 = i64(blockIdx.x) * (dual ? mma_bn / 2 : mma_bn);
    const i64 rb = p.row_blocks, ksteps = rb / 2, nb = p.k / 32;
    const uint4* const x_lo = p.xq;
    const uint4* const x_hi = x_lo + p.xq_rows * nb;
    const int2* const x_meta = reinterpret_cast<const int2*>(x_lo + 2 * p.xq_rows * nb);

    // Loader state: A chunk c = tid + 256·i (row c / 4, chunk c % 4), the rows' metadata (tid < 2·BM: row
    // tid / 2, block tid % 2), one W chunk and (tid < 128) one scale pair per stage.
    constexpr int a_iters = (E::a_chunks + mma_threads - 1) / mma_threads;
    i64 a_row[a_iters];
    int a_dst[a_iters], a_ch[a_iters];
    bool a_ok[a_iters];
#pragma unroll
    for (int i = 0; i < a_iters; ++i) {
        const int c = tid + mma_threads * i, ar = c >> 2, ch = c & 3;
        const i64 r = row_begin + ar;
        a_ok[i] = c < E::a_chunks && r < row_end;
        a_row[i] = a_ok[i] ? mma_a_row(p, r) : 0;
        a_ch[i] = ch;
        a_dst[i] = ar * 64 + ((ch ^ ((ar >> 1) & 3)) * 16);
    }
    const int mr = tid >> 1, mb = tid & 1;
    const bool m_ok = tid < 2 * T::bm && row_begin + mr < row_end;
    const i64 m_row = m_ok ? mma_a_row(p, row_begin + mr) : 0;
    const mma_w_loader wl(p, expert, n0, dual, tid);

    auto load_stage = [&](int stage, i64 ks) {
        unsigned char* base = mma_smem + stage * E::stage_bytes;
#pragma unroll
        for (int i = 0; i < a_iters; ++i) {
            const i64 b = 2 * ks + (a_ch[i] >> 1);
            const bool ok = a_ok[i] && b < nb;
            const uint4* src = ((a_ch[i] & 1) ? x_hi : x_lo) + a_row[i] * nb + b;
            if (tid + mma_threads * i < E::a_chunks)
                cp_async16(base + a_dst[i], ok ? static_cast<const void*>(src) : static_cast<const void*>(p.xq), ok);
        }
        if (tid < 2 * T::bm) {
            const bool ok = m_ok && 2 * ks + mb < nb;
            cp_async8(base + E::a_bytes + tid * 8, ok ? static_cast<const void*>(x_meta + m_row * nb + 2 * ks + mb)
                                                      : static_cast<const void*>(p.xq), ok);
        }
        wl.load(p, base + E::a_bytes + E::am_bytes, base + E::a_bytes + E::am_bytes + E::w_bytes, tid, ks);
    };

    float acc[MT][NT][4];
    mma_zero(acc);
    int wt_row[NT];
    mma_weight_tile_rows(dual, wn, wt_row);

    mma_pipeline_fill(load_stage, ksteps);
    for (i64 ks = 0; ks < ksteps; ++ks) {
        mma_pipeline_advance(load_stage, ks, ksteps);
        const unsigned char* base = mma_smem + int(ks % mma_stages) * E::stage_bytes;
        const unsigned char* sa = base;
        const int2* sm = reinterpret_cast<const int2*>(base + E::a_bytes);
        const unsigned char* sw = base + E::a_bytes + E::am_bytes;
        const std::uint16_t* sd = reinterpret_cast<const std::uint16_t*>(base + E::a_bytes + E::am_bytes + E::w_bytes);
#pragma unroll
        for (int blk = 0; blk < 2; ++blk) {
            if (2 * ks + blk >= nb) break;  // CTA-uniform: the padded block of an odd count
            // B fragments: thread (g, tq) holds elements 4tq..4tq+3 (b0, low nibbles of the block's bytes 4tq..4tq+3)
            // and 16+4tq.. (b1, their high nibbles) of weight row g of the n8 tile; and the scales of its columns.
            unsigned b0[NT], b1[NT];
            float dw[NT][2];
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int r = wt_row[j] + g;
                const unsigned word = *reinterpret_cast<const unsigned*>(sw + r * 32 + ((blk ^ ((r >> 2) & 1)) * 16) + 4 * tq);
                b0[j] = word & 0x0F0F0F0Fu;
                b1[j] = (word >> 4) & 0x0F0F0F0Fu;
                dw[j][0] = fp16_bits_to_float(sd[(wt_row[j] + 2 * tq) * 2 + blk]);
                dw[j][1] = fp16_bits_to_float(sd[(wt_row[j] + 2 * tq + 1) * 2 + blk]);
            }
#pragma unroll
            for (int i = 0; i < MT; ++i) {
                const int row16 = wm * (16 * MT) + i * 16;
                const int ar = row16 + (lane & 7) + ((lane >> 3) & 1) * 8, ch = 2 * blk + (lane >> 4);
                unsigned af[4];
                ldmatrix_x4(af, sa + ar * 64 + ((ch ^ ((ar >> 1) & 3)) * 16));
                const int2 m_lo = sm[(row16 + g) * 2 + blk], m_hi = sm[(row16 + g + 8) * 2 + blk];
                const float dx_lo = __int_as_float(m_lo.x), dx_hi = __int_as_float(m_hi.x);
                const int bias_lo = m_lo.y - 0x4B400000, bias_hi = m_hi.y - 0x4B400000;  // -8·Σq_x of the row's block
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    int c[4] = {bias_lo, bias_lo, bias_hi, bias_hi};
                    mma_s8u8(c, af, b0[j], b1[j]);
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        acc[i][j][e] = __fadd_rn(acc[i][j][e], __fmul_rn(__int2float_rn(c[e]),
                                                                         __fmul_rn(dw[j][e & 1], e < 2 ? dx_lo : dx_hi)));
                }
            }
        }
    }
    cp_async_wait<0>();

    // h = act(gate)·up in fp32 by pair (moe_ffn_act_kernel's form)
    mma_epilogue(p, acc, row_begin, row_end, n0, wm, wn, g, tq, [&](i64 r, i64 col, float gv, float uv) {
        p.hf[i64(p.sorted_pair[r]) * p.ldh + col] = __fmul_rn(ffn_act(p.act, gv), uv);
    });
}

// ---- conversions ------------------------------------------------------------------------------------------

/// Where a conversion CTA sits: its block index and grid (x, y) and its thread (x, y), so that the two
/// conversions run as kernels of their own or share one launch (convert_and_dequant_bf16_kernel).
struct cta_position {
    int bx, by, gx, gy, tx, ty;
};

/// out[r][c] = bf16(x(r)[c]) for r < rows, c < k (K % 8 == 0); x(r) = x + (r / per)·ld0 + (r % per)·ld1.
/// grid (ceil(K / 8 / 64), min(ceil(rows / 4), 65535)), block (64, 4): ty picks the row, each thread
/// converts 8 elements per step (two float4 loads where the row is 16-byte aligned) with one 16-byte store.
__device__ __forceinline__ void rows_to_bf16_cta(const cta_position& at, const float* x, i64 ld0, i64 ld1, int per,
                                                 i64 rows, i64 k, __nv_bfloat16* out) {
    constexpr int bdx = 64, bdy = 4;
    const int chunks = int(k / 8);
    for (i64 r = at.by * i64(bdy) + at.ty; r < rows; r += i64(at.gy) * bdy) {
        const int ri = int(r);  // rows < 2^31
        const float* src = x + (ri / per) * ld0 + (ri % per) * ld1;
        const bool vec = (reinterpret_cast<std::uintptr_t>(src) & 15u) == 0;
        uint4* dst = reinterpret_cast<uint4*>(out + r * k);
        for (int c = at.bx * bdx + at.tx; c < chunks; c += at.gx * bdx) {
            float4 a, b;
            if (vec) {
                a = __ldg(reinterpret_cast<const float4*>(src) + 2 * c);
                b = __ldg(reinterpret_cast<const float4*>(src) + 2 * c + 1);
            } else {
                const float* e = src + 8 * c;
                a = make_float4(__ldg(e), __ldg(e + 1), __ldg(e + 2), __ldg(e + 3));
                b = make_float4(__ldg(e + 4), __ldg(e + 5), __ldg(e + 6), __ldg(e + 7));
            }
            const __nv_bfloat162 v0 = __floats2bfloat162_rn(a.x, a.y), v1 = __floats2bfloat162_rn(a.z, a.w);
            const __nv_bfloat162 v2 = __floats2bfloat162_rn(b.x, b.y), v3 = __floats2bfloat162_rn(b.z, b.w);
            dst[c] = make_uint4(bf162_bits(v0), bf162_bits(v1), bf162_bits(v2), bf162_bits(v3));
        }
    }
}

template <class = void>  // a template: one definition across translation units
__global__ void __launch_bounds__(256) rows_to_bf16_kernel(const float* x, i64 ld0, i64 ld1, int per, i64 rows, i64 k,
                                                           __nv_bfloat16* out) {
    const cta_position at{int(blockIdx.x), int(blockIdx.y), int(gridDim.x), int(gridDim.y), int(threadIdx.x), int(threadIdx.y)};
    rows_to_bf16_cta(at, x, ld0, ld1, per, rows, k, out);
}

constexpr int dequant_rows_per_cta = 8;   // one warp per row
constexpr int dequant_units_per_lane = 4; // half blocks (8 quant bytes) per lane per row, loads first

/// out[n][k] = bf16(d·(q - 8)) for the N rows of one expert (row stride K), exactly bf16(d·q) as the
/// CPU `fast` mode rounds it. grid (ceil(2·(K/32) / 128), min(ceil(N / 8), 65535)), block (32, 8):
/// warp ty takes rows ty, ty + 8·gy, ...; lane l takes the half blocks ("units", 8 quant bytes
/// = elements 8h..8h+7 (low nibbles) and 16+8h..16+8h+7 (high nibbles) of block v / 2, h = v % 2)
/// v = bx·128 + l + 32·u, u < 4: all four 8-byte quant loads and scale loads are issued
/// before the first conversion; each unit becomes two 16-byte stores (a warp writes whole 32-byte
/// sectors). No 64-bit division.
__device__ __forceinline__ void dequant_q4_0_bf16_cta(const cta_position& at, const std::uint8_t* qs, const std::uint16_t* d,
                                                      i64 n, i64 k, i64 row_blocks, __nv_bfloat16* out) {
    constexpr int U = dequant_units_per_lane;
    const int units = int(k / 32) * 2;
    const int v0 = at.bx * (32 * U) + at.tx;
    for (i64 r = at.by * i64(dequant_rows_per_cta) + at.ty; r < n; r += i64(at.gy) * dequant_rows_per_cta) {
        const uint2* q2 = reinterpret_cast<const uint2*>(qs + r * row_blocks * 16);  // unit v at q2[v]
        const std::uint16_t* dr = d + r * row_blocks;
        uint2 q[U];
        std::uint16_t dh[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int v = v0 + 32 * u;
            if (v < units) {
                q[u] = __ldg(q2 + v);
                dh[u] = __ldg(dr + (v >> 1));
            } else {
                q[u] = make_uint2(0, 0);
                dh[u] = 0;
            }
        }
        uint4* o = reinterpret_cast<uint4*>(out + r * k);  // 16-byte chunk c = elements 8c..8c+7
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int v = v0 + 32 * u;
            if (v >= units) continue;
            const float dv = fp16_bits_to_float(dh[u]);
            const unsigned w0 = q[u].x, w1 = q[u].y;  // bytes 8h..8h+3, 8h+4..8h+7 of the block
            // low nibbles: elements 8h..8h+7 (chunk 4·(v/2) + h); high nibbles: 16 + 8h.. (chunk + 2)
            const uint4 lo = make_uint4(deq_pair(w0, 0, 8, dv), deq_pair(w0, 16, 24, dv), deq_pair(w1, 0, 8, dv),
                                        deq_pair(w1, 16, 24, dv));
            const uint4 hi = make_uint4(deq_pair(w0, 4, 12, dv), deq_pair(w0, 20, 28, dv), deq_pair(w1, 4, 12, dv),
                                        deq_pair(w1, 20, 28, dv));
            const int c = 4 * (v >> 1) + (v & 1);
            o[c] = lo;
            o[c + 2] = hi;
        }
    }
}

/// Both conversions of the dequant + cuBLAS path in one launch (one launch gap and one ramp and tail
/// fewer): the first xg.x·xg.y CTAs are rows_to_bf16_kernel's grid xg, the rest the dequantization's
/// grid wg, in row-major order; 256 threads, laid out as each kernel's block (64 × 4, 32 × 8).
struct convert_and_dequant_params {
    const float* x;
    i64 ldx, m, k;
    __nv_bfloat16* xb;
    const std::uint8_t* qs;
    const std::uint16_t* d;
    i64 n, row_blocks;
    __nv_bfloat16* wb;
    int xgx, xgy, wgx, wgy;
};

template <class = void>  // a template: one definition across translation units
__global__ void __launch_bounds__(256) convert_and_dequant_bf16_kernel(convert_and_dequant_params p) {
    const int b = int(blockIdx.x), t = int(threadIdx.x), x_ctas = p.xgx * p.xgy;
    if (b < x_ctas) {
        rows_to_bf16_cta(cta_position{b % p.xgx, b / p.xgx, p.xgx, p.xgy, t % 64, t / 64}, p.x, p.ldx, 0, 1, p.m, p.k, p.xb);
    } else {
        const int wb = b - x_ctas;
        dequant_q4_0_bf16_cta(cta_position{wb % p.wgx, wb / p.wgx, p.wgx, p.wgy, t % 32, t / 32}, p.qs, p.d, p.n, p.k,
                              p.row_blocks, p.wb);
    }
}

// ---- MoE ----------------------------------------------------------------------------------------------------

constexpr int moe_sort_threads = 1024;

/// Dynamic shared memory of moe_sort_kernel for E experts (E + 1 buckets; the last holds bad ids).
inline std::size_t moe_sort_smem_bytes(i64 experts) { return std::size_t(34) * std::size_t(experts + 1) * sizeof(int); }

/// One CTA of 1024 threads. Stable counting sort of the R = m·top_k pairs p = t·top_k + s by expert
/// (pairs of one expert keep ascending p), without atomics on the order: per round of 1024 pairs, the
/// rank inside a warp comes from __match_any_sync, the warps' counts are scanned per expert in warp
/// order. Pairs whose id is outside [0, E) go to bucket E (never computed) and set *error_flag.
/// Outputs: sorted_pair[row] = p, row_of[p] = row, tiles (expert, row_begin, row_end) of at most bm rows
/// for the experts in ascending order, *tile_count. rank is scratch (R ints). When nan_y is not null
/// (moe_gemm), the output rows nan_y + t·ldy_token + s·ldy_slot (nan_n floats) of bad pairs become NaN.
template <class = void>
__global__ void __launch_bounds__(moe_sort_threads)
    moe_sort_kernel(const std::int32_t* ids, i64 ld_ids, i64 m, int top_k, int experts, int bm, int* rank,
                    std::int32_t* sorted_pair, std::int32_t* row_of, int4* tiles, int* tile_count, int* error_flag,
                    float* nan_y, i64 nan_n, i64 ldy_token, i64 ldy_slot) {
    extern __shared__ int sort_smem[];
    pdl_launch_dependents();  // by_expert: the grouped kernel after it waits (pdl_wait) for the tiles
    const int e1 = experts + 1;
    int* wc = sort_smem;          // (32 warps, E + 1)
    int* total = wc + 32 * e1;    // (E + 1) pairs per bucket so far
    int* off = total + e1;        // (E + 1) first sorted row of each bucket
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const i64 rows = m * top_k;
    auto bucket_of = [&](i64 pair) {
        const std::int32_t e = ids[(pair / top_k) * ld_ids + pair % top_k];
        return (e < 0 || e >= experts) ? experts : int(e);
    };
    for (int b = tid; b < e1; b += blockDim.x) total[b] = 0;
    // Up to moe_sort_threads pairs (decode) are sorted in one round, and each thread keeps its pair's bucket and
    // rank in registers for the scatter below; more take rounds and go through `rank`.
    const bool one_round = rows <= moe_sort_threads;
    int my_bucket = 0, my_rank = 0;
    for (i64 r0 = 0; r0 < rows; r0 += moe_sort_threads) {
        const i64 pair = r0 + tid;
        const bool valid = pair < rows;
        const int e = valid ? bucket_of(pair) : -1;  // the id load is in flight while wc is cleared
        for (int i = tid; i < 32 * e1; i += blockDim.x) wc[i] = 0;
        __syncthreads();
        if (valid && e == experts) atomicOr(error_flag, 1);
        const unsigned same = __match_any_sync(0xffffffffu, e);
        const int in_warp = __popc(same & ((1u << lane) - 1u));
        if (valid && in_warp == 0) wc[warp * e1 + e] = __popc(same);
        __syncthreads();
        for (int b = tid; b < e1; b += blockDim.x) {  // exclusive scan over the warps, per bucket
            int run = total[b];
            for (int w = 0; w < 32; ++w) {
                const int c = wc[w * e1 + b];
                wc[w * e1 + b] = run;
                run += c;
            }
            total[b] = run;
        }
        __syncthreads();
        if (valid) {
            my_bucket = e;
            my_rank = wc[warp * e1 + e] + in_warp;
            if (!one_round) rank[pair] = my_rank;
        }
        __syncthreads();
    }
    if (warp == 0) {  // bucket offsets and tiles: lane l takes a run of buckets, exclusive scans over the lanes
        const int per = (e1 + 31) / 32, b0 = min(e1, lane * per), b1 = min(e1, b0 + per);
        int rows_in = 0, tiles_in = 0;
        for (int b = b0; b < b1; ++b) {
            rows_in += total[b];
            if (b < experts) tiles_in += (total[b] + bm - 1) / bm;
        }
        int row_run = rows_in, tile_run = tiles_in;
        for (int o = 1; o < 32; o <<= 1) {
            const int r = __shfl_up_sync(0xffffffffu, row_run, o), t = __shfl_up_sync(0xffffffffu, tile_run, o);
            if (lane >= o) {
                row_run += r;
                tile_run += t;
            }
        }
        row_run -= rows_in;
        tile_run -= tiles_in;
        for (int b = b0; b < b1; ++b) {
            off[b] = row_run;
            if (b < experts)
                for (int r = 0; r < total[b]; r += bm) tiles[tile_run++] = make_int4(b, row_run + r, row_run + min(r + bm, total[b]), 0);
            row_run += total[b];
        }
        if (lane == 31) *tile_count = tile_run;  // every tile is before lane 31's end
    }
    __syncthreads();
    for (i64 pair = tid; pair < rows; pair += blockDim.x) {
        const int row = one_round ? off[my_bucket] + my_rank : off[bucket_of(pair)] + rank[pair];
        sorted_pair[row] = std::int32_t(pair);
        row_of[pair] = row;
    }
    // Launched as a programmatic dependent of a quantizing pass (by_expert), this kernel must not complete before
    // that pass: the kernel after it waits for this one only. (An ordinary launch: no effect.)
    pdl_wait();
    if (!nan_y || total[experts] == 0) return;
    __syncthreads();  // sorted_pair of the bad bucket is written
    for (i64 i = tid; i < i64(total[experts]) * nan_n; i += blockDim.x) {
        const i64 pair = sorted_pair[off[experts] + i / nan_n];
        nan_y[(pair / top_k) * ldy_token + (pair % top_k) * ldy_slot + i % nan_n] = __int_as_float(0x7fc00000);
    }
}

/// moe_ffn (GEMV path, mode fast): h[p][c] = bf16(act(g[p][c])·u[p][c]) (the product in fp32), stored as
/// fp32 (the down GEMV's input). Exact mode forms h in q4_0_gemv_row_exact_kernel instead.
template <class = void>  // a template: one definition across translation units
__global__ void moe_ffn_act_kernel(const float* gsrc, const float* usrc, float* h, i64 count, int act) {
    for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < count; i += i64(gridDim.x) * blockDim.x)
        h[i] = __bfloat162float(__float2bfloat16_rn(__fmul_rn(ffn_act(act, gsrc[i]), usrc[i])));
}

/// moe_ffn: y[t][c] = Σ_s w[t][s]·o[row(t, s)][c] in slot order, each product and sum rounded to fp32
/// (no FMA), NaN where an id is out of range. row(t, s) = row_of[t·top_k + s], or t·top_k + s when null.
template <class = void>  // a template: one definition across translation units
__global__ void moe_ffn_reduce_kernel(const float* o, i64 ldo, const std::int32_t* row_of, const std::int32_t* ids,
                                      i64 ld_ids, int top_k, int experts, const float* weights, i64 ld_weights, i64 m,
                                      i64 k, float* y, i64 ldy) {
    pdl_wait();  // launched as a programmatic dependent of the down projection
    for (i64 idx = blockIdx.x * i64(blockDim.x) + threadIdx.x; idx < m * k; idx += i64(gridDim.x) * blockDim.x) {
        const i64 t = idx / k, c = idx % k;
        float sum = 0.0f;
        for (int s = 0; s < top_k; ++s) {
            const std::int32_t e = ids[t * ld_ids + s];
            const i64 pair = t * top_k + s;
            const float v = (e >= 0 && e < experts) ? o[i64(row_of ? row_of[pair] : pair) * ldo + c] : __int_as_float(0x7fc00000);
            const float term = __fmul_rn(weights ? weights[t * ld_weights + s] : 1.0f, v);
            sum = s == 0 ? term : __fadd_rn(sum, term);
        }
        y[t * ldy + c] = sum;
    }
}

}  // namespace detail
}  // namespace cuda
AMXMM_NAMESPACE_END
