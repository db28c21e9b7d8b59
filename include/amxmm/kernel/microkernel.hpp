// The one micro-kernel contract every back end implements (BLIS style):
//
//   inputs : prepared activation rows [m0, m0 + mr) (mr <= 32), packed weight panels
//            [p0, p0 + np) (np <= 2, i.e. up to 32 output columns, nr of them valid),
//            Q4_0 blocks [b0, b1) along K;
//   output : C (mr × nr, row stride ldc) = result,  or C += result when `accumulate`.
//            Only the valid mr × nr elements are read (when accumulating) or written.
//
// Sums over K run in block order b0, b1, ... inside each kernel, so for a fixed split of K every
// output element has one fixed summation order: results never depend on the thread count.
#pragma once

#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../core/aligned_buffer.hpp"
#include "../core/half.hpp"
#include "../core/target.hpp"
#include "../cpu/features.hpp"
#include "../format/blocks.hpp"
#include "../pack/q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN

/// How activations and weights are multiplied (see README "Compute modes").
enum class compute_mode {
    automatic,  ///< amxmm picks (`fast` on AMX for large M, else `exact`); query with gemm_plan
    exact,      ///< Q8_0 activations, per-block int8 dot products, fp32 scaling (ggml's arithmetic)
    fast,       ///< bf16 activations × bf16(d·q) weights, fp32 accumulation over all of K
};

inline const char* to_string(compute_mode m) noexcept {
    switch (m) {
        case compute_mode::automatic: return "auto";
        case compute_mode::exact: return "exact";
        case compute_mode::fast: return "fast";
    }
    return "?";
}

/// Rows of a micro-kernel's M block (two 16-row A tiles); prepared activations are padded to it.
inline constexpr int kernel_rows = 32;
/// Panels of a micro-kernel's N block (two 16-column B tiles).
inline constexpr int kernel_panels = 2;

/// Activations prepared for `exact` mode: each row quantized to Q8_0 (quantize_row_q8_0_ref) and
/// stored "tiled": rows in groups of 32 (one micro-kernel M block), and inside a group, block by block,
/// so that the A operand of one Q4_0 block is contiguous:
///   q    (m_padded/32, k/32, 32 rows, 32) int8  — Q8_0 values; the two A tiles of block b of row
///                                                 group g are 2 × 512 contiguous bytes (row stride 32)
///   d    (m_padded/32, k/32, 32) fp32           — the rows' fp16 block scales, widened exactly
///   sums (m_padded/32, k/32, 32) int32          — Σ q over each block (for u8·s8 dot products)
/// Padding rows are zero. The planes live in driver-owned workspace (not owned here).
struct prepared_exact {
    std::int64_t m = 0, m_padded = 0, k = 0;
    std::int8_t* q = nullptr;
    float* d = nullptr;
    std::int32_t* sums = nullptr;
    std::size_t q_bytes() const noexcept { return std::size_t(m_padded * k); }
    std::size_t scale_bytes() const noexcept { return std::size_t(m_padded * blocks()) * 4; }
    std::int64_t blocks() const noexcept { return k / block_k; }
    /// Index of (row group g, block b) in the tiled planes.
    std::int64_t tile_index(std::int64_t g, std::int64_t b) const noexcept { return g * blocks() + b; }
    /// The (32, 32) int8 A operand of row group g, block b.
    const std::int8_t* q_tile(std::int64_t g, std::int64_t b) const noexcept {
        return q + tile_index(g, b) * (kernel_rows * block_k);
    }
    /// The 32 Q8_0 values of row i, block b.
    const std::int8_t* q_row(std::int64_t i, std::int64_t b) const noexcept {
        return q_tile(i / kernel_rows, b) + (i % kernel_rows) * block_k;
    }
    const float* d_tile(std::int64_t g, std::int64_t b) const noexcept { return d + tile_index(g, b) * kernel_rows; }
    float d_at(std::int64_t i, std::int64_t b) const noexcept { return d_tile(i / kernel_rows, b)[i % kernel_rows]; }
    std::int32_t sum_at(std::int64_t i, std::int64_t b) const noexcept {
        return sums[tile_index(i / kernel_rows, b) * kernel_rows + i % kernel_rows];
    }
};

/// Activations prepared for `fast` mode: rows rounded to bf16 (nearest even), tiled like
/// prepared_exact: (m_padded/32, k/32, 32 rows, 32) bf16, so the two A tiles of one block are
/// 2 × 1 KiB contiguous (row stride 64 bytes).
struct prepared_fast {
    std::int64_t m = 0, m_padded = 0, k = 0;
    bf16* x = nullptr;  // driver-owned workspace
    std::size_t x_bytes() const noexcept { return std::size_t(m_padded * k) * sizeof(bf16); }
    std::int64_t blocks() const noexcept { return k / block_k; }
    const bf16* x_tile(std::int64_t g, std::int64_t b) const noexcept {
        return x + (g * blocks() + b) * (kernel_rows * block_k);
    }
    /// The 32 bf16 values of row i, block b.
    const bf16* x_row(std::int64_t i, std::int64_t b) const noexcept {
        return x_tile(i / kernel_rows, b) + (i % kernel_rows) * block_k;
    }
};

/// One micro-kernel call (see the contract above).
struct kernel_block {
    std::int64_t m0 = 0;  // first activation row
    int mr = 0;           // valid rows, 1..32
    std::int64_t p0 = 0;  // first panel
    int np = 0;           // panels, 1..2
    int nr = 0;           // valid output columns, 1..16*np
    std::int64_t b0 = 0, b1 = 0;  // Q4_0 block range along K
    float* c = nullptr;   // C[0][0] = Y[m0][16*p0]
    std::int64_t ldc = 0;
    bool accumulate = false;
};

namespace detail {

/// Software prefetch of one block's quants and scales (for the streaming small-m path). Forced inline:
/// GCC once found no side effect in an out-of-line helper holding the prefetches and deleted its calls.
AMXMM_ALWAYS_INLINE void prefetch_block(const std::uint8_t* quants, const fp16* scales) {
    const char* q = reinterpret_cast<const char*>(quants);
    AMXMM_UNROLL for (int off = 0; off < q4_0_vnni_layout::block_quant_bytes; off += 64) _mm_prefetch(q + off, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(scales), _MM_HINT_T0);
}

/// Walks one panel's blocks in K order by pointer steps. The streaming kernels run only ~35 vector
/// instructions per block at m = 1; the layout's quants_offset / scales_offset, recomputed per block
/// (signed divisions by two, a branch, a multiply), added ~20 scalar ones.
class panel_walker {
public:
    panel_walker() = default;
    panel_walker(const packed_q4_0_vnni_view& w, std::int64_t p, std::int64_t b) noexcept
        : group_(w.panel(p) + (b / 2) * q4_0_vnni_layout::group_bytes),
          // the group holding a lone last block (odd K/32; its scales follow its quants); past the
          // panel's blocks when K/32 is even, so never reached
          lone_(w.panel(p) + (w.layout.blocks_per_row() / 2) * q4_0_vnni_layout::group_bytes),
          odd_(b % 2 != 0) {}
    const std::uint8_t* quants() const noexcept {
        return reinterpret_cast<const std::uint8_t*>(group_ + (odd_ ? q4_0_vnni_layout::block_quant_bytes : 0));
    }
    const fp16* scales() const noexcept {
        constexpr int q2 = 2 * q4_0_vnni_layout::block_quant_bytes;
        const std::byte* s = group_ == lone_ ? group_ + q4_0_vnni_layout::block_quant_bytes
                                             : group_ + q2 + (odd_ ? q4_0_vnni_layout::block_scale_bytes : 0);
        return reinterpret_cast<const fp16*>(s);
    }
    void next() noexcept {
        if (odd_) group_ += q4_0_vnni_layout::group_bytes;
        odd_ = !odd_;
    }

private:
    const std::byte* group_ = nullptr;
    const std::byte* lone_ = nullptr;
    bool odd_ = false;
};

/// The small-m kernels' software prefetch, `pf` blocks ahead of the block being computed in a pass
/// over blocks [b0, b1) of panel p (pf = 0: none); step() once per block, in order. Near the pass's
/// end it runs on into panel p + 1 at the same distance: the panel the caller streams next (panels are
/// contiguous, and a task's column blocks are adjacent). Stopping at the end instead left the first pf
/// blocks of every panel to the hardware prefetcher: 14 of 24 blocks at K = 768 (the MoE down
/// projection), 14 of 64 at K = 2048. Used by the vector kernels (moe_ffn Qwen3 M = 1 cold 308-383 ->
/// 268-289 us on the device, bench/RESULTS.md); the AMX small-m kernels measured slower with it at
/// m = 8, 16 (567-612 -> 618-710 us) and keep stopping at the end (call_blocks below).
class stream_prefetcher {
public:
    stream_prefetcher(const packed_q4_0_vnni_view& w, std::int64_t p, std::int64_t b0, std::int64_t b1, int pf) noexcept
        : w_(&w), p_(p), b0_(b0), b1_(b1), ahead_(b0 + pf) {
        if (pf > 0) locate();
    }
    AMXMM_ALWAYS_INLINE void step() noexcept {
        if (!live_) return;
        prefetch_block(walk_.quants(), walk_.scales());
        walk_.next();
        ++ahead_;
        if (ahead_ == b1_ || ahead_ == 2 * b1_ - b0_) locate();  // on into panel p + 1; past its pass
    }
    /// The quants the next step() prefetches (null: none).
    const std::uint8_t* target() const noexcept { return live_ ? walk_.quants() : nullptr; }

private:
    // Points the walker at the block `ahead_` stands for: block ahead_ of panel p while it is inside the
    // pass, else block b0 + (ahead_ - b1) of panel p + 1 (none past the last panel or that pass).
    void locate() noexcept {
        if (ahead_ < b1_) {
            walk_ = panel_walker(*w_, p_, ahead_);
            live_ = true;
            return;
        }
        const std::int64_t next = b0_ + (ahead_ - b1_);
        live_ = next < b1_ && p_ + 1 < w_->layout.panels();
        if (live_) walk_ = panel_walker(*w_, p_ + 1, next);
    }

    const packed_q4_0_vnni_view* w_;
    std::int64_t p_, b0_, b1_, ahead_;
    bool live_ = false;
    panel_walker walk_;
};

/// The blocks of one micro-kernel call's panels (p0 .. p0+np-1) in K order, by pointer steps (see
/// panel_walker), with the AMX kernels' software prefetch of block b + pf of the same panels: unlike
/// stream_prefetcher it stops at the call's last block, which measured faster for those kernels at
/// m = 8, 16 (567-612 against 618-710 us on the device). Use: prefetch(), read quants(j) / scales(j),
/// next(), once per block from b0 on.
class call_blocks {
public:
    call_blocks(const packed_q4_0_vnni_view& w, const kernel_block& kb, int pf) noexcept
        : np_(kb.np), ahead_(kb.b0 + std::max(pf, 0)), b1_(kb.b1), prefetching_(pf > 0) {
        for (int j = 0; j < np_; ++j) {
            now_[j] = panel_walker(w, kb.p0 + j, kb.b0);
            if (prefetching_ && ahead_ < b1_) ahead_walk_[j] = panel_walker(w, kb.p0 + j, ahead_);
        }
    }
    AMXMM_ALWAYS_INLINE void prefetch() noexcept {
        if (!prefetching_ || ahead_ >= b1_) return;
        for (int j = 0; j < np_; ++j) {
            prefetch_block(ahead_walk_[j].quants(), ahead_walk_[j].scales());
            ahead_walk_[j].next();
        }
        ++ahead_;
    }
    const std::uint8_t* quants(int j) const noexcept { return now_[j].quants(); }
    const fp16* scales(int j) const noexcept { return now_[j].scales(); }
    void next() noexcept {
        for (int j = 0; j < np_; ++j) now_[j].next();
    }
    /// The quants of panel j the next prefetch() fetches (null: none).
    const std::uint8_t* prefetch_target(int j) const noexcept {
        return prefetching_ && ahead_ < b1_ ? ahead_walk_[j].quants() : nullptr;
    }

private:
    int np_;
    std::int64_t ahead_, b1_;
    bool prefetching_;
    panel_walker now_[kernel_panels], ahead_walk_[kernel_panels];
};

/// How many blocks ahead the small-m kernels prefetch the panel they stream (0: not at all), for a
/// pass over `rows` activation rows. Measured (bench/RESULTS.md, "Decode after the prefetch fix"): on the AMX
/// Xeon, 14 blocks (~4 KiB) is as good as any distance tried (14-48 blocks, to L1 or L2) and faster
/// than none at every m; on AMD Zen 5 a single row streams faster without it (one thread: 19.5 vs
/// 14 GB/s; the hardware prefetchers already keep enough lines in flight), while from m = 4 it helps.
inline int streaming_prefetch_blocks(int rows) {
    static const bool amd = detected_cpu_features().vendor == "AuthenticAMD";
    return amd && rows == 1 ? 0 : 14;
}

/// Writes (or adds) the valid mr × nr part of a 32 × 32 fp32 result into C.
inline void write_c_block(const kernel_block& kb, const float* acc /* (32, 32) */) noexcept {
    for (int i = 0; i < kb.mr; ++i) {
        float* c = kb.c + i * kb.ldc;
        const float* a = acc + i * 32;
        if (kb.accumulate)
            for (int j = 0; j < kb.nr; ++j) c[j] += a[j];
        else
            for (int j = 0; j < kb.nr; ++j) c[j] = a[j];
    }
}

/// Loads the valid mr × nr part of C into the first mr rows of a 32 × 32 accumulator (zero in their
/// other columns), or zeroes those rows. Rows >= mr are left as they are: no kernel reads them, and
/// at m = 1 zeroing all 4 KiB per call cost several percent of the decode bandwidth.
inline void read_c_block(const kernel_block& kb, float* acc /* (32, 32) */) noexcept {
    for (int i = 0; i < 32 * kb.mr; ++i) acc[i] = 0.0f;
    if (!kb.accumulate) return;
    for (int i = 0; i < kb.mr; ++i)
        for (int j = 0; j < kb.nr; ++j) acc[i * 32 + j] = kb.c[i * kb.ldc + j];
}

/// Where the AMX large-M path (run_block_task) puts its results: rows of y, ldy floats apart. Other
/// sinks (MoE's scattered rows, the fused gate/up activation) take the same call: row i's 32-column
/// block cb, of which `cols` are valid, at `src`. With `stream`, whole 64-byte-aligned row pieces go out
/// by non-temporal stores (no read of the lines first), and finish() fences them before the task ends.
struct strided_rows {
    float* y;
    std::int64_t ldy;
    bool stream = false;
    void operator()(std::int64_t i, std::int64_t cb, const float* src, std::int64_t cols) const noexcept {
        float* dst = y + i * ldy + cb * 32;
#if defined(__SSE2__)
        if (stream && cols == 32 && (reinterpret_cast<std::uintptr_t>(dst) & 63) == 0) {
            for (int j = 0; j < 32; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
            return;
        }
#endif
        std::memcpy(dst, src, sizeof(float) * std::size_t(cols));
    }
    void finish() const noexcept {
#if defined(__SSE2__)
        if (stream) _mm_sfence();
#endif
    }
};

}  // namespace detail
AMXMM_NAMESPACE_END
