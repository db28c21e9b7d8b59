// AMX micro-kernels, written once against the tile contract (tile/tile_config.hpp).
//
// This file is included twice by amx_tile_kernel.hpp, into two namespaces: once with the hardware
// back end (`tiles` = amx_tiles, functions compiled for AMX + AVX-512) and once with the software
// emulator (`tiles` = amx_emulated_tiles, plain C++). The same source — tiling, VNNI operands, tile
// configuration — therefore runs on AMX hardware and is validated on any machine.
//
// The including namespace provides: `tiles`, AMXMM_KERNEL_TARGET, expand_int8, expand_bf16 and
// rescale_accumulate (the `exact` mode per-block update, defined once in format/reference_gemm.hpp).
//
// Register blocking: 2 × 2 C tiles (32 rows × 32 columns), A tiles a0/a1 (rows 0..15, 16..31),
// B tiles b0/b1 (panels p0, p0+1). One tile dot product consumes one Q4_0 block (32 K).

/// Per-thread scratch for one sequence of `fast` micro-kernel calls.
struct alignas(64) amx_fast_scratch {
    alignas(64) std::uint8_t b_panel[2][kernel_panels][1024];  // expanded B operands, double-buffered
    alignas(64) float acc[kernel_rows * kernel_rows];          // (32, 32) fp32 results
    alignas(64) float acc_hi[kernel_rows * kernel_rows];       // amx_fast_kernel_pair: the second row group's
};

/// Per-thread scratch for one sequence of `exact` micro-kernel calls. The rings are sized for
/// amx_exact_kernel_one_row_tile; amx_exact_kernel (more than 16 rows) uses two slots of each.
struct alignas(64) amx_exact_scratch {
    alignas(64) std::uint8_t b_panel[4][kernel_panels][1024];  // expanded B operands, a ring of blocks
    alignas(64) float dw_stage[8][kernel_rows];                // their column scales, a ring of blocks
    alignas(64) float acc[kernel_rows * kernel_rows];          // (32, 32) fp32 results
    alignas(64) std::int32_t ci_stage[2][kernel_rows * kernel_rows];  // ci: 2 (32, 32) stages, or 4 (16, 32) at <= 16 rows
};

/// Loads amxmm's tile configuration for the lifetime of the object and gives the caller's back
/// afterwards (amxmm borrows the tile state; another library may own it on this thread).
class scoped_tile_context {
public:
    AMXMM_KERNEL_TARGET explicit scoped_tile_context(const tile_config& ours) {
        tiles::store_config(saved_);
        tiles::load_config(ours);
    }
    AMXMM_KERNEL_TARGET ~scoped_tile_context() {
        if (saved_.palette() != 0)
            tiles::load_config(saved_);
        else
            tiles::release();
    }
    scoped_tile_context(const scoped_tile_context&) = delete;
    scoped_tile_context& operator=(const scoped_tile_context&) = delete;

private:
    tile_config saved_;
};

/// Zeroes the four C tiles.
AMXMM_KERNEL_TARGET inline void zero_c_tiles() {
    tiles::template zero<c00>();
    tiles::template zero<c01>();
    tiles::template zero<c10>();
    tiles::template zero<c11>();
}

/// Stores the four C tiles into the (32, 32) scratch array `out` (row stride 128 bytes).
template <class T>
AMXMM_KERNEL_TARGET inline void store_c_tiles(T* out) {
    constexpr std::int64_t stride = kernel_rows * sizeof(T);
    tiles::template store<c00>(out, stride);
    tiles::template store<c01>(out + 16, stride);
    tiles::template store<c10>(out + 16 * kernel_rows, stride);
    tiles::template store<c11>(out + 16 * kernel_rows + 16, stride);
}

/// `fast` mode: C tiles (fp32) stay resident over all blocks [b0, b1).
/// Requires fast_mode_tile_config() to be loaded.
AMXMM_KERNEL_TARGET inline void amx_fast_kernel(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                                const kernel_block& kb, amx_fast_scratch& s) {
    const std::int64_t g = kb.m0 / kernel_rows;  // row group (m0 is a multiple of 32)
    const bool two_row_tiles = kb.mr > 16;        // rows 16..31 exist: the second A tile is needed
    // B operands are expanded one block ahead into alternating buffers, so the vector stores have
    // long drained (and the expansion overlapped the tile unit) when the tile loads read them.
    call_blocks blocks(w, kb, streaming_prefetch_blocks(kb.mr));  // small m streams the weights from DRAM
    auto expand = [&](std::int64_t b) {  // in block order
        blocks.prefetch();
        for (int j = 0; j < kb.np; ++j)  // (16, 32) bf16 VNNI, scale folded in
            expand_bf16(blocks.quants(j), blocks.scales(j), reinterpret_cast<bf16*>(s.b_panel[(b - kb.b0) & 1][j]));
        blocks.next();
    };
    zero_c_tiles();
    expand(kb.b0);
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        const auto& bp = s.b_panel[(b - kb.b0) & 1];
        const bf16* at = a.x_tile(g, b);  // (32, 32) bf16, padded rows are zero
        tiles::template load<a0>(at, 64);
        tiles::template load<b0>(bp[0], 64);
        tiles::template load<b1>(bp[1], 64);  // stale when np == 1: its columns are never written
        tiles::template dp_bf16<c00, a0, b0>();
        tiles::template dp_bf16<c01, a0, b1>();
        if (two_row_tiles) {
            tiles::template load<a1>(at + 16 * block_k, 64);
            tiles::template dp_bf16<c10, a1, b0>();
            tiles::template dp_bf16<c11, a1, b1>();
        }
        if (b + 1 < kb.b1) expand(b + 1);
    }
    store_c_tiles(s.acc);
    write_c_block(kb, s.acc);
}

/// True when micro-kernel calls `lo` and `hi` are row groups g and g + 1 (g full) over the same columns
/// and blocks: amx_fast_kernel_pair computes both at once.
inline bool fast_row_pair(const kernel_block& lo, const kernel_block& hi) noexcept {
    return lo.mr == kernel_rows && hi.m0 == lo.m0 + kernel_rows && hi.p0 == lo.p0 && hi.np == lo.np &&
           hi.b0 == lo.b0 && hi.b1 == lo.b1;
}

/// `fast` mode for two row groups (fast_row_pair) at once, one panel at a time: each block of the panel is
/// expanded once for up to 64 rows, where two amx_fast_kernel calls expand it once per 32. The expansion
/// is most of the small-m path's time (bench/RESULTS.md, session of 2026-11-28), so calls with 33-64 rows
/// (dense, or an expert's) do about half of it. Per panel the C tiles hold rows 0-15 and 16-31 (c00, c01:
/// group lo) and 32-47 and 48-63 (c10, c11: group hi), and b1 serves as a third A register. Each output
/// element gets amx_fast_kernel's products in amx_fast_kernel's order: the same bits. Needs
/// fast_mode_tile_config() loaded.
AMXMM_KERNEL_TARGET inline void amx_fast_kernel_pair(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                                     const kernel_block& lo, const kernel_block& hi,
                                                     amx_fast_scratch& s) {
    constexpr std::int64_t stride = kernel_rows * sizeof(float);
    const std::int64_t g = lo.m0 / kernel_rows;
    const bool hi_two_tiles = hi.mr > 16;  // rows 48..63 exist (else rows 16-31 of group hi are not prepared)
    for (int j = 0; j < lo.np; ++j) {
        kernel_block panel = lo;  // this panel's blocks, for the walk and its prefetch
        panel.p0 = lo.p0 + j;
        panel.np = 1;
        call_blocks blocks(w, panel, streaming_prefetch_blocks(lo.mr + hi.mr));
        auto expand = [&](std::int64_t b) {  // in block order
            blocks.prefetch();
            expand_bf16(blocks.quants(0), blocks.scales(0), reinterpret_cast<bf16*>(s.b_panel[(b - lo.b0) & 1][0]));
            blocks.next();
        };
        zero_c_tiles();
        expand(lo.b0);
        for (std::int64_t b = lo.b0; b < lo.b1; ++b) {
            const bf16* at_lo = a.x_tile(g, b);
            const bf16* at_hi = a.x_tile(g + 1, b);
            tiles::template load<b0>(s.b_panel[(b - lo.b0) & 1][0], 64);
            tiles::template load<a0>(at_lo, 64);
            tiles::template load<a1>(at_lo + 16 * block_k, 64);
            tiles::template load<b1>(at_hi, 64);
            tiles::template dp_bf16<c00, a0, b0>();
            tiles::template dp_bf16<c01, a1, b0>();
            tiles::template dp_bf16<c10, b1, b0>();
            if (hi_two_tiles) {
                tiles::template load<a0>(at_hi + 16 * block_k, 64);
                tiles::template dp_bf16<c11, a0, b0>();
            }
            if (b + 1 < lo.b1) expand(b + 1);
        }
        tiles::template store<c00>(s.acc + 16 * j, stride);
        tiles::template store<c01>(s.acc + 16 * kernel_rows + 16 * j, stride);
        tiles::template store<c10>(s.acc_hi + 16 * j, stride);
        tiles::template store<c11>(s.acc_hi + 16 * kernel_rows + 16 * j, stride);
    }
    write_c_block(lo, s.acc);
    write_c_block(hi, s.acc_hi);
}

/// The next block's B operands (int8 VNNI, into b_panel slot `slot`) and column scales (dw_stage slot
/// `dw_slot`) for the per-block `exact` kernels, with the small-m stream's software prefetch; blocks
/// come from `blocks` in order.
AMXMM_KERNEL_TARGET inline void expand_exact_block(call_blocks& blocks, const kernel_block& kb, int slot, int dw_slot,
                                                   amx_exact_scratch& s) {
    blocks.prefetch();
    float* dw = s.dw_stage[dw_slot];
    for (int j = 0; j < kernel_panels; ++j) {
        if (j < kb.np) {  // (8, 64) int8 VNNI and the 16 column scales
            expand_int8(blocks.quants(j), reinterpret_cast<std::int8_t*>(s.b_panel[slot][j]));
            load_scales16(blocks.scales(j), dw + 16 * j);
        } else {
            for (int n = 0; n < 16; ++n) dw[16 * j + n] = 0.0f;
        }
    }
    blocks.next();
}

/// Stores tile set `parity` of amx_exact_kernel_one_row_tile — (c00, c01) for 0, (c10, c11) for 1 —
/// into the (16, 32) int32 array `ci` (row stride 128 bytes). A function, not a lambda: a lambda does
/// not take on AMXMM_KERNEL_TARGET, and GCC then calls the tile stores out of line.
AMXMM_KERNEL_TARGET inline void store_tile_set(std::int64_t parity, std::int32_t* ci) {
    constexpr std::int64_t stride = kernel_rows * sizeof(std::int32_t);
    if (parity == 0) {
        tiles::template store<c00>(ci, stride);
        tiles::template store<c01>(ci + 16, stride);
    } else {
        tiles::template store<c10>(ci, stride);
        tiles::template store<c11>(ci + 16, stride);
    }
}

/// `exact` mode for at most 16 rows (decode): one A tile per block, so the tile registers hold two
/// blocks at once — even blocks in (a0; c00, c01), odd ones in (a1; c10, c11). Tiles are not
/// renamed: with one set, each block's zero -> products -> store chain had to drain before the next
/// block's products could start. Here block b's products run while block b-1's sums are stored.
/// B operands are expanded `expand_ahead` blocks ahead and a block's sums are scaled `rescale_lag`
/// blocks after its products (in block order, as always); distances 1-3 and 2-4 measured within 5% of
/// each other on the device. With tiles sized to the rows (tile_rows_for), one thread, hot weights:
/// 11-13% less time per block than the two-row kernel at m = 8 and 16; with 16 threads no change was
/// measurable (bench/RESULTS.md, "Decode at m = 8..16"). Requires exact_mode_tile_config().
AMXMM_KERNEL_TARGET inline void amx_exact_kernel_one_row_tile(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                              const kernel_block& kb, amx_exact_scratch& s) {
    constexpr int expand_ahead = 3, rescale_lag = 2;
    constexpr int b_slots = 4, dw_slots = 8, ci_slots = 4;  // rings: ahead < 4, ahead + lag < 8, lag <= 4
    static_assert(expand_ahead < b_slots && expand_ahead + rescale_lag < dw_slots && rescale_lag <= ci_slots);
    static_assert(b_slots <= std::extent_v<decltype(s.b_panel)> && dw_slots <= std::extent_v<decltype(s.dw_stage)> &&
                  ci_slots * 16 * kernel_rows <= sizeof s.ci_stage / sizeof(std::int32_t));
    auto ci_slot = [&](std::int64_t i) { return &s.ci_stage[0][0] + (i % ci_slots) * 16 * kernel_rows; };  // (16, 32)
    read_c_block(kb, s.acc);
    const std::int64_t g = kb.m0 / kernel_rows, n = kb.b1 - kb.b0;
    call_blocks blocks(w, kb, streaming_prefetch_blocks(kb.mr));
    auto expand = [&](std::int64_t i) { expand_exact_block(blocks, kb, int(i % b_slots), int(i % dw_slots), s); };  // i in order
    auto rescale = [&](std::int64_t i) {
        rescale_accumulate(s.acc, ci_slot(i), s.dw_stage[i % dw_slots], a.d_tile(g, kb.b0 + i), kb.mr);
    };
    for (std::int64_t i = 0; i < expand_ahead && i < n; ++i) expand(i);
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int8_t* at = a.q_tile(g, kb.b0 + i);  // rows 0..15 of the (32, 32) int8 pair
        const auto* bt = s.b_panel[i % b_slots];
        if ((i & 1) == 0) {
            tiles::template zero<c00>();
            tiles::template zero<c01>();
            tiles::template load<a0>(at, block_k);
            tiles::template load<b0>(bt[0], 64);
            tiles::template load<b1>(bt[1], 64);
            tiles::template dp_int8<c00, a0, b0>();
            tiles::template dp_int8<c01, a0, b1>();
            if (i > 0) store_tile_set(1, ci_slot(i - 1));
        } else {
            tiles::template zero<c10>();
            tiles::template zero<c11>();
            tiles::template load<a1>(at, block_k);
            tiles::template load<b0>(bt[0], 64);
            tiles::template load<b1>(bt[1], 64);
            tiles::template dp_int8<c10, a1, b0>();
            tiles::template dp_int8<c11, a1, b1>();
            store_tile_set(0, ci_slot(i - 1));
        }
        if (i >= rescale_lag) rescale(i - rescale_lag);
        if (i + expand_ahead < n) expand(i + expand_ahead);
    }
    store_tile_set((n - 1) & 1, ci_slot(n - 1));  // the last block's sums are still in its tiles
    for (std::int64_t i = std::max<std::int64_t>(0, n - rescale_lag); i < n; ++i) rescale(i);
    kernel_block result = kb;
    result.accumulate = false;
    write_c_block(result, s.acc);
}

/// `exact` mode: per block, integer tile products, then fp32 scaling in block order. Block b-1 is
/// scaled on the vector units while the tile unit computes block b, and block b+1's operands are
/// expanded meanwhile (double-buffered). At most 16 rows go to amx_exact_kernel_one_row_tile.
/// Requires exact_mode_tile_config() to be loaded.
AMXMM_KERNEL_TARGET inline void amx_exact_kernel(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                 const kernel_block& kb, amx_exact_scratch& s) {
    if (kb.mr <= 16) {
        amx_exact_kernel_one_row_tile(w, a, kb, s);
        return;
    }
    read_c_block(kb, s.acc);  // the running value each block's update continues from
    const std::int64_t g = kb.m0 / kernel_rows;
    call_blocks blocks(w, kb, streaming_prefetch_blocks(kb.mr));
    auto rescale = [&](std::int64_t b) {
        const std::int64_t i = b - kb.b0;
        rescale_accumulate(s.acc, s.ci_stage[i & 1], s.dw_stage[i & 1], a.d_tile(g, b), kb.mr);
    };
    expand_exact_block(blocks, kb, 0, 0, s);
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        const int slot = (b - kb.b0) & 1;
        const std::int8_t* at = a.q_tile(g, b);  // (32, 32) int8
        zero_c_tiles();
        tiles::template load<a0>(at, block_k);
        tiles::template load<b0>(s.b_panel[slot][0], 64);
        tiles::template load<b1>(s.b_panel[slot][1], 64);
        tiles::template dp_int8<c00, a0, b0>();
        tiles::template dp_int8<c01, a0, b1>();
        tiles::template load<a1>(at + 16 * block_k, block_k);
        tiles::template dp_int8<c10, a1, b0>();
        tiles::template dp_int8<c11, a1, b1>();
        if (b > kb.b0) rescale(b - 1);                                 // block b-1's sums and scales
        if (b + 1 < kb.b1) expand_exact_block(blocks, kb, slot ^ 1, slot ^ 1, s);  // block b+1 refills their slots
        store_c_tiles(s.ci_stage[slot]);
    }
    rescale(kb.b1 - 1);
    kernel_block out = kb;
    out.accumulate = false;
    write_c_block(out, s.acc);
}

/// Rows of the A and C tiles for a sequence of `exact` micro-kernel calls: the most rows any call has,
/// when that is at most one tile's 16, else 16. The tile unit's products, loads and stores take time in
/// proportion to the rows: one thread, m = 8, 90 -> 81 ns per block and 32 columns on the device.
inline int tile_rows_for(const kernel_block* blocks, std::int64_t count) {
    int rows = 1;
    for (std::int64_t i = 0; i < count; ++i) rows = std::max(rows, blocks[i].mr);
    return std::min(rows, tile_max_rows);
}

/// Runs a sequence of micro-kernel calls under one tile configuration (the hoisted tile context);
/// adjacent calls that form a fast_row_pair run as one amx_fast_kernel_pair.
AMXMM_KERNEL_TARGET inline void run_fast(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                         const kernel_block* blocks, std::int64_t count) {
    scoped_tile_context ctx(fast_mode_tile_config());  // 16 rows (sized to the rows, it measured no faster)
    amx_fast_scratch s;
    std::memset(s.b_panel, 0, sizeof s.b_panel);
    for (std::int64_t i = 0; i < count; ++i) {
        if (i + 1 < count && fast_row_pair(blocks[i], blocks[i + 1])) {
            amx_fast_kernel_pair(w, a, blocks[i], blocks[i + 1], s);
            ++i;
        } else {
            amx_fast_kernel(w, a, blocks[i], s);
        }
    }
}

AMXMM_KERNEL_TARGET inline void run_exact(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                          const kernel_block* blocks, std::int64_t count) {
    scoped_tile_context ctx(exact_mode_tile_config(tile_rows_for(blocks, count)));
    amx_exact_scratch s;
    std::memset(s.b_panel, 0, sizeof s.b_panel);
    for (std::int64_t i = 0; i < count; ++i) amx_exact_kernel(w, a, blocks[i], s);
}

// ---- column blocks: B expanded once, reused by every row group (the large-M path) ----------------
//
// A task owns one column block (two panels, 32 output columns). Its B operands are expanded once
// into a buffer that stays in cache and every row group's A tiles stream past them.

/// B operands of panels p0 .. p0+np-1 (np <= 2) for blocks [kb0, kb1): bf16 VNNI, laid out
/// (kb1-kb0, 2, 16 rows, 64 B); slot 1 is left as is when np == 1 (its columns are never written).
AMXMM_KERNEL_TARGET inline void expand_columns_bf16(const packed_q4_0_vnni_view& w, std::int64_t p0, int np,
                                                    std::int64_t kb0, std::int64_t kb1, std::uint8_t* out) {
    panel_walker panel[kernel_panels];
    for (int j = 0; j < np; ++j) panel[j] = panel_walker(w, p0 + j, kb0);
    for (std::int64_t b = kb0; b < kb1; ++b)
        for (int j = 0; j < np; ++j) {
            expand_bf16(panel[j].quants(), panel[j].scales(), reinterpret_cast<bf16*>(out + ((b - kb0) * 2 + j) * 1024));
            panel[j].next();
        }
}

/// int8 VNNI B operands, (kb1-kb0, 2, 8 rows, 64 B), and the weight scales (kb1-kb0, 32) fp32
/// (zero for the missing panel when np == 1).
AMXMM_KERNEL_TARGET inline void expand_columns_int8(const packed_q4_0_vnni_view& w, std::int64_t p0, int np,
                                                    std::int64_t kb0, std::int64_t kb1, std::uint8_t* out, float* dw) {
    panel_walker panel[kernel_panels];
    for (int j = 0; j < np; ++j) panel[j] = panel_walker(w, p0 + j, kb0);
    for (std::int64_t b = kb0; b < kb1; ++b)
        for (int j = 0; j < 2; ++j) {
            float* d = dw + (b - kb0) * 32 + 16 * j;
            if (j >= np) {
                for (int n = 0; n < 16; ++n) d[n] = 0.0f;
                continue;
            }
            expand_int8(panel[j].quants(), reinterpret_cast<std::int8_t*>(out + ((b - kb0) * 2 + j) * 512));
            load_scales16(panel[j].scales(), d);
            panel[j].next();
        }
}

/// The A and B operands of one block: a0/a1 from the (32, 32) A tile pair at `at` (row stride
/// `a_stride`), b0/b1 from the two expanded panels at `bt` (`b_bytes` apart).
struct block_operands {
    const void* at;
    std::int64_t a_stride;
    const std::uint8_t* bt;
    std::int64_t b_bytes;
    std::int64_t a1_offset;  // bytes from a0's rows to a1's rows
};

/// The 2 × 2 tile products of one block with the next block's operand loads interleaved. Tiles are
/// not renamed, so a load into a register must wait for the products reading it: issuing each load
/// right after the last product that reads the register, in the order c01, c00, c11, c10, leaves two
/// products (for a0, a1: the A tiles) or one (for b0, b1) to hide its latency. (Giving the B loads the
/// two instead, for `fast` whose B chunk no longer fits L1, measured 0.96-1.02: not done.)
/// after(i) runs after product i (0..3): `exact` puts a quarter of the previous block's rescale there,
/// `fast` a quarter of its prefetches (prefetch_quarters).
struct no_vector_work {
    void operator()(int) const noexcept {}
};
template <bool Int8, class After = no_vector_work>
AMXMM_KERNEL_TARGET inline void block_products(const block_operands* next, const After& after = {}) {
    auto dp = [](auto c, auto a, auto b) {
        if constexpr (Int8)
            tiles::template dp_int8<decltype(c)::value, decltype(a)::value, decltype(b)::value>();
        else
            tiles::template dp_bf16<decltype(c)::value, decltype(a)::value, decltype(b)::value>();
    };
    using R = std::integral_constant<int, c01>;
    dp(R{}, std::integral_constant<int, a0>{}, std::integral_constant<int, b1>{});
    after(0);
    dp(std::integral_constant<int, c00>{}, std::integral_constant<int, a0>{}, std::integral_constant<int, b0>{});
    if (next) tiles::template load<a0>(next->at, next->a_stride);
    after(1);
    dp(std::integral_constant<int, c11>{}, std::integral_constant<int, a1>{}, std::integral_constant<int, b1>{});
    if (next) tiles::template load<b1>(next->bt + next->b_bytes, 64);
    after(2);
    dp(std::integral_constant<int, c10>{}, std::integral_constant<int, a1>{}, std::integral_constant<int, b0>{});
    if (next) {
        tiles::template load<b0>(next->bt, 64);
        tiles::template load<a1>(static_cast<const std::uint8_t*>(next->at) + next->a1_offset, next->a_stride);
    }
    after(3);
}

/// Software prefetch of `bytes` (a multiple of 64) into L1.
AMXMM_ALWAYS_INLINE void prefetch_l1(const void* p, int bytes) {
    for (int off = 0; off < bytes; off += 64) _mm_prefetch(static_cast<const char*>(p) + off, _MM_HINT_T0);
}

/// Up to 4 lines of packed weights, fetched one per tile product into L2 (weight_lines).
struct weight_step {
    const std::uint8_t* at = nullptr;
    int lines = 0;
    AMXMM_ALWAYS_INLINE void fetch(int q) const {
        if (q < lines) _mm_prefetch(reinterpret_cast<const char*>(at) + q * 64, _MM_HINT_T1);
    }
};

/// block_products' vector work for `fast_columns`: quarter q (512 bytes each) of the A tile pair and of
/// the B tile pair two blocks ahead into L1 (either may be null), and line q of `w`. The A pairs stream
/// from L2, and so do the B pairs: the kc × 2 KiB B chunk is larger than L1. In one burst of 32 lines
/// before each block's products, the A prefetches stalled the loop (they held the L1 fill buffers the
/// tile loads need); spread over the products they cost nothing visible, and the B prefetches can join.
struct prefetch_quarters {
    const void* a_ahead;
    const std::uint8_t* b_ahead;
    weight_step w;
    AMXMM_ALWAYS_INLINE void operator()(int q) const {
        if (a_ahead) prefetch_l1(static_cast<const std::uint8_t*>(a_ahead) + q * 512, 512);
        if (b_ahead) prefetch_l1(b_ahead + q * 512, 512);
        w.fetch(q);
    }
};

/// The packed weight bytes a (K chunk, column block) unit's expansion reads (one contiguous range per
/// panel), handed out 4 lines at a time. While one unit's tile products run, fast_columns and
/// exact_columns fetch the next unit's into L2, a line per product, so that its expansion does not
/// start by waiting for DRAM or L3 (the packed weights are read once per unit; nothing else brings
/// them in ahead). Device, 2026-11-29 (bench/RESULTS.md, session 23): moe_ffn M = 2048 0.93-0.94 of the
/// time, dense and exact 0.93-1.03.
class weight_lines {
public:
    weight_lines() = default;
    weight_lines(const packed_q4_0_vnni_view& w, std::int64_t p0, int np, std::int64_t kb0, std::int64_t kb1) noexcept
        : np_(np) {
        const q4_0_vnni_layout& L = w.layout;
        lines_ = (L.scales_offset(kb1 - 1) + L.block_scale_bytes - L.quants_offset(kb0) + 63) / 64;
        for (int j = 0; j < np; ++j) begin_[j] = reinterpret_cast<const std::uint8_t*>(w.panel(p0 + j)) + L.quants_offset(kb0);
    }
    /// The next (up to) 4 lines of the current panel's range; none once every range is walked.
    weight_step next() noexcept {
        if (j_ >= np_) return {};
        const weight_step step{begin_[j_] + line_ * 64, int(std::min<std::int64_t>(4, lines_ - line_))};
        line_ += step.lines;
        if (line_ == lines_) {
            line_ = 0;
            ++j_;
        }
        return step;
    }

private:
    const std::uint8_t* begin_[kernel_panels] = {};
    int np_ = 0, j_ = 0;
    std::int64_t lines_ = 0, line_ = 0;
};

AMXMM_KERNEL_TARGET inline void load_block_operands(const block_operands& o) {
    tiles::template load<a0>(o.at, o.a_stride);
    tiles::template load<a1>(static_cast<const std::uint8_t*>(o.at) + o.a1_offset, o.a_stride);
    tiles::template load<b0>(o.bt, 64);
    tiles::template load<b1>(o.bt + o.b_bytes, 64);
}

/// `fast`: for row groups [g0, g1), C += A · B over blocks [kb0, kb1) with B from expand_columns_bf16.
/// `c` holds the groups' fp32 accumulators, (g1-g0, 32, 32) with row stride 32 floats; when
/// `first`, they start from zero instead of being loaded. Needs fast_mode_tile_config() loaded.
AMXMM_KERNEL_TARGET inline void fast_columns(const prepared_fast& a, const std::uint8_t* bexp, std::int64_t kb0,
                                             std::int64_t kb1, std::int64_t g0, std::int64_t g1, float* c, bool first,
                                             weight_lines next_weights = {}) {
    constexpr std::int64_t c_stride = kernel_rows * sizeof(float);
    auto operands = [&](std::int64_t g, std::int64_t b) {  // (32, 32) bf16 A pair; 2 × (16, 64 B) bf16 VNNI B
        return block_operands{a.x_tile(g, b), 64, bexp + (b - kb0) * 2048, 1024, 16 * block_k * std::int64_t(sizeof(bf16))};
    };
    for (std::int64_t g = g0; g < g1; ++g) {
        float* cg = c + (g - g0) * kernel_rows * kernel_rows;  // (32, 32) fp32
        if (first) {
            zero_c_tiles();
        } else {
            tiles::template load<c00>(cg, c_stride);
            tiles::template load<c01>(cg + 16, c_stride);
            tiles::template load<c10>(cg + 16 * kernel_rows, c_stride);
            tiles::template load<c11>(cg + 16 * kernel_rows + 16, c_stride);
        }
        load_block_operands(operands(g, kb0));
        for (std::int64_t b = kb0; b < kb1; ++b) {
            // Two blocks ahead: block b + 2 of this row group, or past the chunk's end the next row group's first
            // blocks (the same B chunk again, from its start; within the chunk even when it has one block).
            const bool wrap = b + 2 >= kb1, fetch = !wrap || g + 1 < g1;
            const std::int64_t ahead = wrap ? std::min(kb0 + (b + 2 - kb1), kb1 - 1) : b + 2;
            const prefetch_quarters prefetch{fetch ? a.x_tile(wrap ? g + 1 : g, ahead) : nullptr,
                                             fetch ? bexp + (ahead - kb0) * 2048 : nullptr, next_weights.next()};
            const block_operands next = operands(g, b + 1);
            block_products<false>(b + 1 < kb1 ? &next : nullptr, prefetch);
        }
        store_c_tiles(cg);
    }
}

/// block_products' vector work for `exact_columns`: quarter q (rows 8q .. 8q+7) of one block's rescale,
/// or nothing when dx is null (the first block of a chunk has no previous block).
struct rescale_quarters {
    float* acc;
    const std::int32_t* ci;
    const float* dw;
    const float* dx;
    weight_step w;  // the next unit's packed weights, as in prefetch_quarters
    AMXMM_KERNEL_TARGET void operator()(int q) const {
        w.fetch(q);
        if (dx) rescale_accumulate(acc + q * 8 * kernel_rows, ci + q * 8 * kernel_rows, dw, dx + q * 8, 8);
    }
};

/// `exact`: for row groups [g0, g1), the per-block integer products over blocks [kb0, kb1) with B and
/// weight scales from expand_columns_int8, scaled into the fp32 accumulators `c` ((g1-g0, 32, 32),
/// zeroed first when `first`). While the tile unit works on block b, the vector units scale block
/// b-1's sums (two int32 staging areas), in block order. Needs exact_mode_tile_config() loaded.
AMXMM_KERNEL_TARGET inline void exact_columns(const prepared_exact& a, const std::uint8_t* bexp, const float* dw,
                                              std::int64_t kb0, std::int64_t kb1, std::int64_t g0, std::int64_t g1,
                                              float* c, bool first, amx_exact_scratch& s, weight_lines next_weights = {}) {
    auto operands = [&](std::int64_t g, std::int64_t b) {  // (32, 32) int8 A pair; 2 × (8, 64 B) int8 VNNI B
        return block_operands{a.q_tile(g, b), block_k, bexp + (b - kb0) * 1024, 512, 16 * block_k};
    };
    for (std::int64_t g = g0; g < g1; ++g) {
        float* acc = c + (g - g0) * kernel_rows * kernel_rows;  // (32, 32) fp32
        if (first) std::memset(acc, 0, sizeof(float) * kernel_rows * kernel_rows);
        load_block_operands(operands(g, kb0));
        for (std::int64_t b = kb0; b < kb1; ++b) {
            zero_c_tiles();
            const block_operands next = operands(g, b + 1);
            // Block b-1's rescale, 8 rows after each of block b's products: in program order between them,
            // the vector work cannot hold the next products back.
            const rescale_quarters previous{acc, s.ci_stage[(b - 1) & 1], b > kb0 ? dw + (b - 1 - kb0) * 32 : dw,
                                            b > kb0 ? a.d_tile(g, b - 1) : nullptr, next_weights.next()};
            block_products<true>(b + 1 < kb1 ? &next : nullptr, previous);
            store_c_tiles(s.ci_stage[b & 1]);
        }
        rescale_accumulate(acc, s.ci_stage[(kb1 - 1) & 1], dw + (kb1 - 1 - kb0) * 32, a.d_tile(g, kb1 - 1), kernel_rows);
    }
}

/// One task of the large-M path: row groups [g0, g1) × column blocks [cb0, cb1) (32 columns each).
/// K is walked in chunks of kc blocks; per chunk and column block, the B operands are expanded once
/// into `bexp` (kc × 2 KiB, in L2: choose_amx_blocking) and every row group's A tiles (in L2: the task's rows
/// × kc blocks) pass them. The accumulators `c` ((cb1-cb0) × (g1-g0) × 4 KiB) stay in L2 between
/// chunks. At the end, rows < a.m and valid columns go to `out` (strided_rows, or any sink with its
/// call), row by row, each row's column blocks in order.
template <class Prepared, class Sink>
AMXMM_KERNEL_TARGET inline void run_block_task(const packed_q4_0_vnni_view& w, const Prepared& a, std::int64_t g0,
                                               std::int64_t g1, std::int64_t cb0, std::int64_t cb1, std::int64_t kc,
                                               std::uint8_t* bexp, float* dw, float* c, const Sink& out) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    const std::int64_t nb = a.blocks(), groups = g1 - g0, panels = w.layout.panels();
    const std::int64_t c_per_block = groups * kernel_rows * kernel_rows;
    auto panels_of = [&](std::int64_t cb) {  // panels of column block cb (the last may have one)
        return static_cast<int>(std::min<std::int64_t>(kernel_panels, panels - cb * kernel_panels));
    };
    {
        scoped_tile_context ctx(exact ? exact_mode_tile_config() : fast_mode_tile_config());
        for (std::int64_t kb0 = 0; kb0 < nb; kb0 += kc) {
            const std::int64_t kb1 = std::min(nb, kb0 + kc);
            for (std::int64_t cb = cb0; cb < cb1; ++cb) {
                const std::int64_t p0 = cb * kernel_panels;
                const int np = panels_of(cb);
                float* cc = c + (cb - cb0) * c_per_block;
                // The unit after this one: the next column block, or the next chunk's first.
                weight_lines next;
                if (cb + 1 < cb1)
                    next = weight_lines(w, p0 + kernel_panels, panels_of(cb + 1), kb0, kb1);
                else if (kb1 < nb)
                    next = weight_lines(w, cb0 * kernel_panels, panels_of(cb0), kb1, std::min(nb, kb1 + kc));
                if constexpr (exact) {
                    amx_exact_scratch s;  // exact_columns' int32 staging; the fast path needs none
                    expand_columns_int8(w, p0, np, kb0, kb1, bexp, dw);
                    exact_columns(a, bexp, dw, kb0, kb1, g0, g1, cc, kb0 == 0, s, next);
                } else {
                    expand_columns_bf16(w, p0, np, kb0, kb1, bexp);
                    fast_columns(a, bexp, kb0, kb1, g0, g1, cc, kb0 == 0, next);
                }
            }
        }
    }
    // Row by row, each row's column blocks in order: y is written line after line. (Column block by
    // column block, 128 bytes per row and rows ldy apart, the copy took 8-17% of a call: bench/RESULTS.md,
    // session 16.)
    const std::int64_t row_end = std::min(a.m, g1 * kernel_rows);
    const std::int64_t full_end = std::min(cb1, w.layout.n / 32);  // column blocks with 32 valid columns
    for (std::int64_t i = g0 * kernel_rows; i < row_end; ++i) {
        const float* ci = c + (i - g0 * kernel_rows) * kernel_rows;
        std::int64_t cb = cb0;
        for (; cb < full_end; ++cb) out(i, cb, ci + (cb - cb0) * c_per_block, 32);
        for (; cb < cb1; ++cb) out(i, cb, ci + (cb - cb0) * c_per_block, w.layout.n - cb * 32);
    }
    if constexpr (std::is_same_v<Sink, strided_rows>) out.finish();
}
