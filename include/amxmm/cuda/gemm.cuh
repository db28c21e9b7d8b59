// Dense Q4_0 GEMM / GEMV on NVIDIA GPUs: Y (m × N) = X (m × K) · Wᵀ, W a cuda::q4_0_weight.
//
//   amxmm::cuda::context ctx;                                   // per device: cuBLAS handle, error flag
//   auto w = amxmm::cuda::q4_0_weight::upload({blocks, N, K});   // GGUF Q4_0 -> GPU layout (weight.cuh)
//   ctx.reserve(amxmm::cuda::gemm_workspace_bytes(M_max, w.layout()));   // once, outside the hot path
//   auto plan = amxmm::cuda::gemm_q4_0(ctx, w.view(), M, x_dev, K, y_dev, N, {}, stream);
//
// Paths (gemm_path; plan.path says which ran and why; options.path forces one):
//   gemv           m <= 8: each weight byte read once with 16-byte loads. Two arithmetics (plan.mode):
//                  exact: compute_mode::exact, the CPU's: the activations quantized to Q8_0
//                    (quantize_row_q8_0_ref bit for bit: int8 quants + scales, m·(K/32)·40 bytes) once, by
//                    a pass into the workspace, then a warp per weight row reads them
//                    through L1 (q4_0_gemv_row_exact_kernel, an ordinary grid, a programmatic dependent of
//                    the pass on sm_90+); per-block integer dots (__dp4a), each block's term
//                    float(sumi)·(d_w·d_x) rounded as reference_gemm_exact rounds it; the terms are
//                    summed in fp32 in the kernel's fixed order, so the result matches
//                    reference_gemm_exact to fp32 summation order (not bit for bit).
//                  fast:  fp32 arithmetic throughout: y = Σ_blocks d·Σ_j x_j·(q_j - 8), x not rounded
//                    (persistent CTAs stage the m·K·4 bytes in shared memory, two chunks in flight per
//                    warp, long rows split along K over warps of a CTA). Most accurate; matches
//                    reference_gemm_fp64 to fp32 rounding.
//                  Either way the summation order follows from the shape alone: the same bits on every
//                  device and for any grid.
//   mma            tensor cores: W tiles dequantized in registers to bf16(d·(q - 8)) (the CPU `fast`
//                  mode's operand, bit for bit), X rounded to bf16 (RNE), mma.sync m16n8k16 with fp32
//                  accumulation over all of K. Matches reference_gemm_fast to fp32 rounding.
//                  In mode exact (q4_0_mma_exact_kernel): X quantized to Q8_0 once (as for the exact gemv),
//                  each Q4_0 block one integer mma.sync m16n8k32 (int8 activations × the weight's nibbles),
//                  and every output element updated y = y + float(s_b)·(d_w·d_x) block after block: the
//                  arithmetic and order of reference_gemm_exact, so it equals the CPU's exact result bit
//                  for bit, at any m.
//   dequant_cublas W dequantized to a bf16 workspace (same operands as mma), X to bf16, then
//                  cublasGemmEx (bf16 in, fp32 compute and out). Same numerics class as mma.
//   wgmma          Hopper (sm_90 device, code built for sm_90a; context::features().wgmma): the mma
//                  path's operands, dequantized into shared memory while the warpgroup MMAs of the
//                  previous K step run (kernels_sm90.cuh). Where the output has few 128 × 128 tiles, K
//                  is cut into slices (plan.k_splits, from the shape alone) whose partial sums are added
//                  in slice order. Matches reference_gemm_fast to fp32 rounding.
//   automatic      gemv up to m = 8; then, on weights of 2^24 elements (N·K) and more, wgmma (where
//                  available) up to m = 256; dequant_cublas for the rest; the constants below cite the
//                  measurements.
// Compute modes (options.mode; plan.mode says which ran):
//   exact      the exact gemv where it can run (m <= 8, staged activations within
//              gemv_exact_max_smem_bytes), else the exact mma kernel; forcing exact with path
//              dequant_cublas or wgmma is refused with errc::unsupported. Activations must be finite (the
//              device does not check: a non-finite element makes its activation row's outputs NaN).
//   fast       the fp32 gemv, or the bf16 mma / dequant_cublas paths.
//   automatic  as the CPU's automatic mode does for small m: exact where the gemv path is chosen
//              (forced or automatic), fast on the mma, wgmma and dequant_cublas paths.
//
// Every call: takes a cudaStream_t and only enqueues work on it (no device synchronization, no
// allocation; workspace from options.workspace or the context's reserved one); runs on the context's device,
// which must be the current one (errc::invalid_argument otherwise); checks its arguments, and that each
// launch's grid can hold the call (errc::unsupported), before anything is enqueued; reports CUDA and cuBLAS
// failures as amxmm::error(errc::system) with the runtime's message: each launch's own status, so an earlier
// failed runtime call of the caller's (its error still pending in cudaGetLastError()) is neither reported
// nor cleared. Results are deterministic: each output element is one thread's fixed-order sum
// (cuBLAS: deterministic for a given GPU, as NVIDIA documents, with its workspace pinned per context).
// x, y and the weight are device memory; y must not overlap x.
// Programmatic dependent launch (sm_90+): a call's first kernel starts only after the work enqueued before
// it; inside a call, later kernels may start early and wait (griddepcontrol) for what they read. A call's
// last kernel may let whatever is launched after it *as a programmatic dependent* start early too
// (moe_ffn's exact decode does): a kernel of yours launched with
// cudaLaunchAttributeProgrammaticStreamSerialization must call cudaGridDependencySynchronize() before it
// reads y (kernels launched without that attribute wait as usual).
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../gemm/moe.hpp"
#include "error.cuh"
#include "kernels.cuh"
#include "kernels_sm90.cuh"
#include "weight.cuh"

AMXMM_NAMESPACE_BEGIN
namespace cuda {

/// Which kernel a call runs.
enum class gemm_path {
    automatic,       ///< pick by shape (plan_gemm_q4_0 says how)
    gemv,            ///< small m (<= 8): bandwidth kernel, exact (Q8_0 + dp4a) or fp32 (fast)
    mma,             ///< fused dequantize + tensor-core kernel
    dequant_cublas,  ///< dequantize W to bf16, then cuBLAS (dense only)
    wgmma,           ///< fused dequantize + Hopper warpgroup-MMA kernel (sm_90a code on an sm_90 device)
};

inline const char* to_string(gemm_path p) noexcept {
    switch (p) {
        case gemm_path::automatic: return "automatic";
        case gemm_path::gemv: return "gemv";
        case gemm_path::mma: return "mma";
        case gemm_path::dequant_cublas: return "dequant_cublas";
        case gemm_path::wgmma: return "wgmma";
    }
    return "?";
}

/// How an exact MoE call on the gemv path (moe.cuh) meets its experts' weights. Dense calls ignore it.
enum class moe_gemv_grouping {
    automatic,  ///< by_expert where the call's (token, slot) pairs are expected to share experts (plan_moe_q4_0)
    per_pair,   ///< each pair reads its expert's rows: the fewest kernels, best where pairs rarely share an expert
    by_expert,  ///< pairs sorted by expert; each weight row is read once for up to 4 pairs of its expert (exact only)
};

inline const char* to_string(moe_gemv_grouping g) noexcept {
    switch (g) {
        case moe_gemv_grouping::automatic: return "automatic";
        case moe_gemv_grouping::per_pair: return "per_pair";
        case moe_gemv_grouping::by_expert: return "by_expert";
    }
    return "?";
}

/// Caller choices for a CUDA GEMM / MoE call.
struct gemm_options {
    gemm_path path = gemm_path::automatic;
    compute_mode mode = compute_mode::automatic;  ///< exact (gemv or mma), fast, or automatic (see the file comment)
    /// MoE only: the exact gemv per (token, slot) pair or grouped by expert. by_expert runs the gemv path in
    /// exact mode (refused with mode fast or a tensor-core path); per_pair applies where the exact gemv runs.
    moe_gemv_grouping moe_grouping = moe_gemv_grouping::automatic;
    /// Device workspace, 256-byte aligned, >= the *_workspace_bytes query for the call. Null: the
    /// context's reserved workspace (context::reserve).
    void* workspace = nullptr;
    std::size_t workspace_bytes = 0;
};

/// What the device can run beyond the sm_80 baseline (context::features()).
struct gpu_features {
    /// The wgmma kernel is usable: an sm_90 device running code built for sm_90a (the context asks
    /// the device which code it loaded; CMAKE_CUDA_ARCHITECTURES needs "90a", not only "90").
    bool wgmma = false;
};

/// What a call runs and why, and the workspace it needs.
struct gemm_plan {
    gemm_path path = gemm_path::gemv;
    compute_mode mode = compute_mode::exact;  ///< exact (gemv) or fast; never automatic
    int tile_rows = 0;                ///< mma: rows per CTA tile (32, 64 or 128); gemv: rows per CTA set
    int k_splits = 1;                 ///< wgmma: K cut into this many slices (partial sums added in order)
    std::size_t workspace_bytes = 0;  ///< device workspace the call needs
    std::string reason;
};

/// Rows up to which `gemv` can run (its activations are staged in shared memory).
inline constexpr std::int64_t gemv_max_rows = 8;
/// Shared memory the fp32 (`fast`) gemv kernel may use for the activations (m·K·4 bytes).
inline constexpr std::size_t gemv_max_smem_bytes = 96 * 1024;
/// Bound on the quantized activations of an exact gemv call (m·(K/32)·40 bytes: m = 8 up to K = 16384).
/// Dense exact calls keep them in the workspace; the exact MoE kernels stage one row of K per CTA in shared
/// memory (moe_rows_exact_kernel, K·40/32 + 128 bytes, and for moe_ffn's gate/up up to 8 KiB more: x as loaded),
/// which above 96 KiB needs a device with that much shared memory per block (A100, H100, H200: 163 KiB and more;
/// others refuse the launch with errc::system).
inline constexpr std::size_t gemv_exact_max_smem_bytes = 160 * 1024;
// Exact dense gemv calls quantize the activations once into the call's workspace (m·(K/32)·40 bytes; every
// CTA quantizing all m·K elements itself took 94 us at m = 8, K=14336 N=4096 on an H200) and run
// q4_0_gemv_row_exact_kernel (a warp per weight row, the quantized rows read through L1), not the
// persistent kernel that stages them in shared memory (which moe_gemm with per-slot rows still uses).
// H200, cold, m = 8: 8.0 vs 8.7 us (K2048 N4096), 11.6 vs 16.3 (K4096 N4096), 32.5 vs 48.9 (K14336
// N4096); the one loss is K4096 N14336, 31.8 vs 28.0 us.
/// automatic: gemv (mode exact) up to this many rows where its activations fit in shared memory,
/// dequant_cublas above. Measured with bench/cuda_gemm.cu on an H200, 2026-11-26 (bench/RESULTS.md),
/// cold weights: with the activations quantized once the exact gemv beats
/// dequant_cublas at every m <= 8 on every dense shape (m = 8: 8.6 vs 12.4 us at K=2048 N=4096, 28 vs
/// 77 us at K=4096 N=14336, 49 vs 76 us at K=14336 N=4096); dequant_cublas beats the fused mma kernel at
/// every m >= 16 (12.3 vs 22.9 us at K=2048 N=4096 m = 16, 21.6 vs 53 us at m = 512), so mma is not
/// chosen automatically for dense products (MoE uses it).
inline constexpr std::int64_t gemv_auto_max_rows = 8;
/// automatic on a device with the wgmma kernel (context::features().wgmma): wgmma above the gemv's rows up
/// to this m on weights of at least wgmma_auto_min_weight elements, dequant_cublas above. H100, 2026-11-26
/// (bench/RESULTS.md, "The wgmma kernel"), whole calls as CUDA graph replays: wgmma/dequant_cublas time
/// 0.41–0.86 at m = 9..128 on K4096 N4096, K4096 N14336 and K14336 N4096 (the dequant pass writes a bf16
/// copy of W on every call, wgmma reads the Q4_0 bytes once per row tile), 0.71–0.97 at m = 256, 1.09–1.47
/// at m >= 512 (with the dequantization in its loop a K step takes ~0.8 us, ~40% of the tensor peak).
inline constexpr std::int64_t wgmma_auto_max_rows = 256;
/// ... and only on weights of at least this many elements (N·K). A smaller weight gives the wgmma kernel
/// few 128-column tiles, so each CTA walks a long K serially: ~11 us even at N = K = 1024, where
/// dequant_cublas takes 5.6. H200, 2026-11-29 (bench/RESULTS.md, session 19; dequant_cublas converting x and
/// W in one launch), dequant_cublas/wgmma time at m = 9..128, hot and cold: N·K = 2^20: 0.51–0.54;
/// 2^22: 0.73–0.79; N4096 K2048 (2^23): 0.86–0.92; N6144 K2048: 0.80–0.95; N2048 K4096 (2^23): 0.95–1.06,
/// the one smaller shape where wgmma wins, by up to 6%; at 2^24 (N4096 K4096, N8192 K2048, N2048 K8192)
/// 1.09–1.27 up to m = 64 and 0.94–1.34 at m = 128: wgmma stays there. (The H100 measured K2048 N4096 at
/// 1.01–1.05 before the conversions shared a launch.)
inline constexpr std::int64_t wgmma_auto_min_weight = std::int64_t(1) << 24;
/// The same limit when mode fast is requested (the fp32 gemv, whose activations each CTA stages as
/// fp32): it ties dequant_cublas at m = 8 (13.0 vs 12.4 us, K=2048 N=4096), so 4.
inline constexpr std::int64_t gemv_fast_auto_max_rows = 4;

namespace detail {

/// CTAs the wgmma path's split K aims for: two per SM of an H100. A fixed number, not the device's, so
/// that the split, and with it the summation order, follows from the shape alone.
inline constexpr std::int64_t wgmma_split_target_ctas = 264;
/// K slices of a wgmma call: enough to give about wgmma_split_target_ctas CTAs when the output has
/// fewer tiles, each slice at least 8 steps (512 of K). Slices = ceil(steps / ceil(steps / s)), so none
/// is empty. Not above m = wgmma_split_max_rows: there the partial planes (slices·m·N·4 bytes written
/// and read back) cost more than the idle SMs save (H100, K2048 N4096 m = 512 forced to wgmma: 35.9 us
/// in two slices, ~29 us in one).
inline constexpr std::int64_t wgmma_split_max_rows = 256;
inline std::int64_t wgmma_k_splits(std::int64_t m, const q4_0_device_layout& L) {
    if (m > wgmma_split_max_rows) return 1;
    const std::int64_t tiles = (L.n + mma_bn - 1) / mma_bn * ((m + wgmma_bm - 1) / wgmma_bm);
    const std::int64_t steps = L.row_blocks() / 2;
    const std::int64_t want = std::clamp<std::int64_t>(wgmma_split_target_ctas / tiles, 1, std::max<std::int64_t>(1, steps / 8));
    const std::int64_t per = (steps + want - 1) / want;
    return (steps + per - 1) / per;
}

inline constexpr std::size_t ws_align = 256;
inline std::size_t ws_round(std::size_t b) { return (b + ws_align - 1) / ws_align * ws_align; }

inline int mma_tile_rows_for(std::int64_t rows) { return rows <= 32 ? 32 : rows <= 64 ? 64 : 128; }
/// ... for the exact kernel (q4_0_mma_exact_kernel): at most 64 (with 128-row tiles its 64 accumulators, the
/// B fragments and the column scales need more than 128 registers: ptxas spilled, sm_90a).
inline int mma_exact_tile_rows_for(std::int64_t rows) { return rows <= 32 ? 32 : 64; }

/// Checks options.mode / options.path, and that a forced wgmma path has the kernel on this device.
inline void require_mode(const gemm_options& opt, const char* fn, const gpu_features& features) {
    require(opt.mode == compute_mode::automatic || opt.mode == compute_mode::fast || opt.mode == compute_mode::exact,
            errc::invalid_argument, fn, "options.mode = ", int(opt.mode), " is not a compute_mode value");
    require(opt.path == gemm_path::automatic || opt.path == gemm_path::gemv || opt.path == gemm_path::mma ||
                opt.path == gemm_path::dequant_cublas || opt.path == gemm_path::wgmma,
            errc::invalid_argument, fn, "options.path = ", int(opt.path), " is not a gemm_path value");
    require(opt.path != gemm_path::wgmma || features.wgmma, errc::unsupported, fn,
            "options.path = wgmma needs an sm_90 device running code built for sm_90a "
            "(CMAKE_CUDA_ARCHITECTURES 90a); this context's device or build has no wgmma kernel");
}

inline void validate_layout(const q4_0_device_layout& L, const char* fn, const char* name) {
    require(L.experts >= 1, errc::invalid_argument, fn, name, ".layout.experts = ", L.experts, " must be >= 1");
    require(L.n >= 1 && L.n < (std::int64_t(1) << 31), errc::invalid_argument, fn, name, ".layout.n = ", L.n,
            " must be in [1, 2^31)");
    require(L.k >= 32 && L.k % 32 == 0 && L.k < (std::int64_t(1) << 31), errc::invalid_argument, fn, name,
            ".layout.k = ", L.k, " is not a positive multiple of 32 below 2^31");
}

inline void validate_view(const q4_0_device_view& w, const char* fn, const char* name) {
    validate_layout(w.layout, fn, name);
    require(w.qs != nullptr && w.d != nullptr, errc::invalid_argument, fn, name, " has a null device pointer");
    require(reinterpret_cast<std::uintptr_t>(w.qs) % 16 == 0 && reinterpret_cast<std::uintptr_t>(w.d) % 4 == 0,
            errc::invalid_argument, fn, name, ".qs / .d are not 16- / 4-byte aligned (use q4_0_weight::view())");
}

/// Most grid rows (gridDim.y) of a launch: the tile kernels take one per row tile (dense) or expert tile (MoE).
inline constexpr std::int64_t max_grid_rows = 65535;

/// Launch helpers (grid-stride kernels).
inline unsigned grid_for(std::int64_t work, int threads) {
    return unsigned(std::clamp<std::int64_t>((work + threads - 1) / threads, 1, 8192));
}

/// Refuses a call made while a device other than `device` (the context's) is current: the context's workspace,
/// error flag and cuBLAS handle live on its device, the kernels would run on the current one.
inline void require_current_device(int device, const char* fn) {
    int current = 0;
    check_cuda(cudaGetDevice(&current), fn, "cudaGetDevice");
    require(current == device, errc::invalid_argument, fn, "the current device is ", current, ", the context's is ", device,
            " (cudaSetDevice(", device, ") before the call, or use a context made on device ", current, ")");
}

/// True when the current device can launch programmatic dependents (compute capability 9.0 and later).
inline bool device_has_pdl(const char* fn) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), fn, "cudaGetDevice");
    thread_local std::vector<std::pair<int, bool>> cache;
    for (const auto& c : cache)
        if (c.first == device) return c.second;
    int major = 0;
    check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), fn, "cudaDeviceGetAttribute");
    cache.emplace_back(device, major >= 9);
    return major >= 9;
}

/// Launches kernel<<<grid, block, dynamic_smem, stream>>>(args...); when `dependent`, as a programmatic
/// dependent of the kernel before it where the device supports it: it may start once that kernel has called
/// pdl_launch_dependents(), so it must call pdl_wait() before it reads what the kernels before it write (or
/// writes what they read). Not dependent: an ordinary launch, which starts when all work before it is done.
/// Throws amxmm::error(errc::system) for the launch's own status, leaving an earlier error of the caller's alone
/// (a sticky error, e.g. an earlier kernel's fault, fails every launch: it shows here too).
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, const char* fn, const char* what,
                   std::size_t dynamic_smem, bool dependent, Args&&... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = dynamic_smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = dependent && device_has_pdl(fn) ? 1 : 0;
    check_cuda(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), fn, what);
}
/// launch_kernel(..., dependent = true, ...).
template <class... Params, class... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, const char* fn, const char* what,
                      std::size_t dynamic_smem, Args&&... args) {
    launch_kernel(kernel, grid, block, stream, fn, what, dynamic_smem, true, std::forward<Args>(args)...);
}

}  // namespace detail

/// Decides the path for an m-row product with weight layout L (experts must be 1), without running it.
/// `features`: the device's (context::features()); the default (no wgmma) plans as on a pre-Hopper device.
/// Throws errc::unsupported for a product that cannot run as asked: a forced path that cannot, or more row tiles
/// than one launch takes (mma / wgmma above m = 65535·tile_rows; mode exact with automatic path: m > 4194240).
inline gemm_plan plan_gemm_q4_0(std::int64_t m, const q4_0_device_layout& L, const gemm_options& opt = {},
                                const gpu_features& features = {}) {
    constexpr const char* fn = "cuda::gemm_q4_0";
    detail::require_mode(opt, fn, features);
    gemm_plan plan;
    const int mr = int(std::clamp<std::int64_t>(m, 1, gemv_max_rows));
    const bool rows_ok = m <= gemv_max_rows;
    const bool exact_fits = rows_ok && detail::gemv_act_smem_bytes(mr, L.k, true) <= gemv_exact_max_smem_bytes;
    const bool fast_fits = rows_ok && detail::gemv_act_smem_bytes(mr, L.k, false) <= gemv_max_smem_bytes;
    if (opt.path == gemm_path::gemv) {
        if (opt.mode == compute_mode::fast) {
            detail::require(fast_fits, errc::unsupported, fn, "options.path = gemv with mode fast needs m <= ",
                            gemv_max_rows, " and m·K·4 <= ", gemv_max_smem_bytes, " bytes (m = ", m, ", K = ", L.k,
                            "; mode exact stages 40 bytes per 32 elements)");
            plan.mode = compute_mode::fast;
            plan.reason = "gemv: forced by options.path; mode fast requested (fp32)";
        } else {
            detail::require(exact_fits, errc::unsupported, fn, "options.path = gemv (mode ", to_string(opt.mode),
                            ": exact) needs m <= ", gemv_max_rows, " and m·(K/32)·40 <= ", gemv_exact_max_smem_bytes,
                            " bytes (m = ", m, ", K = ", L.k, ")");
            plan.mode = compute_mode::exact;
            plan.reason = opt.mode == compute_mode::exact ? "gemv: forced by options.path; mode exact requested"
                                                          : "gemv: forced by options.path; mode exact (auto: gemv path)";
        }
        plan.path = gemm_path::gemv;
    } else if (opt.path == gemm_path::mma || opt.path == gemm_path::dequant_cublas || opt.path == gemm_path::wgmma) {
        detail::require(opt.mode != compute_mode::exact || opt.path == gemm_path::mma, errc::unsupported, fn,
                        "options.mode = exact with options.path = ", to_string(opt.path),
                        ": exact mode runs on the gemv and mma paths (use path mma, gemv or automatic, or mode fast)");
        plan.path = opt.path;
        plan.mode = opt.mode == compute_mode::exact ? compute_mode::exact : compute_mode::fast;
        plan.reason = std::string(to_string(opt.path)) + ": forced by options.path; " +
                      (opt.mode == compute_mode::exact ? "mode exact requested (Q8_0 x, integer block products)"
                                                       : "mode fast (bf16 operands)");
    } else if (opt.mode == compute_mode::exact) {
        plan.mode = compute_mode::exact;
        if (exact_fits) {
            plan.path = gemm_path::gemv;
            plan.reason = "gemv (auto: mode exact requested, m <= " + std::to_string(gemv_max_rows) + ")";
        } else {
            plan.path = gemm_path::mma;
            plan.reason = "mma (auto: mode exact requested and the exact gemv cannot run: m > " +
                          std::to_string(gemv_max_rows) + " or its staged activations exceed " +
                          std::to_string(gemv_exact_max_smem_bytes) + " bytes); integer block products";
        }
    } else if (const std::int64_t auto_rows = opt.mode == compute_mode::fast ? gemv_fast_auto_max_rows : gemv_auto_max_rows;
               (opt.mode == compute_mode::fast ? fast_fits : exact_fits) && m <= auto_rows) {
        plan.path = gemm_path::gemv;
        plan.mode = opt.mode == compute_mode::fast ? compute_mode::fast : compute_mode::exact;
        plan.reason = "gemv (auto: m <= " + std::to_string(auto_rows) + ", weight-bandwidth bound); " +
                      (opt.mode == compute_mode::fast ? "mode fast requested (fp32)" : "mode exact (auto: gemv path)");
    } else if (features.wgmma && m <= wgmma_auto_max_rows && L.n * L.k >= wgmma_auto_min_weight) {
        plan.path = gemm_path::wgmma;
        plan.mode = compute_mode::fast;
        plan.reason = m <= auto_rows ? "wgmma (auto: the gemv's staged activation bytes exceed its shared memory)"
                                     : "wgmma (auto: " + std::to_string(auto_rows) + " < m <= " +
                                           std::to_string(wgmma_auto_max_rows) + " and N·K >= 2^24 on an sm_90a device: " +
                                           "no bf16 copy of W to write)";
        plan.reason += opt.mode == compute_mode::fast ? "; mode fast requested" : "; mode fast (auto: not the gemv path)";
    } else {
        plan.path = gemm_path::dequant_cublas;
        plan.mode = compute_mode::fast;
        plan.reason = m <= auto_rows
                          ? "dequant_cublas (auto: the gemv's staged activation bytes exceed its shared memory)"
                          : "dequant_cublas (auto: m > " + std::to_string(auto_rows) +
                                (features.wgmma ? (L.n * L.k < wgmma_auto_min_weight ? "; N·K < 2^24: too small a weight for the wgmma kernel"
                                                                            : "; above the wgmma kernel's range")
                                                : "; measured faster than the fused mma kernel at every dense shape") + ")";
        plan.reason += opt.mode == compute_mode::fast ? "; mode fast requested" : "; mode fast (auto: not the gemv path)";
    }
    const std::size_t xb = detail::ws_round(std::size_t(std::max<std::int64_t>(m, 0)) * std::size_t(L.k) * 2);
    // exact (gemv or mma): the quantized activations; fast: the gemv needs nothing, the mma x in bf16
    const std::size_t xq = detail::ws_round(detail::q8_rows_items(std::max<std::int64_t>(m, 0), L.k) * 16);
    const bool exact = plan.mode == compute_mode::exact;
    switch (plan.path) {
        case gemm_path::gemv:
            plan.tile_rows = int(std::max<std::int64_t>(m, 1));
            plan.workspace_bytes = exact ? xq : 0;
            break;
        case gemm_path::mma:
            plan.tile_rows = exact ? detail::mma_exact_tile_rows_for(m) : detail::mma_tile_rows_for(m);
            plan.workspace_bytes = exact ? xq : xb;
            break;
        case gemm_path::wgmma:
            plan.tile_rows = detail::wgmma_bm;
            plan.k_splits = int(detail::wgmma_k_splits(std::max<std::int64_t>(m, 1), L));
            plan.workspace_bytes = xb + (plan.k_splits > 1 ? detail::ws_round(std::size_t(plan.k_splits) * std::size_t(m) *
                                                                               std::size_t(L.n) * 4)
                                                           : 0);
            break;
        default:
            plan.workspace_bytes = xb + detail::ws_round(std::size_t(L.n) * std::size_t(L.k) * 2);
    }
    if (plan.path == gemm_path::mma || plan.path == gemm_path::wgmma) {  // a grid row per row tile: refused here, so
        const std::int64_t tiles = (m + plan.tile_rows - 1) / plan.tile_rows;  // before a call enqueues anything
        detail::require(tiles <= detail::max_grid_rows, errc::unsupported, fn, to_string(plan.path), " (mode ",
                        to_string(plan.mode), ") with m = ", m, " makes ", tiles, " tiles of ", plan.tile_rows,
                        " rows; one launch takes at most ", detail::max_grid_rows, " (m <= ",
                        detail::max_grid_rows * plan.tile_rows, "): split the rows over several calls");
    }
    return plan;
}

namespace detail {
/// The most workspace that calls with 1 .. m rows need: plan(rows) is a call's plan, ws(plan, rows) its need. Plans change
/// with the row count (paths, K slices, MoE grouping and tile rows), and a smaller call can need more than a larger one
/// (the wgmma kernel's K-slice partial sums at small m; moe_ffn's fp32 h when grouped by expert, or in fast mode on the
/// gemv path; the MoE tile list when the tiles grow from 64 to 128 rows), so reserving for the largest m must cover every
/// smaller one. Every row count up to 65536 is planned (planning is ~0.3 us; most plan changes happen far below that).
/// Above, a plan holds over one run of row counts (its choices are thresholds on quantities that grow with m: pairs per
/// expert, tile rows) and its need grows with m, so the last row count of each run is found by bisection and planned.
template <class Plan, class Ws>
std::size_t most_workspace_upto(std::int64_t m, Plan plan, Ws ws) {
    constexpr std::int64_t planned = 65536;
    std::size_t most = 0;
    for (std::int64_t rows = 1; rows <= std::min(m, planned); ++rows) most = std::max(most, ws(plan(rows), rows));
    const auto same = [](const gemm_plan& a, const gemm_plan& b) {
        return a.path == b.path && a.mode == b.mode && a.tile_rows == b.tile_rows && a.k_splits == b.k_splits;
    };
    for (std::int64_t first = planned + 1; first <= m;) {
        const gemm_plan p = plan(first);
        std::int64_t last = first, beyond = m + 1;  // p holds at `last`; not at `beyond` (or it is past m)
        if (same(plan(m), p)) last = m;
        else beyond = m;
        while (beyond - last > 1) {
            const std::int64_t mid = last + (beyond - last) / 2;
            if (same(plan(mid), p))
                last = mid;
            else
                beyond = mid;
        }
        most = std::max(most, ws(p, last));
        first = last + 1;
    }
    return most;
}
}  // namespace detail

/// Device workspace bytes that any gemm_q4_0 call with up to m rows needs (reserve it once for the largest m; a
/// call's own need is plan_gemm_q4_0(...).workspace_bytes). On the gemv path: the quantized activations of an exact
/// call, 0 in mode fast. Without a context this is an upper bound for every device: the automatic path is planned as
/// on a device without wgmma (dequant_cublas needs the most). Throws as plan_gemm_q4_0 does where m rows cannot run.
inline std::size_t gemm_workspace_bytes(std::int64_t m, const q4_0_device_layout& L, const gemm_options& opt = {}) {
    return detail::most_workspace_upto(
        m, [&](std::int64_t rows) { return plan_gemm_q4_0(rows, L, opt, gpu_features{opt.path == gemm_path::wgmma}); },
        [](const gemm_plan& plan, std::int64_t) { return plan.workspace_bytes; });
}

/// Per-device state reused by every call: a cuBLAS handle with its own workspace, the device flag that
/// MoE calls raise on an out-of-range expert id, and optionally a reserved workspace for the calls.
/// Create it on the device it is for (the current device); not thread-safe (one per host thread/stream
/// family, as with a cuBLAS handle).
class context {
public:
    /// Sets up on the current device; `workspace_bytes` reserves the call workspace at once.
    explicit context(std::size_t workspace_bytes = 0) {
        constexpr const char* fn = "cuda::context";
        detail::check_cuda(cudaGetDevice(&device_), fn, "cudaGetDevice");
        int major = 0, minor = 0;
        detail::check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_), fn,
                           "cudaDeviceGetAttribute");
        detail::check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device_), fn,
                           "cudaDeviceGetAttribute");
        detail::require(major >= 8, errc::unsupported, fn, "device ", device_, " has compute capability ", major, ".",
                        minor, "; amxmm::cuda needs 8.0 or newer (bf16 tensor cores, cp.async)");
        detail::check_cublas(cublasCreate(&cublas_), fn, "cublasCreate");
        try {
            cublas_ws_ = device_buffer(cublas_workspace_bytes);
            flag_ = device_buffer(sizeof(int));
            detail::check_cuda(cudaMemset(flag_.data(), 0, sizeof(int)), fn, "cudaMemset(error flag)");
            detail::check_cuda(cudaMallocHost(&host_flag_, sizeof(int)), fn, "cudaMallocHost");
            set_kernel_attributes();
            if (major == 9) probe_wgmma();
            reserve(workspace_bytes);
        } catch (...) {
            release();
            throw;
        }
    }
    context(const context&) = delete;
    context& operator=(const context&) = delete;
    ~context() { release(); }

    /// Grows the context's call workspace to at least `bytes` (allocates; call outside the hot path).
    /// Throws errc::invalid_argument where another device is current (the workspace is for the context's).
    void reserve(std::size_t bytes) {
        if (bytes > workspace_.size()) {
            detail::require_current_device(device_, "cuda::context::reserve");
            workspace_ = device_buffer();
            workspace_ = device_buffer(bytes);
        }
    }
    void* workspace() const noexcept { return workspace_.data(); }
    std::size_t workspace_bytes() const noexcept { return workspace_.size(); }
    int device() const noexcept { return device_; }
    cublasHandle_t cublas() const noexcept { return cublas_; }
    /// Device int set to 1 by a MoE call that met an expert id outside [0, E).
    int* error_flag() const noexcept { return static_cast<int*>(flag_.data()); }

    /// Synchronizes `stream` (explicitly: this is the one call that does), reads and clears the error
    /// flag, and throws amxmm::error(errc::out_of_range) if a MoE call on it met an expert id outside
    /// [0, E) since the last check. Those (token, slot) rows were written as NaN, nothing else.
    void check_routing(cudaStream_t stream) {
        constexpr const char* fn = "cuda::context::check_routing";
        detail::require_current_device(device_, fn);  // (on another device, the copy would not follow `stream`'s work)
        detail::check_cuda(cudaMemcpyAsync(host_flag_, flag_.data(), sizeof(int), cudaMemcpyDeviceToHost, stream), fn,
                           "cudaMemcpyAsync");
        detail::check_cuda(cudaStreamSynchronize(stream), fn, "cudaStreamSynchronize");
        const int seen = *host_flag_;
        if (seen) {
            detail::check_cuda(cudaMemsetAsync(flag_.data(), 0, sizeof(int), stream), fn, "cudaMemsetAsync");
            detail::check_cuda(cudaStreamSynchronize(stream), fn, "cudaStreamSynchronize");
            throw error(errc::out_of_range, std::string(fn) +
                                                ": routing.ids held an expert id outside [0, E) on the device; "
                                                "those (token, slot) outputs are NaN");
        }
    }

    /// cuBLAS workspace owned by the context (set on the handle for every call).
    static constexpr std::size_t cublas_workspace_bytes = std::size_t(32) << 20;
    void* cublas_workspace() const noexcept { return cublas_ws_.data(); }

private:
    void set_kernel_attributes() {
        constexpr const char* fn = "cuda::context";
        const auto smem = [&](const void* k, std::size_t bytes, const char* what) {
            detail::check_cuda(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), fn, what);
        };
        smem(reinterpret_cast<const void*>(&detail::q4_0_mma_kernel<2, 1>), detail::mma_tile<2, 1>::smem_bytes, "mma<2,1> attribute");
        smem(reinterpret_cast<const void*>(&detail::q4_0_mma_kernel<2, 2>), detail::mma_tile<2, 2>::smem_bytes, "mma<2,2> attribute");
        smem(reinterpret_cast<const void*>(&detail::q4_0_mma_kernel<4, 2>), detail::mma_tile<4, 2>::smem_bytes, "mma<4,2> attribute");
        // The grouping kernel keeps (34 × (E + 1)) ints in shared memory: as many experts as the device allows.
        int optin = 0;
        detail::check_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_), fn,
                           "cudaDeviceGetAttribute");
        moe_max_experts_ = std::min<std::int64_t>(4096, std::int64_t(optin) / (34 * std::int64_t(sizeof(int))) - 1);
        smem(reinterpret_cast<const void*>(&detail::moe_sort_kernel<>), detail::moe_sort_smem_bytes(moe_max_experts_),
             "moe_sort attribute");
    }
    /// Asks the device whether the code it loaded for this context's kernels is sm_90a's (wgmma). A
    /// build without sm_90 code at all fails the launch: then there is no wgmma either.
    void probe_wgmma() {
        constexpr const char* fn = "cuda::context";
        cudaLaunchConfig_t cfg{};
        cfg.gridDim = dim3(1);
        cfg.blockDim = dim3(1);
        // The launch's own status: cudaGetLastError() would also see (and clear) an earlier error of the caller's.
        const cudaError_t earlier = cudaPeekAtLastError();
        if (cudaLaunchKernelEx(&cfg, detail::sm90a_probe_kernel<>, error_flag()) != cudaSuccess) {
            if (earlier == cudaSuccess) (void)cudaGetLastError();  // clear our own failure, the only error there was
            return;                                                // no image for this device: features stay off
        }
        detail::check_cuda(cudaMemcpy(host_flag_, flag_.data(), sizeof(int), cudaMemcpyDeviceToHost), fn,
                           "cudaMemcpy(probe)");
        features_.wgmma = *host_flag_ == 1;
        *host_flag_ = 0;
        detail::check_cuda(cudaMemset(flag_.data(), 0, sizeof(int)), fn, "cudaMemset(error flag)");
    }
    void release() noexcept {
        if (host_flag_) cudaFreeHost(host_flag_);
        host_flag_ = nullptr;
        if (cublas_) cublasDestroy(cublas_);
        cublas_ = nullptr;
    }

public:
    /// Most experts a grouped (mma) MoE call may have on this device (the grouping kernel's shared
    /// memory: about 1700 on H100, 720 on devices with 99 KiB per block).
    std::int64_t moe_max_experts() const noexcept { return moe_max_experts_; }

    /// What this device (with the code this program carries) can run beyond the sm_80 baseline.
    const gpu_features& features() const noexcept { return features_; }

private:
    gpu_features features_;
    std::int64_t moe_max_experts_ = 0;
    int device_ = 0;
    cublasHandle_t cublas_ = nullptr;
    device_buffer cublas_ws_, flag_, workspace_;
    int* host_flag_ = nullptr;
};

namespace detail {

/// The workspace of a call: options.workspace (checked) or the context's (checked), never allocated.
inline std::byte* call_workspace(context& ctx, const gemm_options& opt, std::size_t need, const char* fn) {
    if (opt.workspace) {
        require(reinterpret_cast<std::uintptr_t>(opt.workspace) % ws_align == 0, errc::invalid_argument, fn,
                "options.workspace = ", opt.workspace, " is not 256-byte aligned");
        require(opt.workspace_bytes >= need, errc::buffer_too_small, fn, "options.workspace_bytes = ",
                opt.workspace_bytes, " is less than the ", need, " bytes this call needs");
        return static_cast<std::byte*>(opt.workspace);
    }
    require(ctx.workspace_bytes() >= need, errc::buffer_too_small, fn, "the context's workspace is ",
            ctx.workspace_bytes(), " bytes, this call needs ", need,
            " (ctx.reserve(...) it once with the *_workspace_bytes query, or pass options.workspace)");
    return static_cast<std::byte*>(ctx.workspace());
}

/// Carves 256-byte-aligned pieces from a workspace.
struct ws_carver {
    std::byte* base;
    std::size_t offset = 0;
    template <class T>
    T* take(std::size_t count) {
        T* p = reinterpret_cast<T*>(base + offset);
        offset += ws_round(count * sizeof(T));
        return p;
    }
};

/// rows_to_bf16_kernel's grid for `rows` rows of k.
inline dim3 rows_to_bf16_grid(std::int64_t rows, std::int64_t k) {
    return dim3(unsigned(std::clamp<std::int64_t>((k / 8 + 63) / 64, 1, 65535)),
                unsigned(std::clamp<std::int64_t>((rows + 3) / 4, 1, 65535)));
}

inline void convert_rows_bf16(const float* x, std::int64_t ld0, std::int64_t ld1, int per, std::int64_t rows,
                              std::int64_t k, __nv_bfloat16* out, cudaStream_t stream, const char* fn) {
    launch_kernel(rows_to_bf16_kernel<>, rows_to_bf16_grid(rows, k), dim3(64, 4), stream, fn,
                  "cudaLaunchKernelEx(rows_to_bf16_kernel)", 0, false, x, ld0, ld1, per, rows, k, out);
}

/// The dequant + cuBLAS path's two conversions in one launch: xb (m × K bf16) = bf16(x), and wb (N × K
/// bf16, row stride K) = bf16(d·(q - 8)) of a dense weight.
inline void convert_and_dequant_bf16(const float* x, std::int64_t ldx, std::int64_t m, const q4_0_device_view& w,
                                     __nv_bfloat16* xb, __nv_bfloat16* wb, cudaStream_t stream, const char* fn) {
    const std::int64_t units = 2 * w.layout.blocks_per_row(), per_cta = 32 * dequant_units_per_lane;
    // Each part under 2^30 CTAs, so that their sum stays under the launch's x limit (2^31 - 1) and the kernel's
    // int CTA index: both walk their rows grid-stride in y.
    constexpr std::int64_t part_max = (std::int64_t(1) << 30) - 1;
    dim3 xg = rows_to_bf16_grid(m, w.layout.k);
    xg.y = unsigned(std::min<std::int64_t>(xg.y, std::max<std::int64_t>(1, part_max / xg.x)));
    const std::int64_t wgx = (units + per_cta - 1) / per_cta;
    const dim3 wg(unsigned(wgx), unsigned(std::clamp<std::int64_t>((w.layout.n + dequant_rows_per_cta - 1) / dequant_rows_per_cta, 1,
                                                                   std::max<std::int64_t>(1, part_max / wgx))));
    const convert_and_dequant_params p{x, ldx, m, w.layout.k, xb, w.qs, w.d, w.layout.n, w.layout.row_blocks(), wb,
                                       int(xg.x), int(xg.y), int(wg.x), int(wg.y)};
    const unsigned ctas = xg.x * xg.y + wg.x * wg.y;
    launch_kernel(convert_and_dequant_bf16_kernel<>, dim3(ctas), dim3(256), stream, fn,
                  "cudaLaunchKernelEx(convert_and_dequant_bf16_kernel)", 0, false, p);
}

/// CTAs of `kernel` (threads, smem) the current device holds at once: SMs × occupancy, cached per
/// (kernel, smem, device, thread). Pass the address taken where the kernel is launched (as for
/// ensure_dynamic_smem, after it).
inline std::int64_t resident_ctas(const void* kernel, int threads, std::size_t smem, const char* fn) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), fn, "cudaGetDevice");
    struct known {
        const void* kernel;
        int device;
        std::size_t smem;
        std::int64_t ctas;
    };
    thread_local std::vector<known> cache;
    for (const known& c : cache)
        if (c.kernel == kernel && c.device == device && c.smem == smem) return c.ctas;
    int sms = 0, per_sm = 0;
    check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), fn, "cudaDeviceGetAttribute");
    check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem), fn,
               "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    const std::int64_t ctas = std::int64_t(std::max(sms, 1)) * std::max(per_sm, 1);
    cache.push_back({kernel, device, smem, ctas});
    return ctas;
}

/// q4_0_gemv_row_exact_kernel over `pairs` pairs (dense: 1, p.ids null, m rows; p.qs_up set: gate and up
/// with the activation epilogue, m = 1) right after the pass that quantized its activations into p.xq:
/// N / 8 CTAs per pair, as a programmatic dependent of that pass where the device supports it (its weight
/// loads overlap the pass; measured in bench/RESULTS.md).
inline void launch_gemv_row_exact(int m, const gemv_row_params& p, std::int64_t pairs, cudaStream_t stream, const char* fn) {
    require(pairs >= 1 && pairs <= 65535, errc::unsupported, fn, "gemv over ", pairs, " (token, slot) pairs (at most 65535)");
    const dim3 grid(unsigned((p.n + gemv_row_warps - 1) / gemv_row_warps), unsigned(pairs)), block(32 * gemv_row_warps);
    constexpr const char* what = "cudaLaunchKernelEx(q4_0_gemv_row_exact_kernel)";
    if (p.qs_up) {
        require(m == 1, errc::invalid_argument, fn, "gate + up row gemv with m = ", m, " (internal: 1 only)");
        launch_dependent(q4_0_gemv_row_exact_kernel<1, true>, grid, block, stream, fn, what, 0, p);
        return;
    }
    switch (m) {
        case 1: launch_dependent(q4_0_gemv_row_exact_kernel<1, false>, grid, block, stream, fn, what, 0, p); break;
        case 2: launch_dependent(q4_0_gemv_row_exact_kernel<2, false>, grid, block, stream, fn, what, 0, p); break;
        case 3: launch_dependent(q4_0_gemv_row_exact_kernel<3, false>, grid, block, stream, fn, what, 0, p); break;
        case 4: launch_dependent(q4_0_gemv_row_exact_kernel<4, false>, grid, block, stream, fn, what, 0, p); break;
        case 5: launch_dependent(q4_0_gemv_row_exact_kernel<5, false>, grid, block, stream, fn, what, 0, p); break;
        case 6: launch_dependent(q4_0_gemv_row_exact_kernel<6, false>, grid, block, stream, fn, what, 0, p); break;
        case 7: launch_dependent(q4_0_gemv_row_exact_kernel<7, false>, grid, block, stream, fn, what, 0, p); break;
        case 8: launch_dependent(q4_0_gemv_row_exact_kernel<8, false>, grid, block, stream, fn, what, 0, p); break;
        default: fail(errc::invalid_argument, fn, "row gemv with m = ", m, " (internal: 1..", gemv_max_rows, " only)");
    }
}

/// Quantizes `rows` activation rows of K = 32·nb into xq (q8_stage_rows_kernel's layout): row i at
/// x + (i / per)·ldx + (i % per)·ld_sub. `after_amxmm_kernel`: x was written by the amxmm kernel just before
/// (moe_ffn's h), so the pass is launched as its programmatic dependent; otherwise (a call's own input) it
/// starts when all work before it is done, which is what lets the row gemv after it read the weights
/// before its pdl_wait().
inline void quantize_rows_q8(const float* x, std::int64_t ldx, std::int64_t rows, std::int64_t nb, uint4* xq,
                             cudaStream_t stream, const char* fn, bool after_amxmm_kernel = false, std::int64_t per = 1,
                             std::int64_t ld_sub = 0) {
    const std::int64_t warps = rows * nb * 8 / 32;  // one warp per 32 float4 items
    const unsigned blocks = unsigned(std::clamp<std::int64_t>((warps + 7) / 8, 1, 4096));
    launch_kernel(q8_stage_rows_kernel<>, dim3(blocks), dim3(256), stream, fn, "cudaLaunchKernelEx(q8_stage_rows_kernel)", 0,
                  after_amxmm_kernel, x, ldx, int(per), ld_sub, int(rows), int(nb), xq);
}

/// The dense parameters of q4_0_gemv_row_exact_kernel for m quantized rows (y: m rows of N floats, stride ldy).
inline gemv_row_params dense_row_params(const q4_0_device_view& w, std::int64_t m, const uint4* xq, float* y, std::int64_t ldy) {
    gemv_row_params p{};
    p.qs = w.qs;
    p.d = w.d;
    p.n = w.layout.n;
    p.row_blocks = w.layout.row_blocks();
    p.nb = int(w.layout.k / 32);
    p.xq = xq;
    p.xq_rows = m;
    p.y = y;
    p.ldy_row = ldy;
    return p;
}

/// Launches the fp32 (`fast`) GEMV for m activation rows (dense: pairs = 1; MoE: one CTA row per (token,
/// slot) pair, m = 1). Fills p.ksplit and p.sets; the grid is persistent (as
/// many CTAs per pair as the device holds at once, at most one per round of row sets;
/// max_ctas_per_pair > 0 caps it: tests use that to give each CTA many rounds — the result does not
/// depend on the grid).
inline void launch_gemv(int m, std::int64_t pairs, gemv_params p, cudaStream_t stream, const char* fn,
                        std::int64_t max_ctas_per_pair = 0) {
    require(pairs >= 1 && pairs <= 65535, errc::unsupported, fn, "gemv over ", pairs, " (token, slot) pairs (at most 65535)");
    require(p.n <= (std::int64_t(1) << 30), errc::unsupported, fn, "gemv over N = ", p.n, " rows (at most 2^30)");
    const gemv_split_info split = gemv_split(m, p.n, p.k, pairs);
    p.ksplit = split.ksplit;
    p.sets = split.sets;
    const std::size_t smem = gemv_smem_bytes(m, p.k, split.groups, split.ksplit);
    const int threads = gemv_threads(m);
    // Each case raises the limit for the very stub it launches (see ensure_dynamic_smem).
    const auto go = [&](void (*kernel)(gemv_params)) {
        const void* k = reinterpret_cast<const void*>(kernel);
        ensure_dynamic_smem(k, smem, fn);
        std::int64_t per_pair = (resident_ctas(k, threads, smem, fn) + pairs - 1) / pairs;
        if (max_ctas_per_pair > 0) per_pair = std::min(per_pair, max_ctas_per_pair);
        const dim3 grid(unsigned(std::max<std::int64_t>(1, std::min<std::int64_t>(split.rounds, per_pair))), unsigned(pairs));
        launch_kernel(kernel, grid, dim3(threads), stream, fn, "cudaLaunchKernelEx(q4_0_gemv_kernel)", smem, false, p);
    };
#define AMXMM_CUDA_GEMV_CASE(M, G) go(&q4_0_gemv_kernel<M, G>)
    switch (m) {
        case 1:
            if (split.groups == 4)
                AMXMM_CUDA_GEMV_CASE(1, 4);
            else if (split.groups == 2)
                AMXMM_CUDA_GEMV_CASE(1, 2);
            else
                AMXMM_CUDA_GEMV_CASE(1, 1);
            break;
        case 2: AMXMM_CUDA_GEMV_CASE(2, 1); break;
        case 3: AMXMM_CUDA_GEMV_CASE(3, 1); break;
        case 4: AMXMM_CUDA_GEMV_CASE(4, 1); break;
        case 5: AMXMM_CUDA_GEMV_CASE(5, 1); break;
        case 6: AMXMM_CUDA_GEMV_CASE(6, 1); break;
        case 7: AMXMM_CUDA_GEMV_CASE(7, 1); break;
        case 8: AMXMM_CUDA_GEMV_CASE(8, 1); break;
        default: fail(errc::invalid_argument, fn, "gemv with m = ", m, " (internal: 1..8 only)");
    }
#undef AMXMM_CUDA_GEMV_CASE
}

/// One instance of the mma kernels: q4_0_mma_exact_kernel (Exact) or q4_0_mma_kernel on MT × WM tiles.
template <int MT, int WM, bool Exact>
inline void launch_mma_tile(dim3 grid, const mma_params& p, cudaStream_t stream, const char* fn) {
    void (*kernel)(mma_params) = nullptr;
    std::size_t smem = 0;
    if constexpr (Exact) {
        kernel = &q4_0_mma_exact_kernel<MT, WM>;
        smem = mma_exact_tile<MT, WM>::smem_bytes;
    } else {
        kernel = &q4_0_mma_kernel<MT, WM>;
        smem = mma_tile<MT, WM>::smem_bytes;
    }
    ensure_dynamic_smem(reinterpret_cast<const void*>(kernel), smem, fn);
    launch_kernel(kernel, grid, dim3(mma_threads), stream, fn,
                  Exact ? "cudaLaunchKernelEx(q4_0_mma_exact_kernel)" : "cudaLaunchKernelEx(q4_0_mma_kernel)", smem, false, p);
}

inline void launch_mma(int tile_rows, dim3 grid, const mma_params& p, cudaStream_t stream, const char* fn) {
    require(grid.y <= 65535u, errc::unsupported, fn, "too many row tiles (", grid.y, ") for one launch");
    switch (tile_rows) {
        case 32: launch_mma_tile<2, 1, false>(grid, p, stream, fn); break;
        case 64: launch_mma_tile<2, 2, false>(grid, p, stream, fn); break;
        default: launch_mma_tile<4, 2, false>(grid, p, stream, fn); break;
    }
}

/// q4_0_mma_exact_kernel on tiles of `tile_rows` rows (32 or 64: mma_exact_tile_rows_for); p.xq / p.xq_rows set.
inline void launch_mma_exact(int tile_rows, dim3 grid, const mma_params& p, cudaStream_t stream, const char* fn) {
    require(grid.y <= 65535u, errc::unsupported, fn, "too many row tiles (", grid.y, ") for one launch");
    if (tile_rows == 32)
        launch_mma_tile<2, 1, true>(grid, p, stream, fn);
    else
        launch_mma_tile<2, 2, true>(grid, p, stream, fn);
}

/// The Hopper kernel (kernels_sm90.cuh); only where context::features().wgmma.
inline void launch_wgmma(dim3 grid, const mma_params& p, cudaStream_t stream, const char* fn) {
    require(grid.y <= 65535u, errc::unsupported, fn, "too many row tiles (", grid.y, ") for one launch");
    ensure_dynamic_smem(reinterpret_cast<const void*>(&q4_0_wgmma_kernel<>), wgmma_smem_bytes, fn);
    launch_kernel(q4_0_wgmma_kernel<>, grid, dim3(wgmma_threads), stream, fn, "cudaLaunchKernelEx(q4_0_wgmma_kernel)",
                  wgmma_smem_bytes, false, p);
}

inline gemv_params dense_gemv_params(const q4_0_device_view& w, const float* x, std::int64_t ldx, float* y,
                                     std::int64_t ldy) {
    gemv_params p{};
    p.x = x;
    p.ldx_token = ldx;
    p.qs = w.qs;
    p.d = w.d;
    p.n = w.layout.n;
    p.k = w.layout.k;
    p.row_blocks = w.layout.row_blocks();
    p.experts = 1;
    p.y = y;
    p.ldy_token = ldy;
    return p;
}

inline mma_params dense_mma_params(const q4_0_device_view& w, std::int64_t m, const __nv_bfloat16* a, float* y,
                                   std::int64_t ldy) {
    mma_params p{};
    p.a = a;
    p.lda = w.layout.k;
    p.a_rows = a_identity;
    p.qs = w.qs;
    p.d = w.d;
    p.n = w.layout.n;
    p.k = w.layout.k;
    p.row_blocks = w.layout.row_blocks();
    p.m = m;
    p.epilogue = store_identity;
    p.y = y;
    p.ldy_token = ldy;
    return p;
}

inline bool ranges_overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

}  // namespace detail

/// Y[i][n] = Σ_k X[i][k] · W[n][k] for i < m, n < N, on `stream`.
///   ctx : per-device context (cuBLAS handle, default workspace)
///   w   : a dense GPU weight (q4_0_weight::view(); layout.experts == 1), N × K
///   x   : device, m rows of K floats, row stride ldx >= K
///   y   : device, m rows of N floats, row stride ldy >= N; must not overlap x
///   opt : path / mode / workspace (gemm_options); the workspace must hold gemm_workspace_bytes(m, ...)
/// Returns the plan it ran. Throws amxmm::error before enqueuing anything on bad arguments
/// (errc::invalid_argument, also where the current device is not ctx.device(); errc::unsupported for mode exact with
/// path dequant_cublas / wgmma, an impossible forced path, or more row tiles than a launch takes: m above
/// 65535·plan.tile_rows on the mma and wgmma paths; errc::buffer_too_small for the workspace) and errc::system for
/// CUDA / cuBLAS failures.
inline gemm_plan gemm_q4_0(context& ctx, const q4_0_device_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                           float* y, std::int64_t ldy, const gemm_options& opt, cudaStream_t stream) {
    constexpr const char* fn = "cuda::gemm_q4_0";
    detail::require_current_device(ctx.device(), fn);
    detail::validate_view(w, fn, "w");
    detail::require(w.layout.experts == 1, errc::invalid_argument, fn, "w has ", w.layout.experts,
                    " experts; pass w.expert(e) or call moe_gemm");
    detail::require(m >= 0 && m < (std::int64_t(1) << 31), errc::invalid_argument, fn, "m = ", m, " must be in [0, 2^31)");
    const std::int64_t n = w.layout.n, k = w.layout.k;
    gemm_plan plan = plan_gemm_q4_0(m, w.layout, opt, ctx.features());
    if (m == 0) return plan;
    detail::require(x != nullptr, errc::invalid_argument, fn, "x is null");
    detail::require(y != nullptr, errc::invalid_argument, fn, "y is null");
    detail::require(ldx >= k, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", k);
    detail::require(ldy >= n && ldy < (std::int64_t(1) << 31), errc::invalid_argument, fn, "ldy = ", ldy,
                    " must be in [N = ", n, ", 2^31)");
    amxmm::detail::require_row_span(fn, "ldx", m, ldx, k);
    detail::require(!detail::ranges_overlap(x, std::size_t((m - 1) * ldx + k) * 4, y, std::size_t((m - 1) * ldy + n) * 4),
                    errc::invalid_argument, fn, "y overlaps x");
    std::byte* ws = detail::call_workspace(ctx, opt, plan.workspace_bytes, fn);
    detail::ws_carver carve{ws};
    uint4* xq = nullptr;  // exact mode (gemv or mma): x quantized once into the workspace
    if (plan.mode == compute_mode::exact) {
        xq = carve.take<uint4>(detail::q8_rows_items(m, k));
        detail::quantize_rows_q8(x, ldx, m, k / 32, xq, stream, fn);
    }
    switch (plan.path) {
        case gemm_path::gemv: {
            if (plan.mode == compute_mode::exact) {  // a warp per weight row
                detail::launch_gemv_row_exact(int(m), detail::dense_row_params(w, m, xq, y, ldy), 1, stream, fn);
            } else {  // fp32: the persistent kernel stages the rows in shared memory
                detail::launch_gemv(int(m), 1, detail::dense_gemv_params(w, x, ldx, y, ldy), stream, fn);
            }
            break;
        }
        case gemm_path::mma: {
            const dim3 grid(unsigned((n + detail::mma_bn - 1) / detail::mma_bn), unsigned((m + plan.tile_rows - 1) / plan.tile_rows));
            if (plan.mode == compute_mode::exact) {  // integer block products on the tensor cores
                detail::mma_params p = detail::dense_mma_params(w, m, nullptr, y, ldy);
                p.xq = xq;
                p.xq_rows = m;
                detail::launch_mma_exact(plan.tile_rows, grid, p, stream, fn);
                break;
            }
            auto* xb = carve.take<__nv_bfloat16>(std::size_t(m * k));
            detail::convert_rows_bf16(x, ldx, 0, 1, m, k, xb, stream, fn);
            detail::launch_mma(plan.tile_rows, grid, detail::dense_mma_params(w, m, xb, y, ldy), stream, fn);
            break;
        }
        case gemm_path::wgmma: {
            auto* xb = carve.take<__nv_bfloat16>(std::size_t(m * k));
            detail::convert_rows_bf16(x, ldx, 0, 1, m, k, xb, stream, fn);
            detail::mma_params p = detail::dense_mma_params(w, m, xb, y, ldy);
            const int splits = plan.k_splits;
            float* part = nullptr;
            if (splits > 1) {  // partial sums per K slice in the workspace, then added in slice order
                part = carve.take<float>(std::size_t(splits) * std::size_t(m * n));
                const std::int64_t steps = w.layout.row_blocks() / 2;
                p.y = part;
                p.ldy_token = n;
                p.split_steps = (steps + splits - 1) / splits;
                p.split_stride = m * n;
            }
            const dim3 grid(unsigned((n + detail::mma_bn - 1) / detail::mma_bn), unsigned((m + detail::wgmma_bm - 1) / detail::wgmma_bm),
                            unsigned(splits));
            detail::launch_wgmma(grid, p, stream, fn);
            if (splits > 1) {
                detail::launch_kernel(detail::split_k_sum_kernel<>, dim3(detail::grid_for((m * n + 3) / 4, 256)), dim3(256), stream,
                                      fn, "cudaLaunchKernelEx(split_k_sum_kernel)", 0, false, part, splits, m, n, y, ldy);
            }
            break;
        }
        default: {
            auto* xb = carve.take<__nv_bfloat16>(std::size_t(m * k));
            auto* wb = carve.take<__nv_bfloat16>(std::size_t(n * k));
            detail::convert_and_dequant_bf16(x, ldx, m, w, xb, wb, stream, fn);
            // Column-major view: Yᵀ (N × m, ld ldy) = W (K × N col-major, transposed) · Xᵀ (K × m col-major).
            detail::check_cublas(cublasSetStream(ctx.cublas(), stream), fn, "cublasSetStream");
            detail::check_cublas(cublasSetWorkspace(ctx.cublas(), ctx.cublas_workspace(), context::cublas_workspace_bytes),
                                 fn, "cublasSetWorkspace");
            const float alpha = 1.0f, beta = 0.0f;
            detail::check_cublas(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &alpha, wb,
                                              CUDA_R_16BF, int(k), xb, CUDA_R_16BF, int(k), &beta, y, CUDA_R_32F, int(ldy),
                                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                                 fn, "cublasGemmEx");
        }
    }
    return plan;
}

/// Overload using the context's workspace and default options.
inline gemm_plan gemm_q4_0(context& ctx, const q4_0_device_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                           float* y, std::int64_t ldy, cudaStream_t stream) {
    return gemm_q4_0(ctx, w, m, x, ldx, y, ldy, gemm_options{}, stream);
}

}  // namespace cuda
AMXMM_NAMESPACE_END
