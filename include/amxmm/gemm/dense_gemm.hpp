// Dense Q4_0 GEMM / GEMV driver: Y (m × N) = X (m × K) · Wᵀ, W packed as q4_0_vnni.
//
// The driver owns every loop above the micro-kernel (BLIS style): it checks arguments, picks the
// back end and compute mode, prepares the activations (Q8_0 for `exact`, bf16 for `fast`) into a
// tiled workspace, cuts the output into tasks and runs them on an executor:
//   small m (and every vector back end): one 32-row group × a few 32-column blocks per task, each
//     micro-kernel call covering all of K (run_dense_microkernels);
//   AMX, m > 64: row groups × column blocks per task, each column block's B operands expanded once
//     per K chunk and reused by all of the task's rows (run_dense_amx_blocks).
// Every output element is computed by one task with the K blocks in order, so results are bitwise
// identical for any executor and thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../cpu/cache.hpp"
#include "../cpu/isa.hpp"
#include "../format/quantize.hpp"
#include "../kernel/amx_tile_kernel.hpp"
#include "../kernel/microkernel.hpp"
#include "../kernel/prepare_activations.hpp"
#include "../kernel/vector_kernels.hpp"
#include "../pack/q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN

/// Caller choices for a GEMM call. Defaults: best ISA of this machine (AMXMM_ISA applies), mode auto.
struct gemm_options {
    compute_mode mode = compute_mode::automatic;
    std::optional<isa> force_isa;  ///< run on this back end (it must be supported), else default_isa()
    /// K chunk of the AMX large-M path, in Q4_0 blocks (0: derived from the L2 cache size).
    /// Changes speed only: `exact` results are unaffected, `fast` ones only by fp32 reassociation.
    std::int64_t kc_blocks = 0;
    /// Where the prepared activations go (64-byte aligned, gemm_workspace_bytes(m, K) bytes). Null:
    /// amxmm's per-thread scratch of the calling thread. Required with caller_threads_executor,
    /// where all callers must pass the same workspace.
    void* workspace = nullptr;
    std::size_t workspace_bytes = 0;
};

/// Bytes of workspace a gemm_q4_0 call with m rows of K needs (either compute mode).
inline std::size_t gemm_workspace_bytes(std::int64_t m, std::int64_t k) {
    const std::size_t m_pad = std::size_t(round_up(std::max<std::int64_t>(m, 1), std::int64_t(32)));
    const std::size_t scales = round_up(m_pad * std::size_t(k / 32) * 4, cache_line_bytes);
    return std::max(round_up(m_pad * std::size_t(k), cache_line_bytes) + 2 * scales, m_pad * std::size_t(k) * 2);
}

/// What a call will do: the back end, the compute mode, and why.
struct gemm_plan {
    isa backend = isa::scalar;
    compute_mode mode = compute_mode::exact;
    std::string reason;
};

/// Row counts where the AMX back end hands `exact` work to the AVX-512 VNNI micro-kernels, and from
/// which `automatic` picks `fast` on AMX back ends. Measured on the device (Xeon with AMX, 16 threads,
/// 2026-11-25, bench/RESULTS.md; cold weights, K = 2048 / 4096, N = 4096), time per call in µs:
///            VNNI exact   AMX exact   AMX fast
///   M = 1      73 / 134    100 / 128   141 / 298
///   M = 4      97 / 161    102 / 192   152 / 253
///   M = 8     127 / 362    109 / 196   132 / 234
///   M = 16    238 / 440    144 / 278   181 / 233
///   M = 64 (hot, K = 4096):  AMX exact 737, AMX fast 522
/// The VNNI kernels got cheaper per block on 2026-11-26 (commit 6b9863b; same device, cold, two runs
/// each, K2048 N4096 / K4096 N4096 / K4096 N14336, µs): at M = 8 VNNI exact 90-99 / 163-252 / 443-444
/// against AMX exact 112-151 / 180-203 / 585-656; at M = 16 a tie (159-165 / 341-364 / 697-707 against
/// 163-207 / 270-342 / 691-817). So the VNNI kernels now take m <= 8.
/// The bf16 expansion got cheaper on 2026-11-28 (expand_block_bf16_vbmi), and `fast` now takes m = 16.
/// Same device, cold, µs, two processes, K2048 N4096 / K4096 N4096 / K4096 N14336:
///   M = 16:  AMX exact 187-340 / 367-428 / 626-921,  AMX fast 148-238 / 238-326 / 663-803
///   M = 8:   AMX exact 183 / 318 / 668,              AMX fast 243 / 354 / 932
/// Hot, K4096 N14336, three rounds: exact ahead up to m = 14, a tie at m = 16 (693-727 vs 650-739 µs).
inline constexpr std::int64_t amx_vector_max_rows = 8;
inline constexpr std::int64_t auto_fast_min_rows = 16;
/// Rows from which the AMX back ends use the blocked large-M path (below: the micro-kernels).
inline constexpr std::int64_t amx_column_path_min_rows = 2 * kernel_rows + 1;

/// Decides back end and mode for an m-row product without running it.
namespace detail {
/// plan_gemm_q4_0 with `automatic` picking `fast` on AMX back ends from `fast_min_rows` rows (MoE calls
/// pass their own threshold, plan_moe_q4_0).
inline gemm_plan plan_q4_0(std::int64_t m, const gemm_options& opt, std::int64_t fast_min_rows,
                           const char* fn = "gemm_q4_0") {
    detail::require(opt.mode == compute_mode::automatic || opt.mode == compute_mode::exact ||
                        opt.mode == compute_mode::fast,
                    errc::invalid_argument, fn, "options.mode = ", int(opt.mode), " is not a compute_mode");
    gemm_plan plan;
    if (opt.force_isa) {
        const std::string why = isa_unsupported_reason(*opt.force_isa);
        detail::require(why.empty(), errc::unsupported, fn, "options.force_isa = ", to_string(*opt.force_isa),
                        " is not available here: ", why);
        plan.backend = *opt.force_isa;
        plan.reason = std::string(to_string(plan.backend)) + ": forced by gemm_options";
    } else {
        const isa_choice& c = default_isa();
        plan.backend = c.chosen;
        plan.reason = c.reason;
    }
    const bool amx_like = plan.backend == isa::amx || plan.backend == isa::amx_emulated;
    if (opt.mode != compute_mode::automatic) {
        plan.mode = opt.mode;
        plan.reason += std::string("; mode ") + to_string(plan.mode) + " requested";
    } else if (amx_like && m >= fast_min_rows) {
        plan.mode = compute_mode::fast;
        plan.reason += "; mode fast (auto: AMX back end and m >= " + std::to_string(fast_min_rows) + ")";
    } else if (plan.backend == isa::amx && m <= amx_vector_max_rows) {
        plan.mode = compute_mode::exact;
        plan.reason += "; mode exact on AVX-512 VNNI micro-kernels (auto: m <= " + std::to_string(amx_vector_max_rows) +
                       ", where they beat the tiles)";
    } else {
        plan.mode = compute_mode::exact;
        plan.reason += amx_like ? "; mode exact (auto: m < " + std::to_string(fast_min_rows) + ")"
                                : "; mode exact (auto: no AMX)";
    }
    return plan;
}
}  // namespace detail

inline gemm_plan plan_gemm_q4_0(std::int64_t m, const gemm_options& opt = {}) {
    return detail::plan_q4_0(m, opt, auto_fast_min_rows);
}

namespace detail {

/// True when rows (t, s) of `width` elements at t·ld_token + s·ld_slot (t < m, s < top_k) end within
/// `max_elements` of the first, so that the pointer arithmetic on them, overlap checks included, is
/// defined. Negative strides are left to the callers' other checks (they reject them).
inline bool rows_addressable(std::int64_t m, std::int64_t top_k, std::int64_t ld_token, std::int64_t ld_slot,
                             std::int64_t width, std::int64_t max_elements) {
    if (ld_token < 0 || ld_slot < 0) return true;
    if (width > max_elements) return false;
    std::int64_t room = max_elements - width;
    if (m > 1) {
        if (ld_token > room / (m - 1)) return false;
        room -= (m - 1) * ld_token;
    }
    return top_k <= 1 || ld_slot <= room / (top_k - 1);
}
template <class T>
inline constexpr std::int64_t max_elements_of = std::numeric_limits<std::ptrdiff_t>::max() / std::int64_t(sizeof(T));

/// Throws unless m rows of `width` floats, `ld` apart, are addressable (rows_addressable).
inline void require_row_span(const char* fn, const char* ld_name, std::int64_t m, std::int64_t ld, std::int64_t width) {
    require(rows_addressable(m, 1, ld, 0, width, max_elements_of<float>), errc::invalid_argument, fn, ld_name, " = ", ld,
            " with m = ", m, " rows spans more than the address space");
}

inline void validate_gemm_args(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                               const float* y, std::int64_t ldy) {
    constexpr const char* fn = "gemm_q4_0";
    validate_q4_0_vnni_shape(w.layout.n, w.layout.k, fn);
    require(w.data != nullptr, errc::invalid_argument, fn, "w.data is null");
    require(is_aligned(w.data, cache_line_bytes), errc::invalid_argument, fn, "w.data = ", static_cast<const void*>(w.data),
            " is not 64-byte aligned");
    require(m >= 0, errc::invalid_argument, fn, "m = ", m, " is negative");
    if (m == 0) return;
    require(x != nullptr, errc::invalid_argument, fn, "x is null");
    require(y != nullptr, errc::invalid_argument, fn, "y is null");
    require(ldx >= w.layout.k, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", w.layout.k);
    require(ldy >= w.layout.n, errc::invalid_argument, fn, "ldy = ", ldy, " is less than N = ", w.layout.n);
    require_row_span(fn, "ldx", m, ldx, w.layout.k);
    require_row_span(fn, "ldy", m, ldy, w.layout.n);
    const auto* x_end = x + (m - 1) * ldx + w.layout.k;
    const auto* y_end = y + (m - 1) * ldy + w.layout.n;
    require(y_end <= x || x_end <= y, errc::invalid_argument, fn, "y overlaps x");
}

/// A growing 64-byte-aligned scratch area per thread and slot, reused across calls: the steady state
/// allocates nothing (slots 0-1: kernel task scratch; 2-4: the calling thread's prepared activations;
/// 5-9: the MoE drivers').
inline constexpr int thread_scratch_slots = 10;

inline aligned_buffer* thread_scratch_buffers() {
    thread_local aligned_buffer buffers[thread_scratch_slots];
    return buffers;
}

inline std::byte* thread_scratch(int slot, std::size_t bytes) {
    aligned_buffer& b = thread_scratch_buffers()[slot];
    if (b.size() < bytes) b = aligned_buffer(bytes);
    return b.data();
}

}  // namespace detail

/// Bytes of scratch amxmm keeps on the calling thread (it grows to the largest call and is reused).
inline std::size_t thread_scratch_bytes() {
    std::size_t total = 0;
    for (int i = 0; i < detail::thread_scratch_slots; ++i) total += detail::thread_scratch_buffers()[i].size();
    return total;
}

/// Frees the calling thread's scratch (e.g. after one very large prompt); the next call allocates
/// again. Must not be called while an amxmm call runs on this thread.
inline void release_thread_scratch() {
    for (int i = 0; i < detail::thread_scratch_slots; ++i) detail::thread_scratch_buffers()[i] = aligned_buffer();
}

namespace detail {

/// Memory for the prepared activation planes: the caller's workspace when given (checked), else the
/// calling thread's scratch slots 2..4. `offset` advances through the workspace.
inline std::byte* activation_plane(const gemm_options& opt, int slot, std::size_t bytes, std::size_t& offset) {
    if (!opt.workspace) return thread_scratch(slot, bytes);
    std::byte* p = static_cast<std::byte*>(opt.workspace) + offset;
    offset += round_up(bytes, cache_line_bytes);
    return p;
}

/// True for executors whose parallel_for runs on every caller (caller_threads_executor).
template <class E, class = void>
struct every_caller_runs : std::false_type {};
template <class E>
struct every_caller_runs<E, std::void_t<decltype(E::every_caller_runs)>> : std::bool_constant<E::every_caller_runs> {};

/// Runs fn(i) for i < count. With `small` set, on the calling thread: a few microseconds of work
/// do not pay for a round trip through a thread pool. Executors that run every task list on every
/// caller always get the parallel_for, so that each task still runs once.
template <class Executor, class Fn>
void run_tasks(Executor& ex, std::int64_t count, bool small, Fn&& fn) {
    if (small && !every_caller_runs<std::decay_t<Executor>>::value)
        for (std::int64_t i = 0; i < count; ++i) fn(i);
    else
        ex.parallel_for(count, fn);
}

/// True for executors that can run a task on a chosen partition (tbb_executor: NUMA nodes).
template <class E, class = void>
struct has_partitions : std::false_type {};
template <class E>
struct has_partitions<E, std::void_t<decltype(std::declval<E&>().partitions())>> : std::true_type {};

/// Runs fn(task) for task < count, each on the partition that holds weight panel panel_of(task) of
/// `panels`: a weight packed with the same executor was first touched there (see tbb_executor).
/// Placement only: which task computes what is unchanged.
template <class Executor, class PanelOf, class Fn>
void parallel_for_near_panels(Executor& ex, std::int64_t count, std::int64_t panels, PanelOf&& panel_of, Fn&& fn) {
    if constexpr (has_partitions<std::decay_t<Executor>>::value) {
        if (ex.partitions() > 1) {
            ex.parallel_for_affine(count, [&](std::int64_t t) { return ex.partition_of(panel_of(t), panels); }, fn);
            return;
        }
    }
    ex.parallel_for(count, fn);
}

/// Tasks worth creating for the hardware threads: a few per thread, for balance. Read once: glibc's
/// std::thread::hardware_concurrency() opens and reads /sys/devices/system/cpu/online on every call,
/// microseconds of system calls that a decode-sized call (tens of microseconds) cannot afford.
inline std::int64_t target_task_count() {
    static const std::int64_t tasks = 4 * std::max<std::int64_t>(1, std::thread::hardware_concurrency());
    return tasks;
}

/// True when a driver may run its tasks from one queue on ex (run_task_queue): not for executors that
/// run every task on every caller (each caller would have its own queue), nor across several NUMA
/// partitions (the queue would not send a task to its weights' node).
template <class Executor>
bool one_task_queue(Executor& ex) {
    if constexpr (every_caller_runs<std::decay_t<Executor>>::value)
        return false;
    else if constexpr (has_partitions<std::decay_t<Executor>>::value)
        return ex.partitions() == 1;
    else
        return true;
}

/// Waits until n is 0 (true) or `failed` is set (false): a short spin, then yielding the CPU.
inline bool wait_until_zero(const std::atomic<std::int64_t>& n, const std::atomic<bool>& failed) {
    for (std::int64_t spins = 0; n.load(std::memory_order_acquire) != 0; ++spins) {
        if (failed.load(std::memory_order_relaxed)) return false;
        if (spins < 4096) {
#if defined(__SSE2__)
            _mm_pause();
#endif
        } else {
            std::this_thread::yield();
        }
    }
    return true;
}

/// Runs fn(i, failed) for i < count from one atomic queue, claimed in ascending order by one worker
/// per hardware thread (ex.parallel_for). A task may wait (wait_until_zero) for tasks of lower index:
/// each of those was claimed by a worker that is running it, so the wait ends whatever order the
/// executor starts its workers in. A task that throws sets `failed`, which ends the other workers'
/// claiming and waiting; the executor rethrows. Which task computes what does not change, only which
/// thread runs it. Only where one_task_queue(ex).
template <class Executor, class Fn>
void run_task_queue(Executor& ex, std::int64_t count, Fn&& fn) {
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    ex.parallel_for(std::min(count, target_task_count() / 4), [&](std::int64_t) {
        for (std::int64_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) {
            try {
                fn(i, failed);
            } catch (...) {
                failed.store(true, std::memory_order_relaxed);
                throw;
            }
        }
    });
}

inline bool has_avx512_prepare(isa backend) { return backend == isa::amx || backend == isa::avx512_vnni; }

/// Row i of `p` from k floats at x, Q8_0, with the back end's preparation (the AVX-512 and scalar row
/// functions write the same bytes; fast operands: prepare_fast_tiles). Returns false when x is not all finite, having written meaningless bytes (the AVX-512 version checks
/// as it goes; callers that need finite rows check first or call require_finite_row then).
inline bool prepare_row(isa backend, prepared_exact& p, std::int64_t i, const float* x) {
    if (has_avx512_prepare(backend)) return prepare_exact_row_avx512(x, i, p);
    for (std::int64_t kk = 0; kk < p.k; ++kk)
        if (!std::isfinite(x[kk])) return false;
    prepare_exact_row_ref(x, i, p);
    return true;
}

/// Fast operands of at least this many bytes are written with non-temporal stores. Much larger than a
/// core's L2, they leave it before they are read anyway, and ordinary stores would first read every line
/// they fill (paired on the device, 2026-11-28: Qwen3 MoE at M = 2048 0.955-0.963, M = 512 and dense
/// calls unchanged; bench/RESULTS.md, session 17). moe_ffn's slot rows (moe_ffn_run, step 3) take the same
/// threshold for the same reason (session 24).
inline constexpr std::size_t streaming_prepare_bytes = std::size_t(8) << 20;

/// Rows [0, valid) of row group g of `p`, blocks [b0, b1), from row pointers (rows[j] + 32·(b − b0) is
/// row j's block b), block by block, bf16 RNE (AVX512_BF16, which every AMX CPU has, or the scalar
/// version: the same bytes). The tiled layout puts a row's consecutive blocks 2 KiB apart; walking
/// tile by tile writes each 2 KiB front to back.
inline void prepare_fast_tiles(isa backend, prepared_fast& p, std::int64_t g, const float* const* rows, int valid,
                               std::int64_t b0, std::int64_t b1) {
    if (backend == isa::amx || (has_avx512_prepare(backend) && detected_cpu_features().avx512_bf16)) {
        if (p.x_bytes() >= streaming_prepare_bytes)
            prepare_fast_tiles_avx512<true>(rows, valid, g, b0, b1, p);
        else
            prepare_fast_tiles_avx512<false>(rows, valid, g, b0, b1, p);
    } else
        prepare_fast_tiles_ref(rows, valid, g, b0, b1, p);
}

/// The micro-kernel call for row group g and column block cb (two panels) of an m-row product with
/// output c (row stride ldc, c[0] = the group's first row, the block's first column).
inline kernel_block column_block_call(const q4_0_vnni_layout& L, std::int64_t m, std::int64_t g, std::int64_t cb,
                                      float* c, std::int64_t ldc) {
    kernel_block kb;
    kb.m0 = g * kernel_rows;
    kb.mr = static_cast<int>(std::min<std::int64_t>(kernel_rows, m - kb.m0));
    kb.p0 = cb * kernel_panels;
    kb.np = static_cast<int>(std::min<std::int64_t>(kernel_panels, L.panels() - kb.p0));
    kb.nr = static_cast<int>(std::min<std::int64_t>(16 * kb.np, L.n - 16 * kb.p0));
    kb.b0 = 0;
    kb.b1 = L.blocks_per_row();
    kb.c = c;
    kb.ldc = ldc;
    kb.accumulate = false;
    return kb;
}

/// Rows of a row group with `valid` activation rows (the first ones) that the micro-kernels read, for
/// an operand of m rows on `backend`: the vector kernels read the valid rows only, the tile kernels
/// whole A tiles (rows 0-15, or 0-31 when more than 16 are valid, and always 0-31 on the large-M
/// column path). Padding rows below this count must be zero; the others are never read.
inline int rows_read_in_group(isa backend, bool exact, std::int64_t m, int valid) {
    const bool tiles = backend == isa::amx_emulated || (backend == isa::amx && !(exact && m <= amx_vector_max_rows));
    if (!tiles) return valid;
    if (m >= amx_column_path_min_rows || valid > 16) return kernel_rows;
    return 16;
}

/// Zeroes n bytes at p unless they already are zero: a decode loop leaves the same padding rows zero
/// call after call, and rewriting them would take each cache line back from the cores that read it last.
inline void clear_bytes(void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    std::size_t i = 0;
    for (std::uint64_t v = 0; i + 8 <= n; i += 8) {
        std::memcpy(&v, b + i, 8);
        if (v != 0) break;
    }
    while (i < n && i + 8 > n && b[i] == 0) ++i;
    if (i < n) std::memset(static_cast<unsigned char*>(p) + i, 0, n - i);
}

/// Zeroes rows [r0, r1) of row group g in blocks [b0, b1) (a group's rows are contiguous in every
/// tile: one clear per tile and plane).
inline void zero_group_rows(prepared_exact& p, std::int64_t g, int r0, int r1, std::int64_t b0, std::int64_t b1) {
    if (r1 <= r0) return;
    const std::size_t rows = std::size_t(r1 - r0);
    for (std::int64_t b = b0; b < b1; ++b) {
        const std::int64_t t = p.tile_index(g, b);
        clear_bytes(p.q + (t * kernel_rows + r0) * block_k, rows * block_k);
        clear_bytes(p.d + t * kernel_rows + r0, rows * sizeof(float));
        clear_bytes(p.sums + t * kernel_rows + r0, rows * sizeof(std::int32_t));
    }
}
inline void zero_group_rows(prepared_fast& p, std::int64_t g, int r0, int r1, std::int64_t b0, std::int64_t b1) {
    if (r1 <= r0) return;
    for (std::int64_t b = b0; b < b1; ++b)
        clear_bytes(p.x + ((g * p.blocks() + b) * kernel_rows + r0) * block_k, std::size_t(r1 - r0) * block_k * sizeof(bf16));
}

/// The prepared operand's planes for m rows of k (no rows written yet): the caller's workspace when
/// given, else the calling thread's scratch. Call it on the thread that owns the scratch.
inline prepared_exact activation_planes(prepared_exact, std::int64_t m, std::int64_t k, const gemm_options& opt) {
    prepared_exact p;
    p.m = m;
    p.m_padded = round_up(m, std::int64_t(kernel_rows));
    p.k = k;
    std::size_t offset = 0;
    p.q = reinterpret_cast<std::int8_t*>(activation_plane(opt, 2, p.q_bytes(), offset));
    p.d = reinterpret_cast<float*>(activation_plane(opt, 3, p.scale_bytes(), offset));
    p.sums = reinterpret_cast<std::int32_t*>(activation_plane(opt, 4, p.scale_bytes(), offset));
    return p;
}
inline prepared_fast activation_planes(prepared_fast, std::int64_t m, std::int64_t k, const gemm_options& opt) {
    prepared_fast p;
    p.m = m;
    p.m_padded = round_up(m, std::int64_t(kernel_rows));
    p.k = k;
    std::size_t offset = 0;
    p.x = reinterpret_cast<bf16*>(activation_plane(opt, 2, p.x_bytes(), offset));
    return p;
}

/// Row group g of `p` from x (row stride ldx): Q8_0 (exact; x must be finite, else amxmm::error) or
/// bf16 (fast), AVX-512 rows giving the scalar bytes. A partial last group's padding rows that the
/// kernels read are cleared first.
template <class Prepared>
void prepare_group(isa backend, Prepared& p, const float* x, std::int64_t ldx, std::int64_t g) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    const int valid = static_cast<int>(std::min<std::int64_t>(kernel_rows, p.m - g * kernel_rows));
    if (valid < kernel_rows) zero_group_rows(p, g, valid, rows_read_in_group(backend, exact, p.m, valid), 0, p.blocks());
    if constexpr (exact) {
        for (std::int64_t i = g * kernel_rows; i < g * kernel_rows + valid; ++i)
            if (!prepare_row(backend, p, i, x + i * ldx)) require_finite_row(x + i * ldx, p.k, i);  // throws
    } else {
        const float* rows[kernel_rows];
        for (int j = 0; j < valid; ++j) rows[j] = x + (g * kernel_rows + j) * ldx;
        prepare_fast_tiles(backend, p, g, rows, valid, 0, p.blocks());
    }
}

/// The prepared activations of m rows (prepare_group for every group, a group per task; a decode
/// call's single group on the calling thread).
template <class Prepared, class Executor>
Prepared prepare_activations(isa backend, std::int64_t m, const float* x, std::int64_t ldx, std::int64_t k,
                             Executor& ex, const gemm_options& opt = {}) {
    Prepared p = activation_planes(Prepared{}, m, k, opt);
    const std::int64_t groups = p.m_padded / kernel_rows;
    run_tasks(ex, groups, groups == 1, [&](std::int64_t g) { prepare_group(backend, p, x, ldx, g); });
    return p;
}
template <class Executor>
prepared_exact prepare_exact(isa backend, std::int64_t m, const float* x, std::int64_t ldx, std::int64_t k,
                             Executor& ex, const gemm_options& opt = {}) {
    return prepare_activations<prepared_exact>(backend, m, x, ldx, k, ex, opt);
}
template <class Executor>
prepared_fast prepare_fast(isa backend, std::int64_t m, const float* x, std::int64_t ldx, std::int64_t k,
                           Executor& ex, const gemm_options& opt = {}) {
    return prepare_activations<prepared_fast>(backend, m, x, ldx, k, ex, opt);
}

/// Runs `count` micro-kernel calls on one back end (the tile context is set up once for all).
template <class Prepared>
void run_kernel_blocks(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, const kernel_block* blocks,
                       std::int64_t count) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    vector_scratch s;
    switch (backend) {
        case isa::amx:
            if constexpr (exact) {
                if (a.m <= amx_vector_max_rows) {  // small m: the VNNI micro-kernels are faster (measured)
                    for (std::int64_t i = 0; i < count; ++i) avx512_exact_kernel(w, a, blocks[i], s);
                    return;
                }
                amx_hw::run_exact(w, a, blocks, count);
            } else {
                amx_hw::run_fast(w, a, blocks, count);
            }
            return;
        case isa::amx_emulated:
            if constexpr (exact) amx_emu::run_exact(w, a, blocks, count); else amx_emu::run_fast(w, a, blocks, count);
            return;
        case isa::avx512_vnni:
            if constexpr (exact) {
                for (std::int64_t i = 0; i < count; ++i) avx512_exact_kernel(w, a, blocks[i], s);
            } else if (detected_cpu_features().avx512_bf16) {
                for (std::int64_t i = 0; i < count; ++i) avx512_bf16_fast_kernel(w, a, blocks[i], s);
            } else {
                for (std::int64_t i = 0; i < count; ++i) avx512_fast_kernel(w, a, blocks[i], s);
            }
            return;
        case isa::avx2:
            for (std::int64_t i = 0; i < count; ++i) {
                if constexpr (exact) avx2_exact_kernel(w, a, blocks[i], s); else avx2_fast_kernel(w, a, blocks[i], s);
            }
            return;
        case isa::scalar:
            for (std::int64_t i = 0; i < count; ++i) {
                if constexpr (exact) scalar_exact_kernel(w, a, blocks[i], s); else scalar_fast_kernel(w, a, blocks[i], s);
            }
            return;
    }
}

/// Most output column blocks (of 32) per task on the micro-kernel path.
inline constexpr int max_task_column_blocks = 4;

/// Row groups one micro-kernel task takes: two on the AMX back ends in `fast` mode, whose run_fast
/// expands each B block once for a pair of adjacent row groups (amx_fast_kernel_pair), else one.
template <class Prepared>
constexpr std::int64_t micro_task_row_groups(isa backend) {
    return std::is_same_v<Prepared, prepared_fast> && (backend == isa::amx || backend == isa::amx_emulated) ? 2 : 1;
}

/// The micro-kernel path (vector back ends, and AMX when m is small): tasks are one row group (two:
/// micro_task_row_groups) × a few column blocks (fewer when that leaves too few tasks for the hardware
/// threads), each output element computed with all of K in one call.
template <class Prepared, class Executor>
void run_dense_microkernels(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, float* y,
                            std::int64_t ldy, Executor& ex) {
    const q4_0_vnni_layout& L = w.layout;
    const std::int64_t m_blocks = a.m_padded / kernel_rows, rows_per_task = micro_task_row_groups<Prepared>(backend);
    const std::int64_t m_units = (m_blocks + rows_per_task - 1) / rows_per_task;
    const std::int64_t n_blocks = (L.panels() + kernel_panels - 1) / kernel_panels;
    const std::int64_t want = target_task_count();
    const std::int64_t per_task = std::clamp<std::int64_t>(m_units * n_blocks / want, 1, max_task_column_blocks);
    const std::int64_t n_groups = (n_blocks + per_task - 1) / per_task;
    const auto first_panel = [&](std::int64_t task) { return (task % n_groups) * per_task * kernel_panels; };
    parallel_for_near_panels(ex, m_units * n_groups, L.panels(), first_panel, [&](std::int64_t task) {
        const std::int64_t mb0 = (task / n_groups) * rows_per_task, group = task % n_groups;
        const std::int64_t mb1 = std::min(m_blocks, mb0 + rows_per_task);
        kernel_block blocks[2 * max_task_column_blocks];  // the row groups of a column block adjacent (pairs)
        std::int64_t count = 0;
        for (std::int64_t nb = group * per_task; nb < std::min(n_blocks, (group + 1) * per_task); ++nb)
            for (std::int64_t mb = mb0; mb < mb1; ++mb)
                blocks[count++] = column_block_call(L, a.m, mb, nb, y + mb * kernel_rows * ldy + nb * 32, ldy);
        run_kernel_blocks(backend, w, a, blocks, count);
    });
}

/// Cache blocking of the AMX large-M path, derived from this machine's cache sizes.
struct amx_blocking {
    std::int64_t kc = 0;           // K chunk in Q4_0 blocks: one column block's B chunk fills L2/32
    std::int64_t row_groups = 0;   // row groups (of 32) per task: A chunk (2 KiB per group and block) <= L2/4
    std::int64_t col_blocks = 0;   // column blocks (of 32) per task: accumulators (4 KiB each per group) <= L2/4
};

inline amx_blocking choose_amx_blocking(std::int64_t groups, std::int64_t col_blocks, const gemm_options& opt) {
    const cache_sizes& cs = detected_cache_sizes();
    amx_blocking bl;
    // (A caller's kc_blocks past any K is clamped: kc only sizes chunks, and kc · 2 KiB must not overflow.)
    // The B chunk (kc · 2 KiB of bf16 operands) is sized against L2, not L1: each chunk costs every row group a
    // round trip of its accumulators and every column block an expansion call, and B tiles load well enough
    // from L2. With a 2 MiB L2 this gives 32 blocks (K = 1024) where the L1d/2 rule gave 12; paired on the
    // device (16 threads, 2026-11-29, bench/RESULTS.md session 22, three runs) 32 took 0.91-0.98 of 12's time
    // at M = 2048 (dense fast, moe_gemm, moe_ffn) and 0.94-0.99 on dense M = 512; 20, 24 and 64 gained less.
    bl.kc = opt.kc_blocks > 0 ? std::min<std::int64_t>(opt.kc_blocks, std::int64_t(1) << 30)
                              : std::max<std::int64_t>(2, cs.l2 / 32 / 2048);
    bl.row_groups = std::clamp<std::int64_t>(cs.l2 / 4 / (bl.kc * 2048), 1, 8);
    bl.col_blocks = std::clamp<std::int64_t>(cs.l2 / 4 / (bl.row_groups * 4096), 1, 16);
    bl.row_groups = std::min(bl.row_groups, groups);
    bl.col_blocks = std::min(bl.col_blocks, col_blocks);
    // Enough tasks for every hardware thread (a few each, for balance): narrow the tasks if needed.
    const std::int64_t want = target_task_count();
    auto tasks = [&] { return ((groups + bl.row_groups - 1) / bl.row_groups) * ((col_blocks + bl.col_blocks - 1) / bl.col_blocks); };
    while (tasks() < want && bl.col_blocks > 1) bl.col_blocks = (bl.col_blocks + 1) / 2;
    while (tasks() < want && bl.row_groups > 1) bl.row_groups = (bl.row_groups + 1) / 2;
    return bl;
}

/// The AMX large-M path: tasks are (row groups × column blocks) tiles of the output; in each, every
/// column block's B operands are expanded once per K chunk and reused by all of the task's rows.
template <class Prepared, class Executor>
void run_dense_amx_blocks(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, float* y,
                          std::int64_t ldy, const gemm_options& opt, Executor& ex) {
    const q4_0_vnni_layout& L = w.layout;
    const std::int64_t groups = a.m_padded / kernel_rows;
    const std::int64_t col_blocks = (L.panels() + kernel_panels - 1) / kernel_panels;
    const amx_blocking bl = choose_amx_blocking(groups, col_blocks, opt);
    const std::int64_t row_tasks = (groups + bl.row_groups - 1) / bl.row_groups;
    const std::int64_t col_tasks = (col_blocks + bl.col_blocks - 1) / bl.col_blocks;
    const std::int64_t kc = std::min(bl.kc, L.blocks_per_row());
    const auto first_panel = [&](std::int64_t task) { return (task % col_tasks) * bl.col_blocks * kernel_panels; };
    parallel_for_near_panels(ex, row_tasks * col_tasks, L.panels(), first_panel, [&](std::int64_t task) {
        const std::int64_t rt = task / col_tasks, ct = task % col_tasks;
        const std::int64_t g0 = rt * bl.row_groups, g1 = std::min(groups, g0 + bl.row_groups);
        const std::int64_t cb0 = ct * bl.col_blocks, cb1 = std::min(col_blocks, cb0 + bl.col_blocks);
        auto* bexp = reinterpret_cast<std::uint8_t*>(thread_scratch(0, std::size_t(kc) * 2048 + std::size_t(kc) * 32 * sizeof(float)));
        auto* dw = reinterpret_cast<float*>(bexp + std::size_t(kc) * 2048);
        auto* c = reinterpret_cast<float*>(
            thread_scratch(1, std::size_t((cb1 - cb0) * (g1 - g0)) * kernel_rows * kernel_rows * sizeof(float)));
        if (backend == isa::amx)
            amx_hw::run_block_task(w, a, g0, g1, cb0, cb1, kc, bexp, dw, c, strided_rows{y, ldy});
        else
            amx_emu::run_block_task(w, a, g0, g1, cb0, cb1, kc, bexp, dw, c, strided_rows{y, ldy});
    });
}

template <class Prepared, class Executor>
void run_dense(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, float* y, std::int64_t ldy,
               const gemm_options& opt, Executor& ex) {
    const bool amx_like = backend == isa::amx || backend == isa::amx_emulated;
    if (amx_like && a.m >= amx_column_path_min_rows)
        run_dense_amx_blocks(backend, w, a, y, ldy, opt, ex);
    else
        run_dense_microkernels(backend, w, a, y, ldy, ex);
}

}  // namespace detail

/// Y[i][n] = Σ_k X[i][k] · W[n][k] for i < m, n < N.
///   w   : packed weight (N × K);      x : m rows of K floats, row stride ldx (>= K)
///   y   : m rows of N floats, row stride ldy (>= N), must not overlap x
///   opt : compute mode, back end, workspace (see gemm_options); defaults pick for this machine
///   ex  : executor (exec/) — serial_executor, tbb_executor, caller_threads_executor, or any object
///         with parallel_for(count, fn)
/// Throws amxmm::error on bad arguments (before anything is written) and returns the plan it ran:
/// the back end, the mode and why.
template <class Executor>
gemm_plan gemm_q4_0(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx, float* y,
                    std::int64_t ldy, const gemm_options& opt, Executor&& ex) {
    detail::validate_gemm_args(w, m, x, ldx, y, ldy);
    if (opt.workspace || detail::every_caller_runs<std::decay_t<Executor>>::value) {
        const std::size_t need = gemm_workspace_bytes(m, w.layout.k);
        detail::require(opt.workspace != nullptr, errc::invalid_argument, "gemm_q4_0",
                        "options.workspace is null: an executor that runs on every caller needs a shared workspace");
        detail::require(is_aligned(opt.workspace, cache_line_bytes), errc::invalid_argument, "gemm_q4_0",
                        "options.workspace = ", opt.workspace, " is not 64-byte aligned");
        detail::require(opt.workspace_bytes >= need, errc::buffer_too_small, "gemm_q4_0", "options.workspace_bytes = ",
                        opt.workspace_bytes, " is less than gemm_workspace_bytes(", m, ", ", w.layout.k, ") = ", need);
    }
    gemm_plan plan = plan_gemm_q4_0(m, opt);
    if (m == 0) return plan;
    if (plan.mode == compute_mode::exact)
        detail::run_dense(plan.backend, w, detail::prepare_exact(plan.backend, m, x, ldx, w.layout.k, ex, opt), y, ldy, opt, ex);
    else
        detail::run_dense(plan.backend, w, detail::prepare_fast(plan.backend, m, x, ldx, w.layout.k, ex, opt), y, ldy, opt, ex);
    return plan;
}

/// Serial overload.
inline gemm_plan gemm_q4_0(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                           float* y, std::int64_t ldy, const gemm_options& opt = {}) {
    return gemm_q4_0(w, m, x, ldx, y, ldy, opt, serial_executor{});
}

AMXMM_NAMESPACE_END
