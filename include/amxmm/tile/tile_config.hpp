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
#include <cstring>

#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN

/// The 64-byte tile configuration as LDTILECFG reads it (palette 1).
struct alignas(64) tile_config {
    std::uint8_t palette = 0;    // 0 = tiles released, 1 = the 8 × (16 rows × 64 B) palette
    std::uint8_t start_row = 0;  // restart row after an interrupted load/store; always 0 here
    std::uint8_t reserved[14] = {};
    std::uint16_t colsb[16] = {};  // bytes per row of tmm0..tmm7 (8..15 reserved, must be 0)
    std::uint8_t rows[16] = {};    // rows of tmm0..tmm7 (8..15 reserved, must be 0)

    bool operator==(const tile_config& o) const noexcept { return std::memcmp(this, &o, sizeof o) == 0; }
    bool operator!=(const tile_config& o) const noexcept { return !(*this == o); }
};
static_assert(sizeof(tile_config) == 64, "LDTILECFG reads exactly 64 bytes");

inline constexpr int tile_count = 8;
inline constexpr int tile_max_rows = 16;
inline constexpr int tile_max_colsb = 64;

/// Register roles in amxmm's 2×2 micro-kernel: four C tiles, two A tiles, two B tiles.
enum tile_reg : int { c00 = 0, c01 = 1, c10 = 2, c11 = 3, a0 = 4, a1 = 5, b0 = 6, b1 = 7 };

namespace detail {
inline tile_config make_tile_config(std::uint8_t a_rows, std::uint16_t a_colsb, std::uint8_t b_rows,
                                    std::uint16_t b_colsb) {
    tile_config cfg;
    cfg.palette = 1;
    for (int t = c00; t <= c11; ++t) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }  // (16, 16) int32/fp32
    for (int t = a0; t <= a1; ++t) { cfg.rows[t] = a_rows; cfg.colsb[t] = a_colsb; }
    for (int t = b0; t <= b1; ++t) { cfg.rows[t] = b_rows; cfg.colsb[t] = b_colsb; }
    return cfg;
}
}  // namespace detail

/// `fast` mode: A (16, 32) bf16 = 64 B rows, B (16 pairs of K, 16 N × 2) bf16 VNNI, C (16, 16) fp32.
/// One dp_bf16 consumes one Q4_0 block (32 K).
inline tile_config fast_mode_tile_config() { return detail::make_tile_config(16, 64, 16, 64); }

/// `exact` mode: A (16, 32) int8 = 32 B rows, B (8 quads of K, 16 N × 4) int8 VNNI, C (16, 16) int32.
/// One dp_int8 consumes one Q4_0 block (32 K), so each block's integer sums can be scaled on their own.
inline tile_config exact_mode_tile_config() { return detail::make_tile_config(16, 32, 8, 64); }

AMXMM_NAMESPACE_END
