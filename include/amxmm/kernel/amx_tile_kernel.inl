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

/// Per-thread scratch for one micro-kernel call sequence.
struct alignas(64) amx_scratch {
    alignas(64) std::uint8_t b_panel[kernel_panels][1024];  // expanded B operands, (16, 64) bytes each
    alignas(64) float acc[kernel_rows * kernel_rows];       // (32, 32) fp32 results
    alignas(64) std::int32_t ci[kernel_rows * kernel_rows]; // (32, 32) int32 per-block sums (exact)
    alignas(64) float dw[kernel_rows];                      // weight scales of the 32 columns (exact)
    alignas(64) float dx[kernel_rows];                      // activation scales of the 32 rows (exact)
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
                                                const kernel_block& kb, amx_scratch& s) {
    const std::int64_t lda_bytes = a.k * std::int64_t(sizeof(bf16));
    const bf16* a_rows = a.row(kb.m0);  // (32, K) bf16, padded rows are zero
    tiles::template zero<c00>();
    tiles::template zero<c01>();
    tiles::template zero<c10>();
    tiles::template zero<c11>();
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j)  // (16, 32) bf16 VNNI, scale folded in
            expand_bf16(w.quants(kb.p0 + j, b), w.scales(kb.p0 + j, b), reinterpret_cast<bf16*>(s.b_panel[j]));
        tiles::template load<a0>(a_rows + b * block_k, lda_bytes);
        tiles::template load<a1>(a_rows + 16 * a.k + b * block_k, lda_bytes);
        tiles::template load<b0>(s.b_panel[0], 64);
        tiles::template load<b1>(s.b_panel[1], 64);  // stale when np == 1: its columns are never written
        tiles::template dp_bf16<c00, a0, b0>();
        tiles::template dp_bf16<c01, a0, b1>();
        tiles::template dp_bf16<c10, a1, b0>();
        tiles::template dp_bf16<c11, a1, b1>();
    }
    store_c_tiles(s.acc);
    write_c_block(kb, s.acc);
}

/// `exact` mode: per block, integer tile products, then fp32 scaling in block order.
/// Requires exact_mode_tile_config() to be loaded.
AMXMM_KERNEL_TARGET inline void amx_exact_kernel(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                                 const kernel_block& kb, amx_scratch& s) {
    read_c_block(kb, s.acc);  // the running value each block's update continues from
    const std::int8_t* a_rows = a.q_row(kb.m0);  // (32, K) int8
    for (int j = 0; j < kernel_rows; ++j) s.dw[j] = 0.0f;
    for (std::int64_t b = kb.b0; b < kb.b1; ++b) {
        for (int j = 0; j < kb.np; ++j) {  // (8, 64) int8 VNNI
            expand_int8(w.quants(kb.p0 + j, b), reinterpret_cast<std::int8_t*>(s.b_panel[j]));
            const fp16* d = w.scales(kb.p0 + j, b);
            for (int n = 0; n < 16; ++n) s.dw[16 * j + n] = fp16_to_fp32(d[n]);
        }
        for (int i = 0; i < kernel_rows; ++i) s.dx[i] = a.d_row(kb.m0 + i)[b];
        tiles::template zero<c00>();
        tiles::template zero<c01>();
        tiles::template zero<c10>();
        tiles::template zero<c11>();
        tiles::template load<a0>(a_rows + b * block_k, a.k);
        tiles::template load<a1>(a_rows + 16 * a.k + b * block_k, a.k);
        tiles::template load<b0>(s.b_panel[0], 64);
        tiles::template load<b1>(s.b_panel[1], 64);
        tiles::template dp_int8<c00, a0, b0>();
        tiles::template dp_int8<c01, a0, b1>();
        tiles::template dp_int8<c10, a1, b0>();
        tiles::template dp_int8<c11, a1, b1>();
        store_c_tiles(s.ci);
        rescale_accumulate(s.acc, s.ci, s.dw, s.dx);
    }
    kernel_block out = kb;
    out.accumulate = false;
    write_c_block(out, s.acc);
}

/// Runs a sequence of micro-kernel calls under one tile configuration (the hoisted tile context).
AMXMM_KERNEL_TARGET inline void run_fast(const packed_q4_0_vnni_view& w, const prepared_fast& a,
                                         const kernel_block* blocks, std::int64_t count) {
    scoped_tile_context ctx(fast_mode_tile_config());
    amx_scratch s;
    std::memset(s.b_panel, 0, sizeof s.b_panel);
    for (std::int64_t i = 0; i < count; ++i) amx_fast_kernel(w, a, blocks[i], s);
}

AMXMM_KERNEL_TARGET inline void run_exact(const packed_q4_0_vnni_view& w, const prepared_exact& a,
                                          const kernel_block* blocks, std::int64_t count) {
    scoped_tile_context ctx(exact_mode_tile_config());
    amx_scratch s;
    std::memset(s.b_panel, 0, sizeof s.b_panel);
    for (std::int64_t i = 0; i < count; ++i) amx_exact_kernel(w, a, blocks[i], s);
}
