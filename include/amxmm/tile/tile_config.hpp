// The tile contract shared by the AMX back ends.
//
// An AMX unit has 8 tile registers (tmm0..tmm7), each up to 16 rows × 64 bytes, and one "tile
// configuration" (palette 1) that fixes every register's rows and bytes per row. The operations:
//   load / store  a tile row by row from memory with a byte stride;
//   zero          a tile;
//   dp_int8       C(int32, M×N) += A(int8, M×4K) · B(int8, K×4N)   — TDPBSSD, signed × signed;
//   dp_bf16       C(fp32,  M×N) += A(bf16, M×2K) · B(bf16, K×2N)   — TDPBF16PS.
// B is in "VNNI" layout: row r holds, for each output column n, 4 (int8) or 2 (bf16) consecutive K
// values. Back ends (tile/amx.hpp, tile/amx_emulated.hpp) implement exactly these operations; the
// kernels are written once against them. This header holds only the configuration bytes and the
// two configurations amxmm's kernels use (the shapes, kept apart from the instructions).
#pragma once

#include <cstdint>

#include "../cpu/tile_config_guard.hpp"

AMXMM_NAMESPACE_BEGIN

/// The 64-byte LDTILECFG operand (defined with the tile-config guard in cpu/).
using tile_config = tile_config_bytes;

inline constexpr int tile_count = 8;
inline constexpr int tile_max_rows = 16;
inline constexpr int tile_max_colsb = 64;

/// Register roles in amxmm's 2×2 micro-kernel: four C tiles, two A tiles, two B tiles.
enum tile_reg : int { c00 = 0, c01 = 1, c10 = 2, c11 = 3, a0 = 4, a1 = 5, b0 = 6, b1 = 7 };

namespace detail {
inline tile_config make_tile_config(std::uint8_t a_rows, std::uint16_t a_colsb, std::uint8_t b_rows,
                                    std::uint16_t b_colsb) {
    tile_config cfg;
    cfg.set_palette(1);
    for (int t = c00; t <= c11; ++t) cfg.set_tile(t, a_rows, 64);  // (a_rows, 16) int32 / fp32
    for (int t = a0; t <= a1; ++t) cfg.set_tile(t, a_rows, a_colsb);
    for (int t = b0; t <= b1; ++t) cfg.set_tile(t, b_rows, b_colsb);
    return cfg;
}
}  // namespace detail

/// `fast` mode: A (16, 32) bf16 = 64 B rows, B (16 pairs of K, 16 N × 2) bf16 VNNI, C (16, 16) fp32.
/// One dp_bf16 consumes one Q4_0 block (32 K).
inline tile_config fast_mode_tile_config() { return detail::make_tile_config(16, 64, 16, 64); }

/// `exact` mode: A (rows, 32) int8 = 32 B rows, B (8 quads of K, 16 N × 4) int8 VNNI, C (rows, 16)
/// int32. One dp_int8 consumes one Q4_0 block (32 K), so each block's integer sums can be scaled on
/// their own. `rows` < 16 serves calls with fewer activation rows (decode).
inline tile_config exact_mode_tile_config(int rows = tile_max_rows) {
    return detail::make_tile_config(std::uint8_t(rows), 32, 8, 64);
}

AMXMM_NAMESPACE_END
