// Mixture-of-experts on the GPU: moe_gemm (ggml's MUL_MAT_ID) and moe_ffn (the fused expert FFN),
// with the CPU drivers' semantics (gemm/moe.hpp: moe_routing, moe_input_rows, ffn_activation).
//
//   moe_gemm: y(t, s)[n] = x(t, s) · W_e[n],  e = ids[t][s]
//   moe_ffn : y[t] = Σ_s w[t][s] · down_e( act(gate_e(x[t])) ⊙ up_e(x[t]) ),  e = ids[t][s]
//
// Device data: routing.ids, weights, x and y are device memory (the ids are never read on the host).
//
// How it runs.
//   mma path (any m): a one-CTA grouping kernel sorts the M·top_k (token, slot) pairs by expert with a
//     stable counting sort (pairs of one expert in ascending (token, slot) order; ranks from warp
//     match + per-warp counts scanned in warp order, no order-changing atomics) and cuts each active
//     expert's rows into tiles of 32/64/128 rows. One grouped tensor-core launch covers the tiles × the
//     N tiles; its grid is sized on the host for the worst case (detail::moe_max_tiles: (M·top_k +
//     min(E, M·top_k)·(tile - 1)) / tile tiles), so the host never waits for the grouping; CTAs past the
//     real tile count exit at once.
//     Rows are gathered by pair index; experts without tokens cost nothing.
//     moe_ffn: gate and up run in one kernel (64 columns of each per CTA) whose epilogue writes
//     h = bf16(act(gate)·up); down runs grouped on h; a last kernel sums the slots per token.
//     In mode exact (q4_0_mma_exact_kernel, tiles of 32 or 64 rows): x quantized once, then the same tiles
//     with integer block products, each row's result the CPU's exact bits; moe_ffn keeps h in fp32 by pair,
//     quantizes it, runs down on the tiles and sums the slots (the chain of the grouping by expert below).
//   wgmma path: the mma path with 128-row tiles on the Hopper kernel (q4_0_wgmma_kernel, same tiles,
//     operands and epilogues); automatic takes it instead of mma/128 where context::features().wgmma.
//   gemv path (small m): one CTA set per (token, slot) pair reads its expert's rows once with the gemv
//     kernel (moe_ffn fast: gate, up, act, down, sum as separate deterministic steps). Exact mode, by the
//     row length (detail::moe_rows_fused): rows of at most 64 blocks (K <= 2048) run moe_rows_exact_kernel
//     (32 rows of a pair per CTA, a warp per 4 rows, the pair's x row quantized per CTA; for moe_ffn's gate
//     and up it also forms h = act(g)·u and quantizes it per 32 rows); longer rows quantize x once per
//     call and run q4_0_gemv_row_exact_kernel (a warp per (pair, row); moe_ffn: its gate + up form writes
//     h in fp32, then h is quantized). moe_ffn's down, by the same rule on F: moe_down_slot_sum_kernel (a
//     warp per (token, output column) runs down for all of the token's slots and sums them), or the row
//     gemv per pair and the slot-sum kernel.
//     Grouped by expert (exact only; options.moe_grouping, or automatic where the pairs are expected to share
//     experts, see moe_by_expert_auto_min_sharing): x is quantized once, the grouping kernel sorts the pairs
//     into tiles of up to 4 pairs of one expert (detail::moe_by_expert_pairs), and moe_by_expert_exact_kernel
//     reads each weight row once per tile, forming every pair's dot with the per-pair kernels' arithmetic (the
//     same bits). moe_ffn: gate + up -> h (fp32), h quantized, down -> the pairs' outputs, the slot sum.
//
// Compute modes (plan.mode): as gemm_q4_0's. exact runs on the gemv path, or on the mma path's exact kernel
// where forced, where the gemv cannot stage x, or (automatic path and grouping) from
// moe_exact_mma_auto_min_sharing pairs per expert up; exact with path wgmma is refused (errc::unsupported).
// automatic is exact on the gemv path and fast on the mma and wgmma paths.
//
// Numerics: per (token, slot) row as gemm_q4_0's path and mode (mma: bf16 operands, fp32 accumulation;
// gemv fast: fp32; gemv exact: Q8_0 activations (quantize_row_q8_0_ref), integer block dots, fp32 block
// scaling, the CPU's exact arithmetic up to fp32 summation order; mma exact: the same, in the CPU's order:
// its bits). moe_ffn: h = act(g)·u in fp32
// (expf / tanhf), rounded to bf16 in fast mode (both paths, as the CPU `fast` mode) or kept in fp32 and
// quantized to Q8_0 per 32-block before the down gemv in exact mode (as the CPU `exact` mode; the device's
// expf / tanhf may differ from the host's by an ulp, so an h quant can differ by one); down in the
// mode's arithmetic; y[t] = (((w0·o0) + w1·o1) + ...) in slot order, each product and sum rounded to
// fp32 (no FMA). Deterministic: no atomics in any sum, fixed orders throughout.
//
// Bad expert ids. The ids live on the device, so they are checked there: a pair whose id is outside
// [0, E) is never used to address memory; its outputs (moe_gemm: its y(t, s) row; moe_ffn: its token's
// y row) are written as NaN and the context's error flag is raised; context::check_routing(stream)
// reports it as amxmm::error(errc::out_of_range). Routing weights are not checked (device memory).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <string>

#include "gemm.cuh"

AMXMM_NAMESPACE_BEGIN
namespace cuda {

/// moe_ffn options: gemm_options plus the activation.
struct moe_ffn_options : gemm_options {
    ffn_activation activation = ffn_activation::silu;
};

/// (token, slot) pairs up to which `automatic` MoE calls use the gemv path (each pair reads its
/// expert's rows; above this, grouping lets tokens share an expert's weight reads). Measured with
/// bench/cuda_gemm.cu on an H200, 2026-11-26, Qwen3-30B-A3B experts, cold: gemv beats grouped mma at
/// 64 pairs (41 vs 65 us, gate/up) and 128 pairs (62 vs 83 us); its time grows ~0.33 us per pair, so
/// grouped mma (112 us at 512 pairs) wins above a few hundred pairs.
inline constexpr std::int64_t moe_gemv_auto_max_pairs = 128;
/// ... and up to this many pairs per expert (pairs <= 2·E): with few experts the pairs share them, and each
/// pair reads its expert again. H100, 2026-11-27, Mixtral-8x7B-like experts (E = 8, top-2), cold, moe_ffn:
/// gemv 266 vs grouped mma 401 us at 8 pairs, 1030 vs 619 us at 32 (bench/RESULTS.md, session 10).
inline constexpr std::int64_t moe_gemv_auto_max_pairs_per_expert = 2;
/// `automatic` MoE calls run the exact gemv grouped by expert (moe_gemv_grouping::by_expert) where the pairs are
/// expected to share experts (moe_expected_pairs_per_expert) at least this much and at most the next constant;
/// below, the gemv per pair (within the limits above); above, the grouped tensor-core kernels (mode fast). An
/// exact-mode call groups by expert from the lower limit up. H100, 2026-11-27, cold, moe_ffn, µs (bench/RESULTS.md,
/// session 13):
///   per pair vs by expert: Qwen3-30B-A3B (E 128, top-8) M = 4 (1.10 pairs per expert) 42.4 / 48.5, M = 8 (1.24)
///   76.8 / 74.9, M = 16 (1.55) 141 / 112; Mixtral-8x7B (E 8, top-2) M = 1 76.7 / 85.6, M = 4 (1.46) 265 / 163.
///   by expert vs grouped mma: Qwen3 M = 64 (4.06) 236 / 264, M = 80 (5.03) 278 / 267; Mixtral M = 16 (4.04)
///   578 / 602, M = 20 (5.02) 693 / 605; E 64, top-8, 7168 -> 2048, M = 32 (4.06) 935 / 1152, M = 48 (6.0) 1279 / 1172.
///   moe_gemm (per-slot rows) by expert vs grouped mma: Mixtral M = 8 (2.22) 167 / 224, M = 16 (4.04) 279 / 223.
/// Grouping costs a sort and two more kernels (~4-8 us on the call's chain), so with little sharing the per-pair
/// kernels stay ahead; with much, each weight row is read once per 4 pairs where the tensor-core tiles read it
/// once per 32 or more. The upper limit is below 4.04 so that moe_gemm's per-slot rows keep grouped mma there;
/// moe_ffn alone would gain up to ~4.5.
inline constexpr double moe_by_expert_auto_min_sharing = 1.25;
inline constexpr double moe_by_expert_auto_max_sharing = 4.0;
/// MoE calls that request mode exact (path and grouping automatic) run the exact grouped mma
/// (q4_0_mma_exact_kernel) from this many expected pairs per expert up, the exact gemv (grouped by expert or per
/// pair) below. The gemv's time grows with the pairs (each pair's dot is its own dp4a work); the tensor-core tiles
/// read each weight row once per 32-64 pairs and stay flat. H100, 2026-11-27, cold, moe_ffn exact, µs (by expert /
/// exact mma; bench/RESULTS.md, session 14): Qwen3-30B-A3B M = 64 (4.06) 237 / 329, M = 96 (6.0) 320 / 332, M = 128
/// (8.0) 403 / 336, M = 192 576 / 346; Mixtral-8x7B M = 20 (5.02) 692 / 716, M = 24 (6.0) 815 / 717; E 64, top-8,
/// 7168 -> 2048, M = 48 (6.0) 1280 / 1396, M = 64 (8.0) 1639 / 1407. moe_gemm alone crosses between 4 and 9.
inline constexpr double moe_exact_mma_auto_min_sharing = 6.0;

namespace detail {
/// v with two decimals, for plan reasons.
inline std::string two_decimals(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

/// The most tiles moe_sort_kernel can make: an expert with c pairs makes ceil(c / tile_rows) <= (c + tile_rows - 1) /
/// tile_rows tiles, and at most min(E, pairs) experts have pairs, so the sum is at most (pairs + min(E, pairs)·
/// (tile_rows - 1)) / tile_rows, rounded down. Grids are sized by it (CTAs past the real count exit at once).
inline std::int64_t moe_max_tiles(std::int64_t pairs, std::int64_t experts, int tile_rows) {
    return std::max<std::int64_t>(1, (pairs + std::min(experts, pairs) * (tile_rows - 1)) / tile_rows);
}
}  // namespace detail

/// Pairs per active expert when m tokens each route to top_k distinct experts of E, uniformly at random (the
/// expectation of m·top_k / the number of experts used): 1 at m = 1, towards m·top_k / E as m grows.
inline double moe_expected_pairs_per_expert(std::int64_t m, std::int64_t top_k, std::int64_t experts) {
    if (m <= 0 || top_k <= 0 || experts <= 0) return 1.0;
    const double unused = std::pow(1.0 - double(std::min(top_k, experts)) / double(experts), double(m));
    return double(m) * double(top_k) / (double(experts) * (1.0 - unused));
}

/// Decides the path and mode of a MoE call with m tokens, top_k slots, E experts and K (the fp32 GEMV
/// needs K·4 bytes of shared memory, the exact one (K/32)·40). One path and mode for the call, from the
/// shapes only.
/// `features`: the device's (context::features()); with wgmma, calls that would run the grouped mma
/// kernel on 128-row tiles run the wgmma kernel on the same tiles (path wgmma).
/// Throws errc::unsupported for a call that cannot run as asked, also where its expert tiles (detail::moe_max_tiles)
/// exceed the 65535 grid rows of one launch (millions of pairs).
inline gemm_plan plan_moe_q4_0(std::int64_t m, std::int64_t top_k, std::int64_t experts, std::int64_t k,
                               const gemm_options& opt = {}, const gpu_features& features = {}) {
    constexpr const char* fn = "cuda::moe";
    detail::require_mode(opt, fn, features);
    const std::int64_t pairs = std::max<std::int64_t>(m, 0) * std::max<std::int64_t>(top_k, 0);
    const bool fast_fits = detail::gemv_act_smem_bytes(1, k, false) <= gemv_max_smem_bytes;
    const bool exact_fits = detail::gemv_act_smem_bytes(1, k, true) <= gemv_exact_max_smem_bytes;
    const bool fast = opt.mode == compute_mode::fast;
    const bool by_expert = opt.moe_grouping == moe_gemv_grouping::by_expert;
    const double sharing = moe_expected_pairs_per_expert(m, top_k, experts);
    gemm_plan plan;
    detail::require(opt.moe_grouping == moe_gemv_grouping::automatic || opt.moe_grouping == moe_gemv_grouping::per_pair || by_expert,
                    errc::invalid_argument, fn, "options.moe_grouping = ", int(opt.moe_grouping), " is not a moe_gemv_grouping value");
    detail::require(opt.path != gemm_path::dequant_cublas, errc::unsupported, fn,
                    "options.path = dequant_cublas is dense-only (MoE runs gemv, mma or wgmma)");
    detail::require(!(opt.mode == compute_mode::exact && opt.path == gemm_path::wgmma), errc::unsupported, fn,
                    "options.mode = exact with options.path = wgmma: exact mode runs on the gemv and mma paths (use path "
                    "mma, gemv or automatic, or mode fast)");
    detail::require(!(by_expert && (fast || opt.path == gemm_path::mma || opt.path == gemm_path::wgmma)), errc::unsupported, fn,
                    "options.moe_grouping = ", to_string(opt.moe_grouping), " groups the exact gemv: it needs mode exact or automatic "
                    "and path gemv or automatic (mode ", to_string(opt.mode), ", path ", to_string(opt.path), ")");
    const bool exact_mma =
        opt.mode == compute_mode::exact && !by_expert &&
        (opt.path == gemm_path::mma ||
         (opt.path == gemm_path::automatic &&
          (!exact_fits || (opt.moe_grouping == moe_gemv_grouping::automatic && sharing >= moe_exact_mma_auto_min_sharing))));
    if (!exact_mma && (opt.path == gemm_path::gemv || opt.mode == compute_mode::exact || by_expert)) {
        detail::require(fast ? fast_fits : exact_fits, errc::unsupported, fn, "the gemv path (mode ",
                        fast ? "fast" : "exact", ") needs ", fast ? "K·4 <= " : "(K/32)·40 <= ",
                        fast ? gemv_max_smem_bytes : gemv_exact_max_smem_bytes, " bytes (K = ", k, ")");
        plan.path = gemm_path::gemv;
        plan.reason = opt.path == gemm_path::gemv ? "gemv: forced by options.path"
                      : by_expert                 ? "gemv (auto: options.moe_grouping = by_expert, an exact gemv)"
                                                  : "gemv (auto: mode exact requested)";
    } else if (opt.path == gemm_path::mma || opt.path == gemm_path::wgmma) {
        plan.path = opt.path;
        plan.reason = std::string("grouped ") + to_string(opt.path) + ": forced by options.path";
    } else if (exact_mma) {
        plan.path = gemm_path::mma;
        plan.reason = !exact_fits ? "grouped mma (auto: mode exact requested and the exact gemv cannot stage (K/32)·40 = " +
                                        std::to_string(k / 32 * 40) + " bytes)"
                                  : "grouped mma (auto: mode exact requested, " + detail::two_decimals(sharing) +
                                        " >= " + detail::two_decimals(moe_exact_mma_auto_min_sharing) +
                                        " pairs per expert expected)";
    } else if (!fast && exact_fits && opt.moe_grouping == moe_gemv_grouping::automatic && sharing >= moe_by_expert_auto_min_sharing &&
               sharing <= moe_by_expert_auto_max_sharing) {
        plan.path = gemm_path::gemv;
        plan.reason = "gemv (auto: " + detail::two_decimals(moe_by_expert_auto_min_sharing) + " <= expected pairs per expert <= " +
                      detail::two_decimals(moe_by_expert_auto_max_sharing) + ")";
    } else if ((fast ? fast_fits : exact_fits) &&
               pairs <= std::min(moe_gemv_auto_max_pairs, moe_gemv_auto_max_pairs_per_expert * std::max<std::int64_t>(experts, 1))) {
        plan.path = gemm_path::gemv;
        plan.reason = "gemv (auto: m·top_k <= " + std::to_string(moe_gemv_auto_max_pairs) + " and <= " +
                      std::to_string(moe_gemv_auto_max_pairs_per_expert) + "·E)";
    } else {
        plan.path = gemm_path::mma;
        plan.reason = "grouped mma (auto: m·top_k > " + std::to_string(moe_gemv_auto_max_pairs) + " or > " +
                      std::to_string(moe_gemv_auto_max_pairs_per_expert) + "·E)";
    }
    plan.mode = (plan.path == gemm_path::gemv && !fast) || exact_mma ? compute_mode::exact : compute_mode::fast;
    plan.reason += plan.mode == compute_mode::exact
                       ? (opt.mode == compute_mode::exact ? (exact_mma ? "; mode exact requested (Q8_0 x, integer block products)"
                                                                       : "; mode exact requested")
                                                          : "; mode exact (auto: gemv path)")
                       : (fast ? (plan.path == gemm_path::gemv ? "; mode fast requested (fp32)" : "; mode fast requested")
                               : "; mode fast (auto: not the gemv path)");
    if (plan.path == gemm_path::wgmma) {
        plan.tile_rows = detail::wgmma_bm;
        plan.reason += "; 128-row tiles";
    } else if (plan.path == gemm_path::mma) {
        const std::int64_t active = std::max<std::int64_t>(1, std::min(std::max<std::int64_t>(experts, 1), pairs));
        const std::int64_t rows_per_expert = (pairs + active - 1) / active;
        plan.tile_rows = exact_mma ? detail::mma_exact_tile_rows_for(rows_per_expert) : detail::mma_tile_rows_for(rows_per_expert);
        plan.reason += "; " + std::to_string(plan.tile_rows) + "-row tiles (average rows per active expert under uniform routing)";
        if (features.wgmma && opt.path == gemm_path::automatic && plan.mode == compute_mode::fast &&
            plan.tile_rows == detail::wgmma_bm) {
            plan.path = gemm_path::wgmma;  // the same tiles on the Hopper kernel
            plan.reason = "grouped wgmma" + plan.reason.substr(std::string("grouped mma").size()) +
                          "; wgmma: the same tiles on the sm_90a kernel";
        }
    } else if (plan.mode == compute_mode::exact &&
               (by_expert || (opt.moe_grouping == moe_gemv_grouping::automatic && sharing >= moe_by_expert_auto_min_sharing))) {
        plan.tile_rows = detail::moe_by_expert_pairs;
        plan.reason += by_expert ? "; by expert: options.moe_grouping"
                                 : "; by expert (auto: " + detail::two_decimals(sharing) + " pairs per expert expected)";
        plan.reason += ", each weight row read once per " + std::to_string(plan.tile_rows) + " pairs of its expert";
    } else {
        plan.tile_rows = 1;
        plan.reason += plan.mode == compute_mode::exact && opt.moe_grouping == moe_gemv_grouping::per_pair
                           ? "; per (token, slot) pair: options.moe_grouping"
                           : "; per (token, slot) pair";
    }
    if (plan.tile_rows > 1) {  // expert tiles (grouped, or by expert): a grid row each; refused here, before any enqueue
        const std::int64_t tiles = detail::moe_max_tiles(pairs, std::max<std::int64_t>(experts, 1), plan.tile_rows);
        detail::require(tiles <= detail::max_grid_rows, errc::unsupported, fn, "m·top_k = ", pairs, " pairs over E = ", experts,
                        " experts make up to ", tiles, " expert tiles of ", plan.tile_rows, " rows (", to_string(plan.path),
                        " path); one launch takes at most ", detail::max_grid_rows, ": split the tokens over several calls");
    }
    return plan;
}

namespace detail {

/// Grouping buffers of the mma path.
struct moe_grouping {
    int* rank = nullptr;
    std::int32_t* sorted_pair = nullptr;
    std::int32_t* row_of = nullptr;
    int4* tiles = nullptr;
    int* tile_count = nullptr;
    std::int64_t max_tiles = 0;
};

inline moe_grouping carve_grouping(ws_carver& c, std::int64_t pairs, std::int64_t experts, int tile_rows) {
    moe_grouping g;
    g.rank = c.take<int>(std::size_t(pairs));
    g.sorted_pair = c.take<std::int32_t>(std::size_t(pairs));
    g.row_of = c.take<std::int32_t>(std::size_t(pairs));
    g.max_tiles = moe_max_tiles(pairs, experts, tile_rows);
    g.tiles = c.take<int4>(std::size_t(g.max_tiles));
    g.tile_count = c.take<int>(1);
    return g;
}

/// What every exact MoE decode kernel's parameters start from: weight w (and up: the gate + up form with
/// activation act), quantized activations q (null where the kernel quantizes x itself), output y, and the
/// routing r over E = experts (out-of-range ids raise error_flag). Each launcher sets its own strides.
inline gemv_row_params moe_row_params(const q4_0_device_view& w, const q4_0_device_view* up, int act, const uint4* q,
                                      float* y, const moe_routing& r, std::int64_t experts, int* error_flag) {
    gemv_row_params p = dense_row_params(w, 1, q, y, 0);
    if (up) {
        p.qs_up = up->qs;
        p.d_up = up->d;
        p.act = act;
    }
    p.ids = r.ids;
    p.ld_ids = r.ld_ids;
    p.experts = experts;
    p.top_k = int(r.top_k);
    p.error_flag = error_flag;
    return p;
}

/// moe_row_params for kernels that read quantized activation rows: pair (t, s) reads row t·q_token + s·q_slot of the
/// `rows` rows at q and writes y + t·ldy_token + s·ldy_slot.
inline gemv_row_params moe_pair_row_params(const q4_0_device_view& w, const q4_0_device_view* up, int act, const uint4* q,
                                           std::int64_t rows, std::int64_t q_token, std::int64_t q_slot, float* y,
                                           std::int64_t ldy_token, std::int64_t ldy_slot, const moe_routing& r,
                                           std::int64_t experts, int* error_flag) {
    gemv_row_params p = moe_row_params(w, up, act, q, y, r, experts, error_flag);
    p.xq_rows = rows;
    p.xq_token = q_token;
    p.xq_slot = q_slot;
    p.ldy_token = ldy_token;
    p.ldy_slot = ldy_slot;
    return p;
}

/// q4_0_gemv_row_exact_kernel over every (token, slot) pair of `r` with weight w (and up: the gate + up
/// form, h = act(gate·x)·(up·x) in fp32), activation row t·q_token + s·q_slot of the `rows` quantized rows at
/// q, output row y + t·ldy_token + s·ldy_slot.
inline void launch_moe_row_gemv(const q4_0_device_view& w, const q4_0_device_view* up, int act, const uint4* q,
                                std::int64_t rows, std::int64_t q_token, std::int64_t q_slot, float* y,
                                std::int64_t ldy_token, std::int64_t ldy_slot, const moe_routing& r, std::int64_t experts,
                                int* error_flag, cudaStream_t stream, const char* fn) {
    launch_gemv_row_exact(1, moe_pair_row_params(w, up, act, q, rows, q_token, q_slot, y, ldy_token, ldy_slot, r, experts, error_flag),
                          r.m * r.top_k, stream, fn);
}

/// moe_rows_exact_kernel over every (token, slot) pair of `r`: x(t, s) = x + t·ldx_token + s·ldx_slot (K floats).
/// up null (moe_gemm): y(t, s) = y + t·ldy_token + s·ldy_slot gets the pair's N rows of w.
/// up set (moe_ffn; w = gate, N = F a multiple of 32): hq (one Q8_0 row of F per pair) gets act(gate·x)·(up·x).
/// The call's first kernel: an ordinary launch.
inline void launch_moe_rows_exact(const q4_0_device_view& w, const q4_0_device_view* up, int act, const float* x,
                                  std::int64_t ldx_token, std::int64_t ldx_slot, const moe_routing& r, std::int64_t experts,
                                  float* y, std::int64_t ldy_token, std::int64_t ldy_slot, uint4* hq, int* error_flag,
                                  cudaStream_t stream, const char* fn) {
    require(r.m * r.top_k <= 65535, errc::unsupported, fn, "m·top_k = ", r.m * r.top_k, " pairs exceed the gemv grid");
    gemv_row_params p = moe_row_params(w, up, act, nullptr, y, r, experts, error_flag);
    p.ldy_token = ldy_token;
    p.ldy_slot = ldy_slot;
    p.xq_rows = r.m;  // (moe_ffn: hq has m·top_k rows)
    const dim3 grid(unsigned((w.layout.n + 31) / 32), unsigned(r.m * r.top_k)), block(32 * gemv_row_warps);
    const std::size_t smem = moe_rows_smem_bytes(w.layout.k, up != nullptr);
    const auto go = [&](auto kernel) {
        ensure_dynamic_smem(reinterpret_cast<const void*>(kernel), smem, fn);
        launch_kernel(kernel, grid, block, stream, fn, "cudaLaunchKernelEx(moe_rows_exact_kernel)", smem, false, p, x, ldx_token,
                      ldx_slot, hq);
    };
    if (up)
        go(moe_rows_exact_kernel<true>);
    else
        go(moe_rows_exact_kernel<false>);
}

/// moe_ffn's down projection and slot sum (exact): y[t] = Σ_s w[t][s]·down_e(h(t, s)) from h's quantized
/// rows hq (one per pair), as a programmatic dependent of the kernel that wrote hq.
inline void launch_moe_down_slot_sum(const q4_0_device_view& down, const uint4* hq, const moe_routing& r,
                                     std::int64_t experts, const float* weights, std::int64_t ld_weights, float* y,
                                     std::int64_t ldy, int* error_flag, cudaStream_t stream, const char* fn) {
    require(r.m <= 65535, errc::unsupported, fn, "m = ", r.m, " tokens exceed the down gemv grid");
    gemv_row_params p = moe_row_params(down, nullptr, 0, hq, y, r, experts, error_flag);
    p.xq_rows = r.m * r.top_k;
    p.xq_token = r.top_k;  // pair (t, s) is hq row t·top_k + s
    p.ldy_token = ldy;
    p.weights = weights;
    p.ld_weights = ld_weights;
    const std::size_t staged = moe_down_staged_bytes(r.top_k, down.layout.k);
    p.stage_h = staged <= moe_down_max_staged_bytes;
    const dim3 grid(unsigned((p.n + gemv_row_warps - 1) / gemv_row_warps), unsigned(r.m)), block(32 * gemv_row_warps);
    const std::size_t smem = p.stage_h ? staged : 0;
    constexpr const char* what = "cudaLaunchKernelEx(moe_down_slot_sum_kernel)";
    switch (gemv_sum_slots_for(r.top_k)) {
        case 1: launch_dependent(moe_down_slot_sum_kernel<1>, grid, block, stream, fn, what, smem, p); break;
        case 2: launch_dependent(moe_down_slot_sum_kernel<2>, grid, block, stream, fn, what, smem, p); break;
        case 4: launch_dependent(moe_down_slot_sum_kernel<4>, grid, block, stream, fn, what, smem, p); break;
        default: launch_dependent(moe_down_slot_sum_kernel<8>, grid, block, stream, fn, what, smem, p); break;
    }
}

/// moe_sort_kernel: the pairs of r sorted by expert into g, tiles of at most tile_rows rows. `after_pass`: launched
/// as a programmatic dependent of the quantizing pass just before it (by_expert: the sort overlaps the pass, and
/// waits for it before it completes); otherwise an ordinary launch.
inline void launch_sort(const moe_routing& r, std::int64_t experts, int tile_rows, const moe_grouping& g, int* flag,
                        float* nan_y, std::int64_t nan_n, std::int64_t ldy_token, std::int64_t ldy_slot,
                        cudaStream_t stream, const char* fn, bool after_pass = false) {
    ensure_dynamic_smem(reinterpret_cast<const void*>(&moe_sort_kernel<>), moe_sort_smem_bytes(experts), fn);
    launch_kernel(moe_sort_kernel<>, dim3(1), dim3(moe_sort_threads), stream, fn, "cudaLaunchKernelEx(moe_sort_kernel)",
                  moe_sort_smem_bytes(experts), after_pass, r.ids, r.ld_ids, r.m, int(r.top_k), int(experts), tile_rows,
                  g.rank, g.sorted_pair, g.row_of, g.tiles, g.tile_count, flag, nan_y, nan_n, ldy_token, ldy_slot);
}

/// True when an exact gemv plan groups the pairs by expert (plan_moe_q4_0: tile_rows > 1 on the gemv path).
inline bool by_expert(const gemm_plan& plan) {
    return plan.path == gemm_path::gemv && plan.mode == compute_mode::exact && plan.tile_rows > 1;
}

/// True for the grouped exact mma (q4_0_mma_exact_kernel on expert tiles): like by_expert, x is quantized once and
/// the pairs sorted, and moe_ffn keeps h in fp32 by pair; the products run on the tensor cores.
inline bool exact_mma(const gemm_plan& plan) { return plan.path == gemm_path::mma && plan.mode == compute_mode::exact; }

/// The exact calls whose pairs are sorted by expert (by_expert or exact_mma): one chain, x quantized once and (moe_ffn)
/// h in fp32 by pair; they differ only in the kernel that forms the products.
inline bool exact_sorted(const gemm_plan& plan) { return by_expert(plan) || exact_mma(plan); }

/// The parameters of q4_0_mma_exact_kernel over the expert tiles of g: weight w (up: moe_ffn's gate + up form, h by
/// pair into hf, stride ldh), quantized activations xq (`rows` rows; tile row r reads row mma_a_row), output by pair.
inline mma_params exact_mma_params(const q4_0_device_view& w, const q4_0_device_view* up, int act, const uint4* xq,
                                   std::int64_t rows, int a_rows, const moe_grouping& g, std::int64_t top_k, float* y,
                                   std::int64_t ldy_token, std::int64_t ldy_slot) {
    mma_params p = dense_mma_params(w, 0, nullptr, y, ldy_token);
    p.xq = xq;
    p.xq_rows = rows;
    p.a_rows = a_rows;
    p.tiles = g.tiles;
    p.tile_count = g.tile_count;
    p.sorted_pair = g.sorted_pair;
    p.top_k = int(top_k);
    if (up) {
        p.qs2 = up->qs;
        p.d2 = up->d;
        p.epilogue = gate_up_act;
        p.hf = y;
        p.ldh = ldy_slot;  // h row of pair q at y + q·ldh
        p.act = act;
    } else {
        p.epilogue = store_pair;
        p.ldy_slot = ldy_slot;
    }
    return p;
}

/// moe_by_expert_exact_kernel over the tiles of g (moe_sort_kernel's, tile rows moe_by_expert_pairs) with weight
/// w (and up: the gate + up form, h = act(gate·x)·(up·x) in fp32): pair (t, s) reads quantized activation row
/// t·q_token + s·q_slot of the `rows` rows at q and writes y + t·ldy_token + s·ldy_slot. A programmatic dependent
/// of the kernel before it (the sort, or a quantizing pass after the sort). The caller has checked the grid
/// (plan_moe_q4_0 refuses plans with more expert tiles than a launch takes) before anything is enqueued.
inline void launch_moe_by_expert(const q4_0_device_view& w, const q4_0_device_view* up, int act, const uint4* q,
                                 std::int64_t rows, std::int64_t q_token, std::int64_t q_slot, float* y, std::int64_t ldy_token,
                                 std::int64_t ldy_slot, const moe_routing& r, std::int64_t experts, const moe_grouping& g,
                                 int* error_flag, cudaStream_t stream, const char* fn) {
    const gemv_row_params p = moe_pair_row_params(w, up, act, q, rows, q_token, q_slot, y, ldy_token, ldy_slot, r, experts, error_flag);
    const int rw = moe_by_expert_rows_per_warp(p.nb, up != nullptr), steps = moe_by_expert_steps(p.nb, p.n, rw, g.max_tiles);
    const std::int64_t rows_per_cta = std::int64_t(gemv_row_warps) * rw * steps;
    const dim3 grid(unsigned((p.n + rows_per_cta - 1) / rows_per_cta), unsigned(g.max_tiles)), block(32 * gemv_row_warps);
    constexpr const char* what = "cudaLaunchKernelEx(moe_by_expert_exact_kernel)";
    constexpr int R = moe_by_expert_pairs;
    const auto go = [&](auto kernel) { launch_dependent(kernel, grid, block, stream, fn, what, 0, p, g.tiles, g.tile_count, g.sorted_pair); };
    if (up) {
        if (rw == 1) go(moe_by_expert_exact_kernel<R, 1, 1, true>);
        else steps == 4 ? go(moe_by_expert_exact_kernel<R, 2, 4, true>) : go(moe_by_expert_exact_kernel<R, 2, 2, true>);
    } else {
        if (rw == 1) go(moe_by_expert_exact_kernel<R, 1, 1, false>);
        else steps == 4 ? go(moe_by_expert_exact_kernel<R, 4, 4, false>) : go(moe_by_expert_exact_kernel<R, 4, 2, false>);
    }
}

inline void validate_moe_routing(const char* fn, const moe_routing& r, std::int64_t experts) {
    require(r.m >= 0, errc::invalid_argument, fn, "routing.m = ", r.m, " is negative");
    require(r.top_k >= 1 && r.top_k <= experts, errc::invalid_argument, fn, "routing.top_k = ", r.top_k,
            " must be in [1, E = ", experts, "]");
    require(r.m <= (std::int64_t(1) << 30) / r.top_k, errc::invalid_argument, fn, "routing.m x top_k = ", r.m, " x ",
            r.top_k, " exceeds 2^30 pairs");
    if (r.m == 0) return;
    require(r.ids != nullptr, errc::invalid_argument, fn, "routing.ids is null");
    require(r.ld_ids >= r.top_k, errc::invalid_argument, fn, "routing.ld_ids = ", r.ld_ids, " is less than top_k = ",
            r.top_k);
    amxmm::detail::require_rows_addressable<std::int32_t>(fn, "routing.ids (ld_ids)", r.m, 1, r.ld_ids, 0, r.top_k);
}

inline void require_sortable(const char* fn, std::int64_t experts, const context& ctx) {
    require(experts <= ctx.moe_max_experts(), errc::unsupported, fn, "E = ", experts,
            " experts: the GPU grouping supports up to ", ctx.moe_max_experts(), " on this device");
}

/// The grouped paths (tokens sorted by expert, tiles of one expert): mma or wgmma.
inline bool grouped(const gemm_plan& plan) { return plan.path == gemm_path::mma || plan.path == gemm_path::wgmma; }

/// Runs a grouped tile kernel: the wgmma kernel on a wgmma plan, else the mma kernel of the plan's rows.
inline void launch_grouped(const gemm_plan& plan, dim3 grid, const mma_params& p, cudaStream_t stream, const char* fn) {
    if (plan.path == gemm_path::wgmma)
        launch_wgmma(grid, p, stream, fn);
    else
        launch_mma(plan.tile_rows, grid, p, stream, fn);
}

/// True when an exact moe_gemm on the gemv path quantizes x once into the workspace (rows longer than
/// moe_rows_fused's) rather than in every CTA.
inline bool moe_gemm_quantizes_x(const gemm_plan& plan, std::int64_t k) {
    return plan.path == gemm_path::gemv && plan.mode == compute_mode::exact && !moe_rows_fused(k / 32);
}

/// Workspace of moe_gemm for a plan.
inline std::size_t moe_gemm_ws(const gemm_plan& plan, std::int64_t m, std::int64_t top_k, std::int64_t experts,
                               std::int64_t k, moe_input_rows rows) {
    const std::int64_t pairs = m * top_k, xrows = rows == moe_input_rows::per_token ? m : pairs;
    if (exact_sorted(plan)) {  // x quantized, the grouping
        ws_carver c{nullptr};
        c.take<uint4>(q8_rows_items(xrows, k));
        carve_grouping(c, pairs, experts, plan.tile_rows);
        return c.offset;
    }
    if (moe_gemm_quantizes_x(plan, k)) return ws_round(gemv_act_smem_bytes(int(xrows), k, true));
    if (!grouped(plan)) return 0;
    ws_carver c{nullptr};
    c.take<__nv_bfloat16>(std::size_t(xrows * k));
    carve_grouping(c, pairs, experts, plan.tile_rows);
    return c.offset;
}

/// Workspace of moe_ffn for a plan (F = expert hidden size).
inline std::size_t moe_ffn_ws(const gemm_plan& plan, std::int64_t m, std::int64_t top_k, std::int64_t experts,
                              std::int64_t k, std::int64_t f) {
    const std::int64_t pairs = m * top_k;
    ws_carver c{nullptr};
    if (exact_sorted(plan)) {  // x quantized, the grouping, h in fp32 and quantized (pair order); o below
        c.take<uint4>(q8_rows_items(m, k));
        carve_grouping(c, pairs, experts, plan.tile_rows);
        c.take<float>(std::size_t(pairs * f));
        c.take<uint4>(q8_rows_items(pairs, f));
    } else if (grouped(plan)) {
        c.take<__nv_bfloat16>(std::size_t(m * k));      // x, bf16
        carve_grouping(c, pairs, experts, plan.tile_rows);
        c.take<__nv_bfloat16>(std::size_t(pairs * f));  // h, sorted rows
    } else if (plan.mode == compute_mode::exact) {  // h quantized (pairs rows)
        c.take<uint4>(q8_rows_items(pairs, f));
        if (!moe_rows_fused(k / 32)) {  // x quantized (m rows) and h in fp32 (pairs × F) by separate passes
            c.take<uint4>(q8_rows_items(m, k));
            c.take<float>(std::size_t(pairs * f));
        }
        if (moe_rows_fused(f / 32)) return c.offset;  // down sums the slots itself
    } else {
        c.take<float>(std::size_t(pairs * f) * 3);  // h, g, u (pair order)
    }
    c.take<float>(std::size_t(pairs * k));  // down outputs per pair
    return c.offset;
}

}  // namespace detail

/// Device workspace bytes that any moe_gemm call with up to m tokens needs (reserve it once for the largest m; see
/// detail::most_workspace_upto; a call's own need is its plan's workspace_bytes). Throws as plan_moe_q4_0 does.
inline std::size_t moe_gemm_workspace_bytes(std::int64_t m, std::int64_t top_k, const q4_0_device_layout& w,
                                            moe_input_rows rows = moe_input_rows::per_token, const gemm_options& opt = {}) {
    return detail::most_workspace_upto(
        m,
        [&](std::int64_t tokens) {
            return plan_moe_q4_0(tokens, top_k, w.experts, w.k, opt, gpu_features{opt.path == gemm_path::wgmma});
        },
        [&](const gemm_plan& plan, std::int64_t tokens) { return detail::moe_gemm_ws(plan, tokens, top_k, w.experts, w.k, rows); });
}

/// Device workspace bytes that any moe_ffn call with up to m tokens needs (gate: E × F × K; reserve it once for the
/// largest m).
inline std::size_t moe_ffn_workspace_bytes(std::int64_t m, std::int64_t top_k, const q4_0_device_layout& gate,
                                           const gemm_options& opt = {}) {
    return detail::most_workspace_upto(
        m,
        [&](std::int64_t tokens) {
            return plan_moe_q4_0(tokens, top_k, gate.experts, std::max(gate.k, gate.n), opt,
                                 gpu_features{opt.path == gemm_path::wgmma});
        },
        [&](const gemm_plan& plan, std::int64_t tokens) {
            return detail::moe_ffn_ws(plan, tokens, top_k, gate.experts, gate.k, gate.n);
        });
}

/// MUL_MAT_ID on `stream`: for every token t < m and slot s < top_k, with e = routing.ids[t][s],
///     y(t, s)[n] = dot(x(t, s), W_e[n]),  n < N
/// w : E experts of N × K (q4_0_weight::upload_experts / a 3-D GGUF tensor)
/// x : device rows of K floats: per_token: x + t·ldx_token; per_slot: x + t·ldx_token + s·ldx_slot
/// y : device rows of N floats at y + t·ldy_token + s·ldy_slot; rows must not overlap each other or x
/// routing.ids: device int32. Returns the plan. Throws amxmm::error on bad arguments before enqueuing
/// anything (errc::invalid_argument also where the current device is not ctx.device(); errc::unsupported where the
/// plan cannot run: plan_moe_q4_0); expert ids are checked on the device (see the file comment).
inline gemm_plan moe_gemm(context& ctx, const q4_0_device_view& w, const moe_routing& routing, const float* x,
                          moe_input_rows rows, std::int64_t ldx_token, std::int64_t ldx_slot, float* y,
                          std::int64_t ldy_token, std::int64_t ldy_slot, const gemm_options& opt, cudaStream_t stream) {
    constexpr const char* fn = "cuda::moe_gemm";
    detail::require_current_device(ctx.device(), fn);
    detail::validate_view(w, fn, "w");
    detail::validate_moe_routing(fn, routing, w.layout.experts);
    detail::require(rows == moe_input_rows::per_token || rows == moe_input_rows::per_slot, errc::invalid_argument, fn,
                    "rows = ", int(rows), " is not a moe_input_rows value");
    const std::int64_t m = routing.m, top_k = routing.top_k, n = w.layout.n, k = w.layout.k, e = w.layout.experts;
    gemm_plan plan = plan_moe_q4_0(m, top_k, e, k, opt, ctx.features());
    plan.workspace_bytes = detail::moe_gemm_ws(plan, m, top_k, e, k, rows);
    if (m == 0) return plan;
    detail::require(x != nullptr, errc::invalid_argument, fn, "x is null");
    detail::require(y != nullptr, errc::invalid_argument, fn, "y is null");
    const bool shared = rows == moe_input_rows::per_token;
    const std::int64_t xs = shared ? 0 : ldx_slot;
    amxmm::detail::require_rows_addressable<float>(fn, "x (ldx_token, ldx_slot)", m, shared ? 1 : top_k, ldx_token, xs, k);
    amxmm::detail::require_rows_addressable<float>(fn, "y (ldy_token, ldy_slot)", m, top_k, ldy_token, ldy_slot, n);
    detail::require(amxmm::detail::moe_rows_disjoint(m, shared ? 1 : top_k, ldx_token, xs, k), errc::invalid_argument,
                    fn, "x strides ldx_token = ", ldx_token, ", ldx_slot = ", ldx_slot, " make rows of K = ", k,
                    " overlap (need ldx_token >= K, and per_slot rows disjoint)");
    detail::require(amxmm::detail::moe_rows_disjoint(m, top_k, ldy_token, ldy_slot, n), errc::invalid_argument, fn,
                    "y strides ldy_token = ", ldy_token, ", ldy_slot = ", ldy_slot, " make output rows of N = ", n,
                    " overlap");
    const auto ys = amxmm::detail::span_of(y, m, top_k, ldy_token, ldy_slot, n);
    detail::require(!ys.overlaps(amxmm::detail::span_of(x, m, top_k, ldx_token, xs, k)), errc::invalid_argument, fn,
                    "y overlaps x");
    detail::require(!ys.overlaps(amxmm::detail::span_of(routing.ids, m, 1, routing.ld_ids, 0, top_k)),
                    errc::invalid_argument, fn, "y overlaps routing.ids");
    if (detail::grouped(plan) || detail::by_expert(plan)) detail::require_sortable(fn, e, ctx);
    std::byte* ws = detail::call_workspace(ctx, opt, plan.workspace_bytes, fn);

    if (plan.path == gemm_path::gemv && !detail::by_expert(plan))  // a grid row per pair; before anything is enqueued
        detail::require(m * top_k <= 65535, errc::unsupported, fn, "m·top_k = ", m * top_k, " pairs exceed the gemv grid");
    if (detail::exact_sorted(plan)) {
        // x quantized once, the pairs sorted by expert; then a warp per weight row and tile (by expert) or the exact
        // tensor-core tiles
        detail::ws_carver carve{ws};
        const std::int64_t xrows = shared ? m : m * top_k;
        auto* xq = carve.take<uint4>(detail::q8_rows_items(xrows, k));
        const detail::moe_grouping g = detail::carve_grouping(carve, m * top_k, e, plan.tile_rows);
        detail::quantize_rows_q8(x, ldx_token, xrows, k / 32, xq, stream, fn, false, shared ? 1 : top_k, xs);
        detail::launch_sort(routing, e, plan.tile_rows, g, ctx.error_flag(), y, n, ldy_token, ldy_slot, stream, fn, true);
        if (detail::by_expert(plan))
            detail::launch_moe_by_expert(w, nullptr, 0, xq, xrows, shared ? 1 : top_k, shared ? 0 : 1, y, ldy_token, ldy_slot,
                                         routing, e, g, ctx.error_flag(), stream, fn);
        else
            detail::launch_mma_exact(plan.tile_rows, dim3(unsigned((n + detail::mma_bn - 1) / detail::mma_bn), unsigned(g.max_tiles)),
                                     detail::exact_mma_params(w, nullptr, 0, xq, xrows, shared ? detail::a_pair_token : detail::a_pair,
                                                              g, top_k, y, ldy_token, ldy_slot),
                                     stream, fn);
        return plan;
    }
    if (detail::moe_gemm_quantizes_x(plan, k)) {  // long rows: x quantized once, a warp per (pair, weight row)
        auto* xq = reinterpret_cast<uint4*>(ws);
        detail::quantize_rows_q8(x, ldx_token, shared ? m : m * top_k, k / 32, xq, stream, fn, false, shared ? 1 : top_k, xs);
        detail::launch_moe_row_gemv(w, nullptr, 0, xq, shared ? m : m * top_k, shared ? 1 : top_k, shared ? 0 : 1, y, ldy_token,
                                    ldy_slot, routing, e, ctx.error_flag(), stream, fn);
        return plan;
    }
    if (plan.path == gemm_path::gemv && plan.mode == compute_mode::exact) {  // one kernel, x quantized per CTA
        detail::launch_moe_rows_exact(w, nullptr, 0, x, ldx_token, xs, routing, e, y, ldy_token, ldy_slot, nullptr,
                                      ctx.error_flag(), stream, fn);
        return plan;
    }
    if (plan.path == gemm_path::gemv) {
        detail::gemv_params p = detail::dense_gemv_params(w, x, ldx_token, y, ldy_token);
        p.ldx_slot = xs;
        p.experts = e;
        p.ids = routing.ids;
        p.ld_ids = routing.ld_ids;
        p.top_k = int(top_k);
        p.ldy_slot = ldy_slot;
        p.error_flag = ctx.error_flag();
        detail::launch_gemv(1, m * top_k, p, stream, fn);  // fast (exact returned above)
        return plan;
    }
    detail::ws_carver carve{ws};
    const std::int64_t pairs = m * top_k;
    auto* xb = carve.take<__nv_bfloat16>(std::size_t((shared ? m : pairs) * k));
    const detail::moe_grouping g = detail::carve_grouping(carve, pairs, e, plan.tile_rows);
    if (shared)
        detail::convert_rows_bf16(x, ldx_token, 0, 1, m, k, xb, stream, fn);
    else
        detail::convert_rows_bf16(x, ldx_token, ldx_slot, int(top_k), pairs, k, xb, stream, fn);
    detail::launch_sort(routing, e, plan.tile_rows, g, ctx.error_flag(), y, n, ldy_token, ldy_slot, stream, fn);
    detail::mma_params p = detail::dense_mma_params(w, 0, xb, y, ldy_token);
    p.a_rows = shared ? detail::a_pair_token : detail::a_pair;
    p.tiles = g.tiles;
    p.tile_count = g.tile_count;
    p.sorted_pair = g.sorted_pair;
    p.top_k = int(top_k);
    p.epilogue = detail::store_pair;
    p.ldy_slot = ldy_slot;
    const dim3 grid(unsigned((n + detail::mma_bn - 1) / detail::mma_bn), unsigned(g.max_tiles));
    detail::launch_grouped(plan, grid, p, stream, fn);
    return plan;
}

/// The expert FFN of a MoE layer, fused, on `stream`: for every token t < m,
///     y[t] = Σ_{s < top_k} w[t][s] · down_e( act(gate_e(x[t])) ⊙ up_e(x[t]) ),   e = ids[t][s]
/// gate, up : E experts of F × K       down : E experts of K × F       (F % 32 == 0)
/// x        : device, m rows of K floats (ldx >= K);   y : device, m rows of K floats (ldy >= K), not overlapping x
/// weights  : device routing weights[t·ld_weights + s] (null: all 1)
/// Numerics and bad ids: see the file comment. Returns the plan; throws amxmm::error on bad arguments
/// before enqueuing anything (as moe_gemm).
inline gemm_plan moe_ffn(context& ctx, const q4_0_device_view& gate, const q4_0_device_view& up,
                         const q4_0_device_view& down, const moe_routing& routing, const float* weights,
                         std::int64_t ld_weights, const float* x, std::int64_t ldx, float* y, std::int64_t ldy,
                         const moe_ffn_options& opt, cudaStream_t stream) {
    constexpr const char* fn = "cuda::moe_ffn";
    detail::require_current_device(ctx.device(), fn);
    detail::validate_view(gate, fn, "gate");
    detail::validate_view(up, fn, "up");
    detail::validate_view(down, fn, "down");
    const std::int64_t e = gate.layout.experts, k = gate.layout.k, f = gate.layout.n;
    detail::require(up.layout.experts == e && down.layout.experts == e, errc::invalid_argument, fn,
                    "expert counts differ: gate ", e, ", up ", up.layout.experts, ", down ", down.layout.experts);
    detail::require(up.layout.n == f && up.layout.k == k, errc::invalid_argument, fn, "up is ", up.layout.n, " x ",
                    up.layout.k, ", gate is ", f, " x ", k, " (both must be F x K)");
    detail::require(down.layout.n == k && down.layout.k == f, errc::invalid_argument, fn, "down is ", down.layout.n,
                    " x ", down.layout.k, ", must be K x F = ", k, " x ", f);
    detail::require(opt.activation == ffn_activation::silu || opt.activation == ffn_activation::gelu_tanh,
                    errc::invalid_argument, fn, "options.activation = ", int(opt.activation), " is not an ffn_activation");
    detail::validate_moe_routing(fn, routing, e);
    const std::int64_t m = routing.m, top_k = routing.top_k, pairs = m * top_k;
    gemm_plan plan = plan_moe_q4_0(m, top_k, e, std::max(k, f), opt, ctx.features());
    plan.workspace_bytes = detail::moe_ffn_ws(plan, m, top_k, e, k, f);
    if (m == 0) return plan;
    detail::require(x != nullptr, errc::invalid_argument, fn, "x is null");
    detail::require(y != nullptr, errc::invalid_argument, fn, "y is null");
    detail::require(ldx >= k, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", k);
    detail::require(ldy >= k, errc::invalid_argument, fn, "ldy = ", ldy, " is less than K = ", k);
    amxmm::detail::require_row_span(fn, "ldx", m, ldx, k);
    amxmm::detail::require_row_span(fn, "ldy", m, ldy, k);
    const auto ys = amxmm::detail::span_of(y, m, 1, ldy, 0, k);
    detail::require(!ys.overlaps(amxmm::detail::span_of(x, m, 1, ldx, 0, k)), errc::invalid_argument, fn, "y overlaps x");
    detail::require(!ys.overlaps(amxmm::detail::span_of(routing.ids, m, 1, routing.ld_ids, 0, top_k)),
                    errc::invalid_argument, fn, "y overlaps routing.ids");
    if (weights) {
        detail::require(ld_weights >= top_k, errc::invalid_argument, fn, "ld_weights = ", ld_weights,
                        " is less than top_k = ", top_k);
        amxmm::detail::require_row_span(fn, "ld_weights", m, ld_weights, top_k);
        detail::require(!ys.overlaps(amxmm::detail::span_of(weights, m, 1, ld_weights, 0, top_k)),
                        errc::invalid_argument, fn, "y overlaps weights");
    }
    if (detail::grouped(plan) || detail::by_expert(plan)) detail::require_sortable(fn, e, ctx);
    std::byte* ws = detail::call_workspace(ctx, opt, plan.workspace_bytes, fn);
    detail::ws_carver carve{ws};
    const int act = opt.activation == ffn_activation::silu ? 0 : 1;

    const float* o = nullptr;
    const std::int32_t* row_of = nullptr;
    if (detail::exact_sorted(plan)) {
        // x quantized, pairs sorted by expert; gate + up per (weight row, tile) -> h (fp32, pair order), h quantized;
        // down per (weight row, tile) -> o (pair order); the slot sum below. By expert, every kernel after the first is
        // a programmatic dependent that waits for the one before it; the exact tensor-core tiles are ordinary launches.
        auto* xq = carve.take<uint4>(detail::q8_rows_items(m, k));
        const detail::moe_grouping g = detail::carve_grouping(carve, pairs, e, plan.tile_rows);
        float* const hv = carve.take<float>(std::size_t(pairs * f));
        uint4* const hq = carve.take<uint4>(detail::q8_rows_items(pairs, f));
        auto* ov = carve.take<float>(std::size_t(pairs * k));
        detail::quantize_rows_q8(x, ldx, m, k / 32, xq, stream, fn);
        detail::launch_sort(routing, e, plan.tile_rows, g, ctx.error_flag(), nullptr, 0, 0, 0, stream, fn, true);
        if (detail::by_expert(plan)) {
            detail::launch_moe_by_expert(gate, &up, act, xq, m, 1, 0, hv, top_k * f, f, routing, e, g, ctx.error_flag(), stream, fn);
            detail::quantize_rows_q8(hv, f, pairs, f / 32, hq, stream, fn, true);
            detail::launch_moe_by_expert(down, nullptr, 0, hq, pairs, top_k, 1, ov, top_k * k, k, routing, e, g, ctx.error_flag(),
                                         stream, fn);
        } else {
            const auto tiles = [&](std::int64_t cols) { return dim3(unsigned(cols), unsigned(g.max_tiles)); };
            detail::launch_mma_exact(plan.tile_rows, tiles((f + 63) / 64),
                                     detail::exact_mma_params(gate, &up, act, xq, m, detail::a_pair_token, g, top_k, hv, 0, f),
                                     stream, fn);
            detail::quantize_rows_q8(hv, f, pairs, f / 32, hq, stream, fn);
            detail::launch_mma_exact(plan.tile_rows, tiles((k + detail::mma_bn - 1) / detail::mma_bn),
                                     detail::exact_mma_params(down, nullptr, 0, hq, pairs, detail::a_pair, g, top_k, ov, top_k * k, k),
                                     stream, fn);
        }
        o = ov;
    } else if (plan.path == gemm_path::gemv && plan.mode == compute_mode::exact) {
        // gate, up, act and h quantized (one kernel for rows of <= 64 blocks, else three); then down and the slot
        // sum (one kernel for down rows of <= 64 blocks, else two)
        detail::require(pairs <= 65535, errc::unsupported, fn, "m·top_k = ", pairs, " pairs exceed the gemv grid");
        uint4* const hq = carve.take<uint4>(detail::q8_rows_items(pairs, f));
        if (detail::moe_rows_fused(k / 32)) {
            detail::launch_moe_rows_exact(gate, &up, act, x, ldx, 0, routing, e, nullptr, 0, 0, hq, ctx.error_flag(), stream, fn);
        } else {  // long rows: x quantized once, a warp per (pair, row) forms h in fp32, h quantized
            uint4* const xq = carve.take<uint4>(detail::q8_rows_items(m, k));
            float* const hv = carve.take<float>(std::size_t(pairs * f));
            detail::quantize_rows_q8(x, ldx, m, k / 32, xq, stream, fn);
            detail::launch_moe_row_gemv(gate, &up, act, xq, m, 1, 0, hv, top_k * f, f, routing, e, ctx.error_flag(), stream, fn);
            detail::quantize_rows_q8(hv, f, pairs, f / 32, hq, stream, fn, true);
        }
        if (detail::moe_rows_fused(f / 32)) {
            detail::launch_moe_down_slot_sum(down, hq, routing, e, weights, ld_weights, y, ldy, ctx.error_flag(), stream, fn);
            return plan;
        }
        // long down rows: a warp per (pair, row) into o, then the slot sum below
        auto* ov = carve.take<float>(std::size_t(pairs * k));
        detail::launch_moe_row_gemv(down, nullptr, 0, hq, pairs, top_k, 1, ov, top_k * k, k, routing, e, ctx.error_flag(), stream, fn);
        o = ov;
    } else if (plan.path == gemm_path::gemv) {  // fast: fp32 gemv per pair, bf16(h)
        float* const hv = carve.take<float>(std::size_t(pairs * f) * 3);
        float* const gv = hv + pairs * f;
        float* const uv = gv + pairs * f;
        const auto pair_gemv = [&](const q4_0_device_view& w, const float* in, std::int64_t in_token, std::int64_t in_slot,
                                   float* out, std::int64_t width) {  // fast: the persistent fp32 gemv
            detail::gemv_params p = detail::dense_gemv_params(w, in, in_token, out, top_k * width);
            p.ldx_slot = in_slot;
            p.experts = e;
            p.ids = routing.ids;
            p.ld_ids = routing.ld_ids;
            p.top_k = int(top_k);
            p.ldy_slot = width;
            p.error_flag = ctx.error_flag();
            detail::launch_gemv(1, pairs, p, stream, fn);
        };
        detail::require(pairs <= 65535, errc::unsupported, fn, "m·top_k = ", pairs, " pairs exceed the gemv grid");
        auto* ov = carve.take<float>(std::size_t(pairs * k));
        pair_gemv(gate, x, ldx, 0, gv, f);
        pair_gemv(up, x, ldx, 0, uv, f);
        detail::launch_kernel(detail::moe_ffn_act_kernel<>, dim3(detail::grid_for(pairs * f, 256)), dim3(256), stream, fn,
                              "cudaLaunchKernelEx(moe_ffn_act_kernel)", 0, false, gv, uv, hv, pairs * f, act);
        pair_gemv(down, hv, top_k * f, f, ov, k);
        o = ov;
    } else {
        auto* xb = carve.take<__nv_bfloat16>(std::size_t(m * k));
        const detail::moe_grouping g = detail::carve_grouping(carve, pairs, e, plan.tile_rows);
        auto* hb = carve.take<__nv_bfloat16>(std::size_t(pairs * f));
        auto* ov = carve.take<float>(std::size_t(pairs * k));
        detail::convert_rows_bf16(x, ldx, 0, 1, m, k, xb, stream, fn);
        detail::launch_sort(routing, e, plan.tile_rows, g, ctx.error_flag(), nullptr, 0, 0, 0, stream, fn);
        // gate + up -> h (sorted rows × F, bf16)
        detail::mma_params p = detail::dense_mma_params(gate, 0, xb, nullptr, 0);
        p.qs2 = up.qs;
        p.d2 = up.d;
        p.a_rows = detail::a_pair_token;
        p.tiles = g.tiles;
        p.tile_count = g.tile_count;
        p.sorted_pair = g.sorted_pair;
        p.top_k = int(top_k);
        p.epilogue = detail::gate_up_act;
        p.h = hb;
        p.ldh = f;
        p.act = act;
        detail::launch_grouped(plan, dim3(unsigned((f + 63) / 64), unsigned(g.max_tiles)), p, stream, fn);
        // down: h rows (already in sorted order) -> o (sorted rows × K, fp32)
        detail::mma_params q = detail::dense_mma_params(down, 0, hb, ov, k);
        q.tiles = g.tiles;
        q.tile_count = g.tile_count;
        q.sorted_pair = g.sorted_pair;
        q.top_k = int(top_k);
        detail::launch_grouped(plan, dim3(unsigned((k + detail::mma_bn - 1) / detail::mma_bn), unsigned(g.max_tiles)), q,
                               stream, fn);
        o = ov;
        row_of = g.row_of;
    }
    detail::launch_dependent(detail::moe_ffn_reduce_kernel<>, dim3(unsigned(detail::grid_for(m * k, 256))), dim3(256), stream, fn,
                             "cudaLaunchKernelEx(moe_ffn_reduce_kernel)", 0, o, k, row_of, routing.ids, routing.ld_ids, int(top_k),
                             int(e), weights, ld_weights, m, k, y, ldy);
    return plan;
}

}  // namespace cuda
AMXMM_NAMESPACE_END
