// Mixture-of-experts drivers on Q4_0 experts: moe_gemm (ggml's MUL_MAT_ID) and moe_ffn (the fused
// expert FFN of one MoE layer).
//
//   Routing:  ids[t][s] (int32, row stride ld_ids) is the expert of token t's slot s, s < top_k.
//   moe_gemm: y[t][s][:] = x(t, s) · W_e^T,  e = ids[t][s]   (W_e: N rows of K; one output row per slot)
//   moe_ffn : y[t][:] = Σ_s w[t][s] · down_e( act(gate_e(x[t])) ⊙ up_e(x[t]) ),  e = ids[t][s]
//
// How it runs. The (token, slot) pairs are grouped by expert with a parallel, stable counting sort;
// inside an expert the rows are in (token, slot) ascending order. Each expert's rows are gathered and
// prepared (Q8_0 or bf16, microkernel.hpp's tiled layout) into one workspace, each expert's rows
// padded to a multiple of 32. Work is cut into tasks of (expert, row groups of 32, column blocks of 32), sized so every
// task has about the same number of FLOPs: a hot expert is split over many tasks (rows and columns),
// an expert without tokens costs nothing. Each task runs amxmm's micro-kernels on the chosen back end
// (the AMX back ends use the blocked large-M path for experts with >= 65 rows, as gemm_q4_0 does).
// An expert whose only row is a token's x row reads that token's prepared row, shared by all such
// experts of the token (at m = 1 with distinct experts: every expert). On
// oneTBB with one arena, or the serial executor, a call's phases come from one queue (run_task_queue),
// later tasks waiting for the ones they read: one fork/join per call instead of one per phase. x's
// preparation is interleaved with the expert tasks that read it (queued_preparation; moe_gemm in exact
// mode instead prepares, and checks, all of x before any task writes y), then come moe_ffn's down
// tasks. In decode calls the slot sum joins that queue too: the down task that completes a column
// range for every expert sums it.
//
// Determinism. Each output element is computed by one task, over all of K in block order, on a path
// chosen from the expert's row count only; moe_ffn sums the slots in slot order. Results are bitwise
// identical for any executor and thread count, and `exact` results equal reference_gemm_exact of each
// (token, slot) row bit for bit on every back end.
//
// Duplicated experts. A token may name the same expert in several slots (as ggml's MUL_MAT_ID allows):
// every slot is an independent row and contributes on its own (moe_ffn then adds that expert's output
// once per slot, each with its slot's weight).
//
// Executors: as gemm_q4_0 (any parallel_for; caller_threads_executor needs options.workspace, sized
// with moe_gemm_workspace_bytes / moe_ffn_workspace_bytes and shared by all callers).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "dense_gemm.hpp"
#include "../kernel/activation.hpp"
#include "../pack/q4_0_vnni_experts.hpp"

AMXMM_NAMESPACE_BEGIN

/// Which expert each token's slots use.
struct moe_routing {
    std::int64_t m = 0;                 ///< tokens (M)
    std::int64_t top_k = 0;             ///< slots per token, 1 <= top_k <= E
    const std::int32_t* ids = nullptr;  ///< ids[t * ld_ids + s] in [0, E); may be null when m == 0
    std::int64_t ld_ids = 0;            ///< row stride of ids, >= top_k
};

/// Where moe_gemm's activation rows come from.
enum class moe_input_rows {
    per_token,  ///< x(t, s) = x + t·ldx_token: one row per token, shared by its slots (ldx_slot ignored)
    per_slot,   ///< x(t, s) = x + t·ldx_token + s·ldx_slot: one row per (token, slot)
};

/// The nonlinearity of moe_ffn, applied to the gate projection in fp32. Both are evaluated as g·σ(z)
/// with amxmm's own fp32 exp (kernel/activation.hpp), the same bits on every CPU and libm.
enum class ffn_activation {
    silu,       ///< g / (1 + exp(-g))
    gelu_tanh,  ///< 0.5·g·(1 + tanh(√(2/π)·g·(1 + 0.044715·g²)))  (ggml's GELU formula) = g·σ(2·√(2/π)·g·(1 + 0.044715·g²))
};

/// moe_ffn options: gemm_options (mode, back end, kc, workspace) plus the activation.
struct moe_ffn_options : gemm_options {
    ffn_activation activation = ffn_activation::silu;
};

/// Upper bound on the rows of the prepared activations, each active expert's rows padded to a
/// multiple of 32: A active experts with R = M·top_k rows in all use at most A + (R − A)/32 row
/// groups, the most when A = min(E, R).
inline std::int64_t moe_padded_rows(std::int64_t m, std::int64_t top_k, std::int64_t experts) {
    const std::int64_t rows = std::max<std::int64_t>(m, 0) * std::max<std::int64_t>(top_k, 0);
    const std::int64_t active = std::min(std::max<std::int64_t>(experts, 0), rows);
    return (active + (rows - active) / kernel_rows) * kernel_rows;
}

/// Workspace bytes a moe_gemm call needs (either mode): the gathered, prepared activation rows.
inline std::size_t moe_gemm_workspace_bytes(std::int64_t m, std::int64_t top_k, std::int64_t experts, std::int64_t k) {
    return round_up(gemm_workspace_bytes(moe_padded_rows(m, top_k, experts), k), cache_line_bytes);
}

/// Workspace bytes a moe_ffn call needs (either mode): prepared x rows (K), prepared intermediate
/// rows (F), and the per-(token, slot) down outputs (M·top_k × K fp32).
inline std::size_t moe_ffn_workspace_bytes(std::int64_t m, std::int64_t top_k, std::int64_t experts, std::int64_t k,
                                           std::int64_t f) {
    const std::int64_t p = moe_padded_rows(m, top_k, experts);
    const std::size_t slots = std::size_t(std::max<std::int64_t>(m, 0) * std::max<std::int64_t>(top_k, 0));
    return round_up(gemm_workspace_bytes(p, k), cache_line_bytes) + round_up(gemm_workspace_bytes(p, f), cache_line_bytes) +
           round_up(slots * std::size_t(std::max<std::int64_t>(k, 0)) * sizeof(float), cache_line_bytes);
}

/// Average rows per active expert from which `automatic` runs a MoE call in `fast` mode on AMX back ends.
/// Dense calls switch at 16 rows (auto_fast_min_rows), but an expert layer averaging 16 rows has many
/// experts below 16. Device, 2026-11-28, Qwen3-30B-A3B experts at M = 256 (16 rows per expert), paired in
/// one process: fast took 1.15 × exact's time for moe_ffn and 1.08 × for moe_gemm (bench/RESULTS.md).
inline constexpr std::int64_t moe_auto_fast_min_rows = 17;

/// The back end and compute mode a MoE call runs. One mode for the whole call: `automatic` decides as
/// plan_gemm_q4_0 would, with moe_auto_fast_min_rows, for the average rows per active expert under
/// uniform routing, ceil(M·top_k / min(E, M·top_k)) — a function of the shapes only, never of the ids.
/// (`fn`: the function named in its errors.)
inline gemm_plan plan_moe_q4_0(std::int64_t m, std::int64_t top_k, std::int64_t experts, const gemm_options& opt = {},
                               const char* fn = "plan_moe_q4_0") {
    const std::int64_t rows = std::max<std::int64_t>(m, 0) * std::max<std::int64_t>(top_k, 0);
    const std::int64_t active = std::max<std::int64_t>(1, std::min(std::max<std::int64_t>(experts, 1), rows));
    return detail::plan_q4_0((rows + active - 1) / active, opt, moe_auto_fast_min_rows, fn);
}

namespace detail {

// ---- argument checks ---------------------------------------------------------------------------------

/// True when the rows (t, s) at base + t·ld_token + s·ld_slot, `width` floats each, are pairwise
/// disjoint: token-major (slots of a token adjacent) or slot-major.
inline bool moe_rows_disjoint(std::int64_t m, std::int64_t top_k, std::int64_t ld_token, std::int64_t ld_slot,
                              std::int64_t width) {
    if (ld_token < 0 || ld_slot < 0) return false;
    const bool token_major = (top_k == 1 || ld_slot >= width) && (m == 1 || ld_token >= (top_k - 1) * ld_slot + width);
    const bool slot_major = (m == 1 || ld_token >= width) && (top_k == 1 || ld_slot >= (m - 1) * ld_token + width);
    return token_major || slot_major;
}

/// Throws unless rows_addressable (call it before anything multiplies the strides).
template <class T>
void require_rows_addressable(const char* fn, const char* what, std::int64_t m, std::int64_t top_k,
                              std::int64_t ld_token, std::int64_t ld_slot, std::int64_t width) {
    require(rows_addressable(m, top_k, ld_token, ld_slot, width, max_elements_of<T>), errc::invalid_argument, fn, what,
            " strides ", ld_token, ", ", ld_slot, " for ", m, " x ", top_k, " rows of ", width,
            " span more than the address space");
}

/// [begin, end) addresses of a 2-level row set (for overlap checks).
struct byte_span {
    std::uintptr_t begin = 0, end = 0;
    bool overlaps(const byte_span& o) const noexcept { return begin < o.end && o.begin < end; }
};
template <class T>
byte_span span_of(const T* p, std::int64_t m, std::int64_t top_k, std::int64_t ld_token, std::int64_t ld_slot,
                  std::int64_t width) {
    const auto b = reinterpret_cast<std::uintptr_t>(p);
    return {b, b + std::uintptr_t((m - 1) * ld_token + (top_k - 1) * ld_slot + width) * sizeof(T)};
}

/// Routing checks shared by moe_gemm and moe_ffn (ids read here, before anything is written).
inline void validate_routing(const char* fn, const moe_routing& r, std::int64_t experts) {
    require(r.m >= 0 && r.m <= (std::int64_t(1) << 40), errc::invalid_argument, fn, "routing.m = ", r.m,
            " must be in [0, 2^40]");
    require(r.top_k >= 1 && r.top_k <= experts, errc::invalid_argument, fn, "routing.top_k = ", r.top_k,
            " must be in [1, E = ", experts, "]");
    require(r.m <= (std::int64_t(1) << 40) / r.top_k, errc::invalid_argument, fn, "routing.m x top_k = ", r.m, " x ",
            r.top_k, " exceeds 2^40 rows");
    if (r.m == 0) return;
    require(r.ids != nullptr, errc::invalid_argument, fn, "routing.ids is null");
    require(r.ld_ids >= r.top_k, errc::invalid_argument, fn, "routing.ld_ids = ", r.ld_ids, " is less than top_k = ",
            r.top_k);
    require_rows_addressable<std::int32_t>(fn, "routing.ids (ld_ids)", r.m, 1, r.ld_ids, 0, r.top_k);
    for (std::int64_t t = 0; t < r.m; ++t)
        for (std::int64_t s = 0; s < r.top_k; ++s) {
            const std::int32_t e = r.ids[t * r.ld_ids + s];
            require(e >= 0 && e < experts, errc::out_of_range, fn, "routing.ids[", t, "][", s, "] = ", e,
                    " is not an expert id in [0, ", experts, ")");
        }
}

// ---- grouping ----------------------------------------------------------------------------------------

/// The (token, slot) pairs grouped by expert (a counting sort; stable, so the rows of one expert are
/// in (token, slot) ascending order and the grouping never depends on the executor).
struct moe_groups {
    std::int64_t experts = 0, top_k = 0;
    std::vector<std::int64_t> row_begin;    // (E + 1): expert e's sorted rows are [row_begin[e], row_begin[e + 1])
    std::vector<std::int64_t> group_begin;  // (E + 1): its prepared row groups of 32 (padded rows)
    std::vector<std::int64_t> pair;         // (M·top_k): sorted row -> t·top_k + s
    std::vector<std::int64_t> row_of;       // (M·top_k): t·top_k + s -> sorted row (moe_ffn only)
    std::vector<std::int32_t> active;       // experts with rows, ascending

    std::int64_t rows(std::int64_t e) const { return row_begin[e + 1] - row_begin[e]; }
    std::int64_t groups(std::int64_t e) const { return group_begin[e + 1] - group_begin[e]; }
    std::int64_t total_groups() const { return group_begin.back(); }
};

/// Tokens per chunk of the parallel counting sort (below this, one chunk: the sort is serial).
inline constexpr std::int64_t moe_sort_chunk_tokens = 256;

/// Groups the routing's (token, slot) pairs by expert: a parallel, stable counting sort over token
/// chunks. Each chunk counts its pairs per expert; an exclusive scan in (expert, chunk) order gives
/// every chunk the first sorted row of each expert; each chunk then places its pairs in (token, slot)
/// order. The result is the serial stable sort's, whatever the executor or chunk count.
/// Executors that run every task list on every caller (caller threads) sort serially: each caller
/// builds its own copy of the groups.
template <class Executor>
void group_by_expert(const moe_routing& r, std::int64_t experts, bool inverse, moe_groups& g, Executor& ex) {
    const std::int64_t rows = r.m * r.top_k;
    const bool parallel = !every_caller_runs<std::decay_t<Executor>>::value;
    const std::int64_t chunks =
        parallel ? std::clamp<std::int64_t>(r.m / moe_sort_chunk_tokens, 1, target_task_count()) : 1;
    const std::int64_t tokens_per_chunk = (r.m + chunks - 1) / chunks;
    // first[c * E + e]: chunk c's count of expert e, then (after the scan) its first sorted row of e.
    std::vector<std::int64_t> first(std::size_t(chunks * experts), 0);
    auto for_chunks = [&](auto&& body) {
        if (chunks == 1)
            body(std::int64_t(0));
        else
            ex.parallel_for(chunks, body);
    };
    for_chunks([&](std::int64_t c) {
        std::int64_t* count = first.data() + c * experts;
        for (std::int64_t t = c * tokens_per_chunk; t < std::min(r.m, (c + 1) * tokens_per_chunk); ++t)
            for (std::int64_t s = 0; s < r.top_k; ++s) ++count[r.ids[t * r.ld_ids + s]];
    });

    g.experts = experts;
    g.top_k = r.top_k;
    g.row_begin.assign(std::size_t(experts + 1), 0);
    g.group_begin.assign(std::size_t(experts + 1), 0);
    g.active.clear();
    std::int64_t next_row = 0;
    for (std::int64_t e = 0; e < experts; ++e) {
        g.row_begin[std::size_t(e)] = next_row;
        for (std::int64_t c = 0; c < chunks; ++c) {
            const std::int64_t count = first[std::size_t(c * experts + e)];
            first[std::size_t(c * experts + e)] = next_row;
            next_row += count;
        }
        const std::int64_t count = next_row - g.row_begin[std::size_t(e)];
        if (count > 0) g.active.push_back(static_cast<std::int32_t>(e));
        g.group_begin[std::size_t(e + 1)] = g.group_begin[std::size_t(e)] + (count + kernel_rows - 1) / kernel_rows;
    }
    g.row_begin[std::size_t(experts)] = next_row;

    g.pair.resize(std::size_t(rows));
    if (inverse) g.row_of.resize(std::size_t(rows));
    for_chunks([&](std::int64_t c) {
        std::int64_t* next = first.data() + c * experts;
        for (std::int64_t t = c * tokens_per_chunk; t < std::min(r.m, (c + 1) * tokens_per_chunk); ++t)
            for (std::int64_t s = 0; s < r.top_k; ++s) {
                const std::int64_t row = next[r.ids[t * r.ld_ids + s]]++;
                g.pair[std::size_t(row)] = t * r.top_k + s;
                if (inverse) g.row_of[std::size_t(t * r.top_k + s)] = row;
            }
    });
}

// ---- prepared activations ----------------------------------------------------------------------------

/// A growing 64-byte-aligned scratch area per thread and slot (0-1: blocked-path B and accumulators,
/// 2-3: task outputs, 4: the calling thread's default workspace).
inline std::byte* moe_scratch(int slot, std::size_t bytes) { return thread_scratch(5 + slot, bytes); }

/// Tiled planes for `rows` (a multiple of 32) rows of k, carved from the workspace at `cursor`.
inline prepared_exact carve_prepared(prepared_exact, std::byte*& cursor, std::int64_t rows, std::int64_t k) {
    prepared_exact p;
    p.m = p.m_padded = rows;
    p.k = k;
    p.q = reinterpret_cast<std::int8_t*>(cursor);
    p.d = reinterpret_cast<float*>(cursor + round_up(p.q_bytes(), cache_line_bytes));
    p.sums = reinterpret_cast<std::int32_t*>(cursor + round_up(p.q_bytes(), cache_line_bytes) +
                                             round_up(p.scale_bytes(), cache_line_bytes));
    cursor += round_up(gemm_workspace_bytes(rows, k), cache_line_bytes);
    return p;
}
inline prepared_fast carve_prepared(prepared_fast, std::byte*& cursor, std::int64_t rows, std::int64_t k) {
    prepared_fast p;
    p.m = p.m_padded = rows;
    p.k = k;
    p.x = reinterpret_cast<bf16*>(cursor);
    cursor += round_up(gemm_workspace_bytes(rows, k), cache_line_bytes);
    return p;
}

/// Row groups [g0, g0 + groups) of `all` as a prepared operand of its own with m valid rows.
inline prepared_exact prepared_slice(const prepared_exact& all, std::int64_t g0, std::int64_t groups, std::int64_t m) {
    prepared_exact p = all;
    const std::int64_t tiles = g0 * all.blocks();
    p.m = m;
    p.m_padded = groups * kernel_rows;
    p.q = all.q + tiles * kernel_rows * block_k;
    p.d = all.d + tiles * kernel_rows;
    p.sums = all.sums + tiles * kernel_rows;
    return p;
}
inline prepared_fast prepared_slice(const prepared_fast& all, std::int64_t g0, std::int64_t groups, std::int64_t m) {
    prepared_fast p = all;
    p.m = m;
    p.m_padded = groups * kernel_rows;
    p.x = all.x + g0 * all.blocks() * kernel_rows * block_k;
    return p;
}

/// Writes block b (32 values at v) of row r (< 32) of row group g of `all` (exact; fast operands take
/// prepare_fast_tiles). Same bytes as gemm_q4_0's preparation (quantize_row_q8_0_ref). Padding rows:
/// zero_group_rows.
inline void prepare_block(isa backend, prepared_exact& all, std::int64_t g, std::int64_t b, int r, const float* v) {
    prepared_exact one;  // the (32 rows, 1 block) tile (g, b) as a prepared operand of its own
    one.m = one.m_padded = kernel_rows;
    one.k = block_k;
    one.q = all.q + all.tile_index(g, b) * kernel_rows * block_k;
    one.d = all.d + all.tile_index(g, b) * kernel_rows;
    one.sums = all.sums + all.tile_index(g, b) * kernel_rows;
    prepare_row(backend, one, r, v);
}

/// The row groups of 32 that x is prepared into, and where each expert's operand starts among them.
/// An expert with several rows gets groups of its own (its sorted rows, g's grouping). An expert whose
/// only row is a token's own x row (per-token rows) reads that token's group instead, shared by every
/// such expert of the token: in decode-sized calls most experts have one row, and preparing the same
/// row once per expert (each group in cache lines the previous call's kernels read on other cores)
/// took 18-27 us of a 250 us M = 1 call on the device (2026-11-27); one group takes 7.
struct x_row_groups {
    std::vector<std::int64_t> of_expert;    // (E): first group of expert e's operand
    std::vector<std::int64_t> row0;         // (groups): the group's first sorted row (an index into g.pair)
    std::vector<int> rows;                  // (groups): its rows, consecutive sorted rows from row0
    std::vector<std::int64_t> expert_rows;  // (groups): rows of the expert(s) reading it (rows_read_in_group)
    std::int64_t groups() const { return std::int64_t(row0.size()); }
};

/// Plans x_row_groups: never more groups than g.total_groups(), the workspace's size.
inline void plan_x_row_groups(const moe_groups& g, std::int64_t m, bool per_token, x_row_groups& xg) {
    xg.of_expert.assign(std::size_t(g.experts), 0);
    xg.row0.clear();
    xg.rows.clear();
    xg.expert_rows.clear();
    std::vector<std::int64_t> token_group(per_token ? std::size_t(m) : 0, -1);
    auto add = [&](std::int64_t row0, std::int64_t rows, std::int64_t expert_rows) {
        xg.row0.push_back(row0);
        xg.rows.push_back(static_cast<int>(rows));
        xg.expert_rows.push_back(expert_rows);
        return xg.groups() - 1;
    };
    for (std::int32_t e : g.active) {
        const std::int64_t r0 = g.row_begin[std::size_t(e)], rows = g.rows(e);
        if (per_token && rows == 1) {
            std::int64_t& tg = token_group[std::size_t(g.pair[std::size_t(r0)] / g.top_k)];
            if (tg < 0) tg = add(r0, 1, 1);
            xg.of_expert[std::size_t(e)] = tg;
            continue;
        }
        xg.of_expert[std::size_t(e)] = xg.groups();
        for (std::int64_t i = 0; i < rows; i += kernel_rows) add(r0 + i, std::min<std::int64_t>(kernel_rows, rows - i), rows);
    }
}

/// How prepare_sorted_rows cuts its work: tasks of one row group × a range of `chunk` blocks, so that a
/// few groups of one row are spread over the threads as well; a single row is one task.
struct sorted_rows_tasks {
    std::int64_t groups = 0, chunks = 1, chunk = 1;  // groups to prepare, block ranges per group, blocks per range
    std::int64_t count() const { return groups * chunks; }
};
inline sorted_rows_tasks plan_sorted_rows(const x_row_groups& xg, std::int64_t nb) {
    sorted_rows_tasks t;
    t.groups = xg.groups();
    const std::int64_t splits =
        t.groups == 1 && xg.rows[0] == 1
            ? 1
            : std::clamp<std::int64_t>(target_task_count() / 2 / std::max<std::int64_t>(1, t.groups), 1, std::max<std::int64_t>(1, nb / 8));
    t.chunk = (nb + splits - 1) / splits;
    t.chunks = (nb + t.chunk - 1) / t.chunk;
    return t;
}

/// Task i of prepare_sorted_rows: the rows of one group of `all` (xg's plan) over one block range, from
/// the sorted rows' activations (pair_row(pair): the K floats of a (token, slot) pair), and the padding
/// rows the kernels read set to zero (rows_read_in_group). `exact` inputs must be finite:
/// where(pair, k, value) throws for one that is not.
template <class Prepared, class PairRow, class Where>
void prepare_sorted_task(isa backend, Prepared& all, const moe_groups& g, const x_row_groups& xg, const sorted_rows_tasks& t,
                         PairRow& pair_row, Where& where, std::int64_t i) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    const std::int64_t nb = all.blocks(), gg = i / t.chunks, b0 = (i % t.chunks) * t.chunk, b1 = std::min(nb, b0 + t.chunk);
    const std::int64_t r0 = xg.row0[std::size_t(gg)];
    const int valid = xg.rows[std::size_t(gg)];
    zero_group_rows(all, gg, valid, rows_read_in_group(backend, exact, xg.expert_rows[std::size_t(gg)], valid), b0, b1);
    if constexpr (exact) {
        for (int j = 0; j < valid; ++j) {
            const std::int64_t pair = g.pair[std::size_t(r0 + j)];
            const float* x = pair_row(pair);
            for (std::int64_t k = b0 * block_k; k < b1 * block_k; ++k)
                if (!std::isfinite(x[k])) where(pair, k, x[k]);
            for (std::int64_t b = b0; b < b1; ++b) prepare_block(backend, all, gg, b, j, x + b * block_k);
        }
    } else {
        const float* rows[kernel_rows];
        for (int j = 0; j < valid; ++j) rows[j] = pair_row(g.pair[std::size_t(r0 + j)]) + b0 * block_k;
        prepare_fast_tiles(backend, all, gg, rows, valid, b0, b1);
    }
}

/// Prepares the row groups of `all` that xg names (a single task on the calling thread).
template <class Prepared, class PairRow, class Where, class Executor>
void prepare_sorted_rows(isa backend, Prepared& all, const moe_groups& g, const x_row_groups& xg, PairRow&& pair_row,
                         Where&& where, Executor& ex) {
    const sorted_rows_tasks t = plan_sorted_rows(xg, all.blocks());
    run_tasks(ex, t.count(), t.count() == 1, [&](std::int64_t i) { prepare_sorted_task(backend, all, g, xg, t, pair_row, where, i); });
}

// ---- per-expert compute --------------------------------------------------------------------------------

/// Most row groups and column blocks in one task (bounds the task's scratch: <= 512 KiB of outputs).
inline constexpr std::int64_t moe_task_max_groups = 8;
inline constexpr std::int64_t moe_task_max_col_blocks = 16;

/// One unit of work: row groups [g0, g1) of an expert's rows (relative to its own rows) × output
/// column blocks [cb0, cb1) (32 columns each).
struct moe_task {
    std::int32_t expert;
    std::int64_t g0, g1, cb0, cb1;
};

/// Cuts every active expert into tasks of about the same FLOPs (a row group × column block is one
/// unit: 32 × 32 × K multiply-adds): a few tasks per hardware thread in all, so that one hot
/// expert's rows and columns are spread over every core. Task shapes change speed only.
inline void plan_moe_tasks(const moe_groups& g, std::int64_t col_blocks, std::vector<moe_task>& tasks) {
    std::int64_t units = 0;
    for (std::int32_t e : g.active) units += g.groups(e) * col_blocks;
    const std::int64_t want = target_task_count();
    const std::int64_t target = std::max<std::int64_t>(1, (units + want - 1) / want);
    tasks.clear();
    for (std::int32_t e : g.active) {
        const std::int64_t groups = g.groups(e);
        std::int64_t rg = std::min(groups, moe_task_max_groups), cc = std::min(col_blocks, moe_task_max_col_blocks);
        while (rg * cc > target && cc > 1) cc = (cc + 1) / 2;  // columns first: rows of a task share B
        while (rg * cc > target && rg > 1) rg = (rg + 1) / 2;
        for (std::int64_t g0 = 0; g0 < groups; g0 += rg)
            for (std::int64_t c0 = 0; c0 < col_blocks; c0 += cc)
                tasks.push_back({e, g0, std::min(groups, g0 + rg), c0, std::min(col_blocks, c0 + cc)});
    }
}

/// How many groups of xg, from xg.of_expert[e] on, expert e's tasks read: one for a single row (its
/// own, or its token's shared group), else its own groups.
inline std::int64_t x_groups_of_expert(const moe_groups& g, std::int64_t e) { return g.rows(e) == 1 ? 1 : g.groups(e); }

/// The preparation of x as tasks of a call's queue (run_task_queue), interleaved with the expert tasks
/// that read it, so that the memory-bound preparation runs beside compute-bound products instead of in
/// a phase of its own. Entry i of `order` is preparation task order[i] (< prep.count()) or expert task
/// order[i] - prep.count(). An expert's preparation tasks come a lead of `lead_tasks` expert tasks ahead
/// of its first expert task (taken from the queue in order, they are usually done by then); an expert
/// task still waits for its groups (run). Interleaving needs y's writes not to depend on x rows prepared
/// later (exact mode's non-finite check): true for moe_ffn (y is written after the queue) and for fast
/// moe_gemm. Exact moe_gemm writes y from its expert tasks, so it plans `all_first`: every preparation
/// task comes first and every expert task waits for all of x (a bad x found late leaves y untouched).
struct queued_preparation {
    sorted_rows_tasks prep;
    std::vector<std::atomic<std::int64_t>> left;  // per group: its block ranges not prepared yet
    std::vector<std::int64_t> order;
    bool all_first = false;
    std::atomic<std::int64_t> left_in_all{0};  // all_first: preparation tasks not done yet

    /// Runs entry i of `order`: preparation task j as prepare(j), or an expert task of `tasks` as
    /// run_task(task) once the groups it reads are prepared (not at all if the call failed meanwhile).
    template <class Prepare, class RunTask>
    void run(std::int64_t i, const moe_groups& g, const x_row_groups& xg, const std::vector<moe_task>& tasks,
             const std::atomic<bool>& failed, Prepare&& prepare, RunTask&& run_task) {
        const std::int64_t j = order[std::size_t(i)];
        if (j < prep.count()) {
            prepare(j);
            (all_first ? left_in_all : left[std::size_t(j / prep.chunks)]).fetch_sub(1, std::memory_order_release);
            return;
        }
        const moe_task& tk = tasks[std::size_t(j - prep.count())];
        if (all_first) {
            if (!wait_until_zero(left_in_all, failed)) return;
        } else {
            const std::int64_t g0 = xg.of_expert[std::size_t(tk.expert)];
            for (std::int64_t gg = g0; gg < g0 + x_groups_of_expert(g, tk.expert); ++gg)
                if (!wait_until_zero(left[std::size_t(gg)], failed)) return;
        }
        run_task(tk);
    }
};

/// Plans q for xg's groups (nb blocks per row) and the expert tasks `tasks` (each expert's tasks
/// contiguous, as plan_moe_tasks makes them); `all_first`: see queued_preparation.
inline void plan_queued_preparation(const moe_groups& g, const x_row_groups& xg, std::int64_t nb,
                                    const std::vector<moe_task>& tasks, queued_preparation& q, bool all_first = false) {
    q.prep = plan_sorted_rows(xg, nb);
    q.left = std::vector<std::atomic<std::int64_t>>(std::size_t(q.prep.groups));
    for (auto& l : q.left) l.store(q.prep.chunks, std::memory_order_relaxed);
    const std::int64_t n_prep = q.prep.count(), n_tasks = std::int64_t(tasks.size());
    q.all_first = all_first;
    q.left_in_all.store(n_prep, std::memory_order_relaxed);
    q.order.clear();
    q.order.reserve(std::size_t(n_prep + n_tasks));
    if (all_first) {
        for (std::int64_t i = 0; i < n_prep + n_tasks; ++i) q.order.push_back(i);
        return;
    }
    const std::int64_t lead_tasks = target_task_count() / 2;
    std::vector<char> placed(std::size_t(q.prep.groups), 0);
    auto place_expert_groups = [&](std::int64_t e) {
        const std::int64_t g0 = xg.of_expert[std::size_t(e)], n = x_groups_of_expert(g, e);
        for (std::int64_t gg = g0; gg < g0 + n; ++gg) {
            if (placed[std::size_t(gg)]) continue;  // a token's group shared by one-row experts
            placed[std::size_t(gg)] = 1;
            for (std::int64_t c = 0; c < q.prep.chunks; ++c) q.order.push_back(gg * q.prep.chunks + c);
        }
    };
    std::int64_t ahead = 0;  // expert tasks whose experts' groups are placed
    for (std::int64_t t = 0; t < n_tasks; ++t) {
        // Place the groups of every expert whose first task lies within lead_tasks of this one.
        for (; ahead < n_tasks && ahead < t + lead_tasks; ++ahead)
            if (ahead == 0 || tasks[std::size_t(ahead)].expert != tasks[std::size_t(ahead - 1)].expert)
                place_expert_groups(tasks[std::size_t(ahead)].expert);
        q.order.push_back(n_prep + t);
    }
    for (std::int64_t gg = 0; gg < q.prep.groups; ++gg)  // groups no task reads (none today): still prepared
        if (!placed[std::size_t(gg)])
            for (std::int64_t c = 0; c < q.prep.chunks; ++c) q.order.push_back(gg * q.prep.chunks + c);
}

/// Computes rows [32·g0, min(a.m, 32·g1)) × columns [32·cb0, min(N, 32·cb1)) of a · wᵀ and hands them to
/// `out` (strided_rows, or a sink with its call), row and column block counted from the task's first:
/// element (32·g0, 32·cb0) is row 0 of block 0. `blocked`: the AMX large-M path (B expanded once per K
/// chunk of kc blocks), else one micro-kernel call per 32 × 32 block over all of K (into out's rows
/// when it is strided_rows, else into scratch slot 3 first). Either way each element is summed over K
/// in block order; the choice must depend on a.m only.
template <class Prepared, class Sink>
void moe_expert_tile(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, bool blocked, std::int64_t kc,
                     std::int64_t g0, std::int64_t g1, std::int64_t cb0, std::int64_t cb1, const Sink& out) {
    const q4_0_vnni_layout& L = w.layout;
    if (blocked) {
        // The task's columns as a packed weight of their own (panels are contiguous), its rows as a
        // prepared operand of their own: run_block_task's rows and column blocks are then the task's.
        packed_q4_0_vnni_view ws;
        ws.layout.k = L.k;
        ws.layout.n = std::min(L.n - cb0 * 32, (cb1 - cb0) * 32);
        ws.data = w.panel(cb0 * kernel_panels);
        const Prepared as = prepared_slice(a, g0, g1 - g0, std::min(a.m - g0 * kernel_rows, (g1 - g0) * kernel_rows));
        kc = std::min(kc, L.blocks_per_row());
        auto* bexp = reinterpret_cast<std::uint8_t*>(moe_scratch(0, std::size_t(kc) * (2048 + 32 * sizeof(float))));
        auto* dw = reinterpret_cast<float*>(bexp + std::size_t(kc) * 2048);
        auto* c = reinterpret_cast<float*>(
            moe_scratch(1, std::size_t((cb1 - cb0) * (g1 - g0)) * kernel_rows * kernel_rows * sizeof(float)));
        if (backend == isa::amx)
            amx_hw::run_block_task(ws, as, 0, g1 - g0, 0, cb1 - cb0, kc, bexp, dw, c, out);
        else
            amx_emu::run_block_task(ws, as, 0, g1 - g0, 0, cb1 - cb0, kc, bexp, dw, c, out);
        return;
    }
    constexpr bool strided = std::is_same_v<Sink, strided_rows>;
    std::int64_t ldo = (cb1 - cb0) * 32;
    float* dst = nullptr;
    if constexpr (strided) {
        dst = out.y;
        ldo = out.ldy;
    } else {
        dst = reinterpret_cast<float*>(moe_scratch(3, std::size_t((g1 - g0) * kernel_rows * ldo) * sizeof(float)));
    }
    // One call runs up to this many column blocks of micro_task_row_groups row groups, the groups of a
    // column block adjacent (the AMX fast kernels expand each B block once for a pair of them).
    const std::int64_t step = micro_task_row_groups<Prepared>(backend);
    kernel_block blocks[2 * moe_task_max_col_blocks];
    for (std::int64_t gp = g0; gp < g1; gp += step)
        for (std::int64_t c0 = cb0; c0 < cb1; c0 += moe_task_max_col_blocks) {
            std::int64_t count = 0;
            for (std::int64_t cb = c0; cb < std::min(cb1, c0 + moe_task_max_col_blocks); ++cb)
                for (std::int64_t g = gp; g < std::min(g1, gp + step); ++g)
                    blocks[count++] =
                        column_block_call(L, a.m, g, cb, dst + (g - g0) * kernel_rows * ldo + (cb - cb0) * 32, ldo);
            run_kernel_blocks(backend, w, a, blocks, count);
        }
    if constexpr (!strided) {
        const std::int64_t rows = std::min(a.m, g1 * kernel_rows) - g0 * kernel_rows;
        for (std::int64_t i = 0; i < rows; ++i)
            for (std::int64_t cb = cb0; cb < cb1; ++cb)
                out(i, cb - cb0, dst + i * ldo + (cb - cb0) * 32, std::min<std::int64_t>(32, L.n - cb * 32));
    }
}

/// The first weight panel (over all experts of w) task i reads; `spread` column blocks of w per
/// task column block (2 for gate + up packed together).
inline auto expert_panel(const std::vector<moe_task>& tasks, const packed_q4_0_vnni_experts_view& w, std::int64_t spread) {
    return [&tasks, panels = w.layout.panels(), spread](std::int64_t i) {
        const moe_task& tk = tasks[std::size_t(i)];
        return tk.expert * panels + tk.cb0 * spread * kernel_panels;
    };
}

/// True when an expert with `rows` rows takes the AMX blocked path (the dense driver's threshold).
inline bool moe_blocked_path(isa backend, std::int64_t rows) {
    return (backend == isa::amx || backend == isa::amx_emulated) && rows >= amx_column_path_min_rows;
}

/// The workspace: the caller's (checked) or the calling thread's scratch.
template <class Executor>
std::byte* moe_workspace(const char* fn, const gemm_options& opt, std::size_t need) {
    if (opt.workspace || every_caller_runs<std::decay_t<Executor>>::value) {
        require(opt.workspace != nullptr, errc::invalid_argument, fn,
                "options.workspace is null: an executor that runs on every caller needs a shared workspace");
        require(is_aligned(opt.workspace, cache_line_bytes), errc::invalid_argument, fn, "options.workspace = ",
                opt.workspace, " is not 64-byte aligned");
        require(opt.workspace_bytes >= need, errc::buffer_too_small, fn, "options.workspace_bytes = ",
                opt.workspace_bytes, " is less than the ", need, " bytes this call needs");
        return static_cast<std::byte*>(opt.workspace);
    }
    return nullptr;  // allocated after every check passed
}

// ---- moe_gemm ----------------------------------------------------------------------------------------

template <class Prepared, class Executor>
void moe_gemm_run(isa backend, const packed_q4_0_vnni_experts_view& w, const moe_routing& r, const moe_groups& g,
                  const float* x, moe_input_rows rows, std::int64_t ldx_token, std::int64_t ldx_slot, float* y,
                  std::int64_t ldy_token, std::int64_t ldy_slot, const gemm_options& opt, std::byte* ws,
                  Executor& ex) {
    const std::int64_t n = w.layout.n, k = w.layout.k, top_k = r.top_k;
    Prepared all = carve_prepared(Prepared{}, ws, g.total_groups() * kernel_rows, k);
    auto x_row = [&](std::int64_t pair) {
        const std::int64_t t = pair / top_k, s = pair % top_k;
        return rows == moe_input_rows::per_slot ? x + t * ldx_token + s * ldx_slot : x + t * ldx_token;
    };

    // 1. Gather and prepare (row groups of 32: the experts' own, and the token rows that one-row
    //    experts share).
    x_row_groups xg;
    plan_x_row_groups(g, r.m, rows == moe_input_rows::per_token, xg);
    auto where = [&](std::int64_t pair, std::int64_t kk, float v) {
        fail(errc::invalid_argument, "moe_gemm", "x row of token ", pair / top_k, ", slot ", pair % top_k, " has element ",
             kk, " = ", v, ", not finite (exact mode quantizes activations to Q8_0)");
    };
    const bool queue = one_task_queue(ex);
    if (!queue) prepare_sorted_rows(backend, all, g, xg, x_row, where, ex);

    // 2. Expert tiles, scattered to their (token, slot) output rows.
    std::vector<moe_task> tasks;
    plan_moe_tasks(g, (n + 31) / 32, tasks);
    const std::int64_t kc = choose_amx_blocking(1, 1, opt).kc;
    auto expert_task = [&](const moe_task& tk) {
        const std::int64_t e = tk.expert, count = g.rows(e);
        const Prepared a = prepared_slice(all, xg.of_expert[std::size_t(e)], g.groups(e), count);
        // Each of the task's rows straight to its (token, slot) row of y.
        const std::int64_t* pairs = g.pair.data() + g.row_begin[std::size_t(e)] + tk.g0 * kernel_rows;
        float* y0 = y + tk.cb0 * 32;
        auto to_pair_rows = [&](std::int64_t i, std::int64_t cb, const float* src, std::int64_t cols) {
            const std::int64_t pair = pairs[i];
            std::memcpy(y0 + (pair / top_k) * ldy_token + (pair % top_k) * ldy_slot + cb * 32, src,
                        sizeof(float) * std::size_t(cols));
        };
        moe_expert_tile(backend, w.expert(e), a, moe_blocked_path(backend, count), kc, tk.g0, tk.g1, tk.cb0, tk.cb1,
                        to_pair_rows);
    };
    const std::int64_t n_tasks = std::int64_t(tasks.size());
    if (queue) {
        // One queue (run_task_queue) of x's preparation and the expert tasks (one fork/join instead of two).
        // fast mode cannot fail on x: each expert's tasks wait for its own rows only, and the preparation
        // is interleaved with them. exact: the expert tasks write y, so all of x is prepared (and found
        // finite) first.
        queued_preparation q;
        plan_queued_preparation(g, xg, all.blocks(), tasks, q, std::is_same_v<Prepared, prepared_exact>);
        run_task_queue(ex, std::int64_t(q.order.size()), [&](std::int64_t i, const std::atomic<bool>& failed) {
            q.run(i, g, xg, tasks, failed,
                  [&](std::int64_t j) { prepare_sorted_task(backend, all, g, xg, q.prep, x_row, where, j); }, expert_task);
        });
    } else {
        parallel_for_near_panels(ex, n_tasks, w.experts * w.layout.panels(), expert_panel(tasks, w, 1),
                                 [&](std::int64_t i) { expert_task(tasks[std::size_t(i)]); });
    }
}

// ---- moe_ffn -----------------------------------------------------------------------------------------

/// moe_ffn's gate and up weights: two experts views, or one packed together (packed_q4_0_vnni_gate_up).
struct gate_up_source {
    const packed_q4_0_vnni_experts_view* gate = nullptr;   // separate: E × F × K each
    const packed_q4_0_vnni_experts_view* up = nullptr;
    const packed_q4_0_vnni_experts_view* fused = nullptr;  // together: E × 2F × K, panels alternating

    std::int64_t f() const { return fused ? fused->layout.n / 2 : gate->layout.n; }
};

/// h = act(gate) ⊙ up for rows [32·g0, 32·g1) × F columns [32·cb0, 32·cb1) of expert e, into scratch
/// slot 2 (row stride ldo = 32·(cb1 − cb0)), which it returns. Packed together, one pass computes both
/// (each A tile feeds a gate and an up tile): every 32-column block of the fused product holds 16 gate
/// columns and the same 16 up columns, and turns into those 16 columns of h on its way out. Packed
/// apart: gate into h, up into scratch slot 3, then act. The same bits either way (act_times gives
/// them at any length). Only the expert's rows are computed (a decode group has one of its 32).
template <class Prepared>
float* gate_up_act_tile(isa backend, const gate_up_source& src, std::int64_t e, const Prepared& a, bool blocked,
                        std::int64_t kc, const moe_task& tk, bool gelu) {
    const std::int64_t ldo = (tk.cb1 - tk.cb0) * 32, rows = (tk.g1 - tk.g0) * kernel_rows;
    const std::size_t bytes = std::size_t(rows * ldo) * sizeof(float);
    float* h = reinterpret_cast<float*>(moe_scratch(2, bytes));
    if (!src.fused) {
        // Slot 3 is moe_expert_tile's own only for sinks other than strided_rows (slot 4 holds the call's
        // workspace on the calling thread).
        float* u = reinterpret_cast<float*>(moe_scratch(3, bytes));
        moe_expert_tile(backend, src.gate->expert(e), a, blocked, kc, tk.g0, tk.g1, tk.cb0, tk.cb1, strided_rows{h, ldo});
        moe_expert_tile(backend, src.up->expert(e), a, blocked, kc, tk.g0, tk.g1, tk.cb0, tk.cb1, strided_rows{u, ldo});
        const std::int64_t used = std::min(rows, a.m - tk.g0 * kernel_rows);
        for (std::int64_t row = 0; row < used; ++row) act_times(gelu, h + row * ldo, u + row * ldo, ldo);
        return h;
    }
    auto act_of_halves = [h, ldo, gelu](std::int64_t i, std::int64_t cb, const float* gate_up, std::int64_t) {
        float* hi = h + i * ldo + cb * 16;
        std::memcpy(hi, gate_up, 16 * sizeof(float));
        act_times(gelu, hi, gate_up + 16, 16);  // kernel/activation.hpp
    };
    moe_expert_tile(backend, src.fused->expert(e), a, blocked, kc, tk.g0, tk.g1, 2 * tk.cb0, 2 * tk.cb1, act_of_halves);
    return h;
}

/// One step of moe_ffn's slot sum over n columns: yt[c] = p (first slot) or yt[c] + p, p = wt·d[c]
/// rounded to fp32 before the add (never fused into an FMA, whatever the compiler flags).
inline void add_weighted_slot(float* yt, const float* d, float wt, bool first, std::int64_t n) {
    std::int64_t c = 0;
#if defined(__SSE2__)
    const __m128 w4 = _mm_set1_ps(wt);
    for (; c + 4 <= n; c += 4) {
        const __m128 p = rounded(_mm_mul_ps(w4, _mm_loadu_ps(d + c)));
        _mm_storeu_ps(yt + c, first ? p : _mm_add_ps(_mm_loadu_ps(yt + c), p));
    }
#endif
    for (; c < n; ++c) {
        const float p = rounded(wt * d[c]);
        yt[c] = first ? p : yt[c] + p;
    }
}

/// True when each of `tasks` covers all of its expert's rows and every active expert's tasks cut the
/// columns at the same places (plan_moe_tasks does when every expert has one row group, as in decode
/// calls); then left[cb] = the number of tasks whose columns begin at block cb (each range's tasks
/// finish every (token, slot) row of its columns). False (left unset) otherwise.
inline bool column_ranges_per_expert(const moe_groups& g, const std::vector<moe_task>& tasks,
                                     std::vector<std::atomic<std::int64_t>>& left) {
    std::vector<std::int64_t> count(left.size(), 0), end(left.size(), -1);
    for (const moe_task& tk : tasks) {
        const std::size_t cb = std::size_t(tk.cb0);
        if (tk.g0 != 0 || tk.g1 != g.groups(tk.expert) || (end[cb] >= 0 && end[cb] != tk.cb1)) return false;
        end[cb] = tk.cb1;
        ++count[cb];
    }
    for (std::size_t cb = 0; cb < left.size(); ++cb) {
        if (count[cb] != 0 && count[cb] != std::int64_t(g.active.size())) return false;
        left[cb].store(count[cb], std::memory_order_relaxed);
    }
    return true;
}

template <class Prepared, class Executor>
void moe_ffn_run(isa backend, const gate_up_source& src, const packed_q4_0_vnni_experts_view& down,
                 const moe_routing& r, const float* weights,
                 std::int64_t ld_weights, const float* x, std::int64_t ldx, float* y, std::int64_t ldy,
                 const moe_ffn_options& opt, const moe_groups& g, std::byte* ws, Executor& ex) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    const std::int64_t k = down.layout.n, f = src.f(), top_k = r.top_k;
    const std::int64_t padded = g.total_groups() * kernel_rows;
    Prepared xa = carve_prepared(Prepared{}, ws, padded, k);  // gathered x rows
    Prepared ha = carve_prepared(Prepared{}, ws, padded, f);  // gathered act(gate) ⊙ up rows
    float* d_out = reinterpret_cast<float*>(ws);               // (M·top_k, K) down outputs, sorted rows

    // 1. Gather and prepare x (one-row experts share their token's group).
    x_row_groups xg;
    plan_x_row_groups(g, r.m, true, xg);
    auto where = [&](std::int64_t pair, std::int64_t kk, float v) {
        fail(errc::invalid_argument, "moe_ffn", "x[", pair / top_k, "][", kk, "] = ", v,
             " is not finite (exact mode quantizes activations to Q8_0)");
    };
    auto x_row = [&](std::int64_t pair) { return x + (pair / top_k) * ldx; };
    const bool queue = one_task_queue(ex);
    if (!queue) prepare_sorted_rows(backend, xa, g, xg, x_row, where, ex);  // else in the queue, step 2's

    const std::int64_t kc = choose_amx_blocking(1, 1, opt).kc;

    // 2. gate and up for the same rows and F columns in one task (packed together, one pass over the
    //    A tiles feeds both; see gate_up_act_tile), h = act(gate) ⊙ up in fp32, prepared straight into
    //    the down projection's tiled operand (F column block c of gate/up is Q4_0 block c of down's K,
    //    so a 32 × 32 tile of h is one tile of the down operand).
    auto gate_up_task = [&](const moe_task& tk) {
        const std::int64_t e = tk.expert, count = g.rows(e), gb = g.group_begin[std::size_t(e)];
        const Prepared a = prepared_slice(xa, xg.of_expert[std::size_t(e)], g.groups(e), count);
        const bool blocked = moe_blocked_path(backend, count);
        const std::int64_t ldo = (tk.cb1 - tk.cb0) * 32;
        const float* hv = gate_up_act_tile(backend, src, e, a, blocked, kc, tk, opt.activation == ffn_activation::gelu_tanh);
        for (std::int64_t gl = tk.g0; gl < tk.g1; ++gl) {
            const int valid = static_cast<int>(std::min<std::int64_t>(kernel_rows, count - gl * kernel_rows));
            if constexpr (!exact) {
                const float* rows[kernel_rows];  // h's rows: column blocks [cb0, cb1), down's K blocks
                for (int j = 0; j < valid; ++j) rows[j] = hv + ((gl - tk.g0) * kernel_rows + j) * ldo;
                prepare_fast_tiles(backend, ha, gb + gl, rows, valid, tk.cb0, tk.cb1);
            } else {
                for (int j = 0; j < valid; ++j) {
                    const float* h = hv + ((gl - tk.g0) * kernel_rows + j) * ldo;
                    for (std::int64_t c = 0; c < ldo; ++c) {
                        if (!std::isfinite(h[c])) {
                            const std::int64_t pair = g.pair[std::size_t(g.row_begin[std::size_t(e)] + gl * kernel_rows + j)];
                            fail(errc::invalid_argument, "moe_ffn", "act(gate) * up of token ", pair / top_k, ", slot ",
                                 pair % top_k, " (expert ", e, ") at column ", tk.cb0 * 32 + c, " = ", h[c],
                                 " is not finite (exact mode quantizes it to Q8_0)");
                        }
                    }
                    for (std::int64_t cb = tk.cb0; cb < tk.cb1; ++cb)
                        prepare_block(backend, ha, gb + gl, cb, j, h + (cb - tk.cb0) * 32);
                }
            }
            zero_group_rows(ha, gb + gl, valid, rows_read_in_group(backend, exact, count, valid), tk.cb0, tk.cb1);
        }
    };
    // 3. down: every expert's h rows × down_eᵀ into the sorted (token, slot) rows of d_out. From 8 MiB
    //    of them on, the blocked path writes them with streaming stores: they leave the core's caches
    //    before step 4 reads them, and plain stores would read every line first (paired on the device,
    //    2026-11-29: moe_ffn Qwen3 M = 2048 0.95-0.99 of the time in six runs; dense y and moe_gemm's
    //    rows the same way measured no gain; bench/RESULTS.md, session 24).
    const bool stream_rows = std::size_t(g.row_begin.back()) * std::size_t(k) * sizeof(float) >= streaming_prepare_bytes;
    auto down_task = [&](const moe_task& tk) {
        const std::int64_t e = tk.expert, count = g.rows(e);
        const Prepared a = prepared_slice(ha, g.group_begin[std::size_t(e)], g.groups(e), count);
        float* out = d_out + (g.row_begin[std::size_t(e)] + tk.g0 * kernel_rows) * k + tk.cb0 * 32;
        moe_expert_tile(backend, down.expert(e), a, moe_blocked_path(backend, count), kc, tk.g0, tk.g1, tk.cb0, tk.cb1,
                        strided_rows{out, k, stream_rows});
    };
    // 4. y[t] = Σ_s w[t][s] · d_out[(t, s)] for tokens [t0, t1) and columns [c0, c0 + cols), slots in
    //    order (the only writes to y).
    auto sum_slots = [&](std::int64_t t0, std::int64_t t1, std::int64_t c0, std::int64_t cols) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t s = 0; s < top_k; ++s)
                add_weighted_slot(y + t * ldy + c0, d_out + g.row_of[std::size_t(t * top_k + s)] * k + c0,
                                  weights ? weights[t * ld_weights + s] : 1.0f, s == 0, cols);
    };
    std::vector<moe_task> gu_tasks, down_tasks;
    plan_moe_tasks(g, f / 32, gu_tasks);
    plan_moe_tasks(g, (k + 31) / 32, down_tasks);
    const std::int64_t n_gu = std::int64_t(gu_tasks.size()), n_down = std::int64_t(down_tasks.size());
    bool summed = false;
    if (queue) {
        // One queue (run_task_queue): x's preparation interleaved with the gate/up tasks, each of which
        // waits for its expert's rows (queued_preparation); then the down tasks, each of which first
        // waits until its expert's gate/up tasks are done. One fork/join instead of three, the
        // preparation beside the products, and early experts' down products overlap the last gate/up tasks.
        queued_preparation q;
        plan_queued_preparation(g, xg, xa.blocks(), gu_tasks, q);
        const std::int64_t n_first = std::int64_t(q.order.size());
        std::vector<std::atomic<std::int64_t>> pending(std::size_t(g.experts));  // gate/up tasks not done, per expert
        for (const moe_task& tk : gu_tasks) pending[std::size_t(tk.expert)].fetch_add(1, std::memory_order_relaxed);
        // Where every expert's down tasks cut the columns alike (decode calls), the task that finishes a
        // column range last also sums its slots into y: no sum phase after the queue. By then every
        // gate/up task has succeeded (the range needs all experts), so no error can follow a write to y.
        std::vector<std::atomic<std::int64_t>> range_left((k + 31) / 32);  // per first column block: down tasks not done
        summed = column_ranges_per_expert(g, down_tasks, range_left);
        run_task_queue(ex, n_first + n_down, [&](std::int64_t i, const std::atomic<bool>& failed) {
            if (i < n_first) {
                q.run(i, g, xg, gu_tasks, failed,
                      [&](std::int64_t j) { prepare_sorted_task(backend, xa, g, xg, q.prep, x_row, where, j); },
                      [&](const moe_task& tk) {
                          gate_up_task(tk);
                          pending[std::size_t(tk.expert)].fetch_sub(1, std::memory_order_release);
                      });
                return;
            }
            const moe_task& tk = down_tasks[std::size_t(i - n_first)];
            if (!wait_until_zero(pending[std::size_t(tk.expert)], failed)) return;
            down_task(tk);
            if (summed && range_left[std::size_t(tk.cb0)].fetch_sub(1, std::memory_order_acq_rel) == 1)
                sum_slots(0, r.m, tk.cb0 * 32, std::min(k, tk.cb1 * 32) - tk.cb0 * 32);
        });
    } else {
        const packed_q4_0_vnni_experts_view& gu = src.fused ? *src.fused : *src.gate;  // where the task's panels live
        parallel_for_near_panels(ex, n_gu, gu.experts * gu.layout.panels(), expert_panel(gu_tasks, gu, src.fused ? 2 : 1),
                                 [&](std::int64_t i) { gate_up_task(gu_tasks[std::size_t(i)]); });
        parallel_for_near_panels(ex, n_down, down.experts * down.layout.panels(), expert_panel(down_tasks, down, 1),
                                 [&](std::int64_t i) { down_task(down_tasks[std::size_t(i)]); });
    }

    if (summed) return;
    // Otherwise the slot sum in tasks of up to 16 tokens × a column range, so that a sum of a few tokens
    // is spread too; the smallest runs on the calling thread.
    constexpr std::int64_t tokens_per_task = 16, min_cols = 256, serial_products = 16384;
    const bool small = r.m * top_k * k <= serial_products;
    const std::int64_t token_tasks = (r.m + tokens_per_task - 1) / tokens_per_task;
    const std::int64_t col_tasks =
        small ? 1 : std::clamp<std::int64_t>(target_task_count() / 4 / token_tasks, 1, std::max<std::int64_t>(1, k / min_cols));
    const std::int64_t cols_per_task = (k + col_tasks - 1) / col_tasks;
    run_tasks(ex, token_tasks * col_tasks, small, [&](std::int64_t i) {
        const std::int64_t t0 = (i / col_tasks) * tokens_per_task, c0 = (i % col_tasks) * cols_per_task;
        sum_slots(t0, std::min(r.m, t0 + tokens_per_task), c0, std::min(k, c0 + cols_per_task) - c0);
    });
}


}  // namespace detail

/// MUL_MAT_ID: for every token t < m and slot s < top_k, with e = routing.ids[t][s],
///     y(t, s)[n] = dot(x(t, s), W_e[n]),  n < N
/// w       : E experts of N × K (packed_q4_0_vnni_experts::view())
/// x       : activation rows of K floats; `rows` says whether a token's slots share its row
///           (per_token: x + t·ldx_token) or each has its own (per_slot: x + t·ldx_token + s·ldx_slot)
/// y       : output rows of N floats at y + t·ldy_token + s·ldy_slot (e.g. ldy_slot = N,
///           ldy_token = top_k·N for ggml's [M][top_k][N]); rows must not overlap each other or x
/// opt     : mode / back end / workspace as for gemm_q4_0 (one mode for the call, see plan_moe_q4_0)
/// Numerics per (token, slot) row are gemm_q4_0's: `exact` equals reference_gemm_exact bit for bit,
/// `fast` is within fp32 rounding of reference_gemm_fast. Only y's (token, slot) rows are written.
/// Throws amxmm::error on bad arguments — expert id out of range, top_k outside [1, E], strides,
/// null pointers, overlap, non-finite x in exact mode — before anything is written.
template <class Executor>
gemm_plan moe_gemm(const packed_q4_0_vnni_experts_view& w, const moe_routing& routing, const float* x,
                   moe_input_rows rows, std::int64_t ldx_token, std::int64_t ldx_slot, float* y, std::int64_t ldy_token,
                   std::int64_t ldy_slot, const gemm_options& opt, Executor&& ex) {
    constexpr const char* fn = "moe_gemm";
    detail::validate_experts_view(w, fn, "w");
    detail::validate_routing(fn, routing, w.experts);
    const std::int64_t m = routing.m, top_k = routing.top_k, n = w.layout.n, k = w.layout.k;
    detail::require(rows == moe_input_rows::per_token || rows == moe_input_rows::per_slot, errc::invalid_argument, fn,
                    "rows = ", int(rows), " is not a moe_input_rows value");
    if (m > 0) {
        detail::require(x != nullptr, errc::invalid_argument, fn, "x is null");
        detail::require(y != nullptr, errc::invalid_argument, fn, "y is null");
        const bool shared = rows == moe_input_rows::per_token;
        const std::int64_t xs = shared ? 0 : ldx_slot;
        detail::require_rows_addressable<float>(fn, "x (ldx_token, ldx_slot)", m, shared ? 1 : top_k, ldx_token, xs, k);
        detail::require_rows_addressable<float>(fn, "y (ldy_token, ldy_slot)", m, top_k, ldy_token, ldy_slot, n);
        detail::require(detail::moe_rows_disjoint(m, shared ? 1 : top_k, ldx_token, xs, k), errc::invalid_argument, fn,
                        "x strides ldx_token = ", ldx_token, ", ldx_slot = ", ldx_slot,
                        " make rows of K = ", k, " overlap (need ldx_token >= K, and per_slot rows disjoint)");
        detail::require(detail::moe_rows_disjoint(m, top_k, ldy_token, ldy_slot, n), errc::invalid_argument, fn,
                        "y strides ldy_token = ", ldy_token, ", ldy_slot = ", ldy_slot, " make output rows of N = ", n,
                        " overlap");
        const auto ys = detail::span_of(y, m, top_k, ldy_token, ldy_slot, n);
        detail::require(!ys.overlaps(detail::span_of(x, m, top_k, ldx_token, xs, k)), errc::invalid_argument, fn,
                        "y overlaps x");
        detail::require(!ys.overlaps(detail::span_of(routing.ids, m, 1, routing.ld_ids, 0, top_k)),
                        errc::invalid_argument, fn, "y overlaps routing.ids");
    }
    std::byte* ws = detail::moe_workspace<Executor>(fn, opt, moe_gemm_workspace_bytes(m, top_k, w.experts, k));
    gemm_plan plan = plan_moe_q4_0(m, top_k, w.experts, opt, fn);
    if (m == 0) return plan;
    detail::moe_groups g;
    detail::group_by_expert(routing, w.experts, false, g, ex);
    if (!ws) ws = detail::moe_scratch(4, moe_gemm_workspace_bytes(m, top_k, w.experts, k));
    if (plan.mode == compute_mode::exact)
        detail::moe_gemm_run<prepared_exact>(plan.backend, w, routing, g, x, rows, ldx_token, ldx_slot, y, ldy_token,
                                             ldy_slot, opt, ws, ex);
    else
        detail::moe_gemm_run<prepared_fast>(plan.backend, w, routing, g, x, rows, ldx_token, ldx_slot, y, ldy_token,
                                            ldy_slot, opt, ws, ex);
    return plan;
}

/// Serial overload.
inline gemm_plan moe_gemm(const packed_q4_0_vnni_experts_view& w, const moe_routing& routing, const float* x,
                          moe_input_rows rows, std::int64_t ldx_token, std::int64_t ldx_slot, float* y,
                          std::int64_t ldy_token, std::int64_t ldy_slot, const gemm_options& opt = {}) {
    return moe_gemm(w, routing, x, rows, ldx_token, ldx_slot, y, ldy_token, ldy_slot, opt, serial_executor{});
}

namespace detail {
/// moe_ffn once its weights are checked: e_count experts, gate/up F × K, down K × F.
template <class Executor>
gemm_plan moe_ffn_checked(const gate_up_source& src, const packed_q4_0_vnni_experts_view& down, std::int64_t e_count,
                          const moe_routing& routing, const float* weights, std::int64_t ld_weights, const float* x,
                          std::int64_t ldx, float* y, std::int64_t ldy, const moe_ffn_options& opt, Executor& ex) {
    constexpr const char* fn = "moe_ffn";
    const std::int64_t k = down.layout.n, f = down.layout.k;
    require(opt.activation == ffn_activation::silu || opt.activation == ffn_activation::gelu_tanh,
            errc::invalid_argument, fn, "options.activation = ", int(opt.activation), " is not an ffn_activation");
    validate_routing(fn, routing, e_count);
    const std::int64_t m = routing.m, top_k = routing.top_k;
    if (m > 0) {
        require(x != nullptr, errc::invalid_argument, fn, "x is null");
        require(y != nullptr, errc::invalid_argument, fn, "y is null");
        require(ldx >= k, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", k);
        require(ldy >= k, errc::invalid_argument, fn, "ldy = ", ldy, " is less than K = ", k);
        require_row_span(fn, "ldx", m, ldx, k);
        require_row_span(fn, "ldy", m, ldy, k);
        const auto ys = span_of(y, m, 1, ldy, 0, k);
        require(!ys.overlaps(span_of(x, m, 1, ldx, 0, k)), errc::invalid_argument, fn, "y overlaps x");
        require(!ys.overlaps(span_of(routing.ids, m, 1, routing.ld_ids, 0, top_k)), errc::invalid_argument, fn,
                "y overlaps routing.ids");
        if (weights) {
            require(ld_weights >= top_k, errc::invalid_argument, fn, "ld_weights = ", ld_weights,
                    " is less than top_k = ", top_k);
            require_row_span(fn, "ld_weights", m, ld_weights, top_k);
            require(!ys.overlaps(span_of(weights, m, 1, ld_weights, 0, top_k)), errc::invalid_argument, fn,
                    "y overlaps weights");
            for (std::int64_t t = 0; t < m; ++t)
                for (std::int64_t s = 0; s < top_k; ++s) {
                    const float v = weights[t * ld_weights + s];
                    require(std::isfinite(v) && v >= 0.0f, errc::invalid_argument, fn, "weights[", t, "][", s,
                            "] = ", v, " must be finite and >= 0");
                }
        }
    }
    const std::size_t need = moe_ffn_workspace_bytes(m, top_k, e_count, k, f);
    std::byte* ws = moe_workspace<Executor>(fn, opt, need);
    gemm_plan plan = plan_moe_q4_0(m, top_k, e_count, opt, fn);
    if (m == 0) return plan;
    moe_groups g;
    group_by_expert(routing, e_count, true, g, ex);
    if (!ws) ws = moe_scratch(4, need);
    if (plan.mode == compute_mode::exact)
        moe_ffn_run<prepared_exact>(plan.backend, src, down, routing, weights, ld_weights, x, ldx, y, ldy, opt, g,
                                    ws, ex);
    else
        moe_ffn_run<prepared_fast>(plan.backend, src, down, routing, weights, ld_weights, x, ldx, y, ldy, opt, g, ws,
                                   ex);
    return plan;
}

}  // namespace detail

/// The expert FFN of a MoE layer, fused: for every token t < m,
///     y[t] = Σ_{s < top_k} w[t][s] · down_e( act(gate_e(x[t])) ⊙ up_e(x[t]) ),   e = ids[t][s]
/// gate, up : E experts of F × K (F = expert hidden size)     down : E experts of K × F
/// x        : m rows of K floats (row stride ldx >= K);       y : m rows of K floats (ldy >= K), not overlapping x
/// weights  : routing weights[t * ld_weights + s], finite and >= 0; null means every weight is 1
///
/// Numerics, step by step (`mode` from opt, one for the whole call; see plan_moe_q4_0):
///   1. x rows prepared once per (token, slot): Q8_0 (exact) or bf16 (fast), as gemm_q4_0 does;
///   2. g = gate_e(x), u = up_e(x): gemm_q4_0's arithmetic for that mode, fp32 results;
///   3. h = act(g) · u in fp32 (detail::silu / detail::gelu_tanh, kernel/activation.hpp);
///   4. h rows prepared for down like any activation rows: Q8_0 of each 32-block of h (exact; h
///      must be finite) or bf16 rounding (fast) — the only rounding of the intermediate;
///   5. o = down_e(h) in fp32 (gemm_q4_0's arithmetic), one row per (token, slot);
///   6. y[t] = (((w0·o0) + w1·o1) + ...) in slot order, each product and sum rounded to fp32 (no FMA).
/// Bitwise identical for any executor and thread count. Throws amxmm::error (before anything is
/// written) on bad shapes, ids out of range, top_k outside [1, E], negative or non-finite weights,
/// non-finite x or h in exact mode.
template <class Executor>
gemm_plan moe_ffn(const packed_q4_0_vnni_experts_view& gate, const packed_q4_0_vnni_experts_view& up,
                  const packed_q4_0_vnni_experts_view& down, const moe_routing& routing, const float* weights,
                  std::int64_t ld_weights, const float* x, std::int64_t ldx, float* y, std::int64_t ldy,
                  const moe_ffn_options& opt, Executor&& ex) {
    constexpr const char* fn = "moe_ffn";
    detail::validate_experts_view(gate, fn, "gate");
    detail::validate_experts_view(up, fn, "up");
    detail::validate_experts_view(down, fn, "down");
    const std::int64_t e_count = gate.experts, k = gate.layout.k, f = gate.layout.n;
    detail::require(up.experts == e_count && down.experts == e_count, errc::invalid_argument, fn,
                    "expert counts differ: gate ", e_count, ", up ", up.experts, ", down ", down.experts);
    detail::require(up.layout.n == f && up.layout.k == k, errc::invalid_argument, fn, "up is ", up.layout.n, " x ",
                    up.layout.k, ", gate is ", f, " x ", k, " (both must be F x K)");
    detail::require(down.layout.n == k && down.layout.k == f, errc::invalid_argument, fn, "down is ", down.layout.n,
                    " x ", down.layout.k, ", must be K x F = ", k, " x ", f);
    detail::gate_up_source src;
    src.gate = &gate;
    src.up = &up;
    return detail::moe_ffn_checked(src, down, e_count, routing, weights, ld_weights, x, ldx, y, ldy, opt, ex);
}

/// The same FFN with gate and up packed together (pack_q4_0_vnni_gate_up): one pass over each
/// activation tile computes both projections. Results are bitwise those of the separate overload.
template <class Executor>
gemm_plan moe_ffn(const packed_q4_0_vnni_gate_up_view& gate_up, const packed_q4_0_vnni_experts_view& down,
                  const moe_routing& routing, const float* weights, std::int64_t ld_weights, const float* x,
                  std::int64_t ldx, float* y, std::int64_t ldy, const moe_ffn_options& opt, Executor&& ex) {
    constexpr const char* fn = "moe_ffn";
    detail::validate_gate_up_view(gate_up, fn, "gate_up");
    detail::validate_experts_view(down, fn, "down");
    const std::int64_t e_count = gate_up.fused.experts, k = gate_up.fused.layout.k, f = gate_up.f();
    detail::require(down.experts == e_count, errc::invalid_argument, fn, "expert counts differ: gate_up ", e_count,
                    ", down ", down.experts);
    detail::require(down.layout.n == k && down.layout.k == f, errc::invalid_argument, fn, "down is ", down.layout.n,
                    " x ", down.layout.k, ", must be K x F = ", k, " x ", f);
    detail::gate_up_source src;
    src.fused = &gate_up.fused;
    return detail::moe_ffn_checked(src, down, e_count, routing, weights, ld_weights, x, ldx, y, ldy, opt, ex);
}

/// Serial overload.
inline gemm_plan moe_ffn(const packed_q4_0_vnni_experts_view& gate, const packed_q4_0_vnni_experts_view& up,
                         const packed_q4_0_vnni_experts_view& down, const moe_routing& routing, const float* weights,
                         std::int64_t ld_weights, const float* x, std::int64_t ldx, float* y, std::int64_t ldy,
                         const moe_ffn_options& opt = {}) {
    return moe_ffn(gate, up, down, routing, weights, ld_weights, x, ldx, y, ldy, opt, serial_executor{});
}


/// Serial overload (gate and up packed together).
inline gemm_plan moe_ffn(const packed_q4_0_vnni_gate_up_view& gate_up, const packed_q4_0_vnni_experts_view& down,
                         const moe_routing& routing, const float* weights, std::int64_t ld_weights, const float* x,
                         std::int64_t ldx, float* y, std::int64_t ldy, const moe_ffn_options& opt = {}) {
    return moe_ffn(gate_up, down, routing, weights, ld_weights, x, ldx, y, ldy, opt, serial_executor{});
}

AMXMM_NAMESPACE_END
