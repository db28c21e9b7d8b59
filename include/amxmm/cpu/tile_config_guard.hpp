// AMX tile configuration: the 64-byte descriptor, load/store helpers, and an RAII guard that borrows the
// calling thread's configuration and gives it back.
//
// What a tile configuration is. AMX has 8 tile registers (tmm0..tmm7), each up to 16 rows of 64 bytes.
// Before any tile instruction runs, the thread loads a 64-byte configuration (LDTILECFG) that fixes,
// per tile, how many rows it has and how many bytes each row holds; tile instructions then work on
// those shapes. Loading a configuration zeroes all tiles. The configuration is per-thread CPU state,
// like a register: whoever loaded one last owns what is in there.
//
// Why a guard. amxmm is a library: the thread calling it may belong to an engine that uses AMX itself
// (ggml's AMX backend, oneDNN, ...) and keeps its own configuration loaded between calls. amxmm therefore
// *borrows* the configuration: it saves the caller's (STTILECFG), loads its own, and on the way out
// reloads the caller's; if the caller had none (palette 0, the "init" state), it releases the tiles
// instead (TILERELEASE), returning the thread to the state it found. tile_config_guard does exactly this.
// Tile *data* is not preserved (loading a configuration zeroes it) - callers never rely on tile contents
// across a library call, just as they would not across any call under the AMX ABI.
//
// Use only after AMX is known to work: isa_supported(isa::amx) (which includes the OS permission
// request). On a machine without AMX, or before the permission was granted, these instructions raise
// SIGILL. Debug builds assert this in the guard's constructor.
//
// Every function here carries __attribute__((target("amx-tile"))), so no compile flag is needed.
#pragma once

#include "../core/version.hpp"
#include "isa.hpp"

#if defined(__x86_64__)

#include <cassert>

#include <immintrin.h>

#define AMXMM_TARGET_AMX_TILE __attribute__((target("amx-tile")))

AMXMM_NAMESPACE_BEGIN

/// The 64-byte LDTILECFG/STTILECFG operand.
///   byte 0        palette id: 0 = no configuration (tiles released), 1 = 8 tiles of up to 16 x 64 bytes
///   byte 1        start_row (restart point after a fault; 0 for normal use)
///   bytes 2..15   reserved, must be 0
///   bytes 16..47  colsb[16]: bytes per row of tile t, little-endian uint16 at 16 + 2t
///   bytes 48..63  rows[16]:  rows of tile t, uint8 at 48 + t
/// Unused tiles must have rows = colsb = 0. Palette 1 uses tiles 0..7.
struct alignas(64) tile_config_bytes {
    unsigned char bytes[64] = {};

    static constexpr int max_tiles = 16;           ///< slots in the layout
    static constexpr int palette1_tiles = 8;       ///< tiles palette 1 provides (tmm0..tmm7)
    static constexpr int palette1_max_rows = 16;   ///< rows per tile in palette 1
    static constexpr int palette1_max_colsb = 64;  ///< bytes per row in palette 1

    unsigned palette() const noexcept { return bytes[0]; }
    void set_palette(unsigned palette_id) noexcept { bytes[0] = static_cast<unsigned char>(palette_id); }
    unsigned start_row() const noexcept { return bytes[1]; }

    /// Bytes per row of tile t (0 <= t < 16).
    unsigned colsb(int t) const noexcept {
        return static_cast<unsigned>(bytes[16 + 2 * t]) | (static_cast<unsigned>(bytes[17 + 2 * t]) << 8);
    }
    /// Rows of tile t (0 <= t < 16).
    unsigned rows(int t) const noexcept { return bytes[48 + t]; }

    /// Sets tile t to `rows` rows of `colsb` bytes (palette 1: rows <= 16, colsb <= 64).
    void set_tile(int t, unsigned rows_, unsigned colsb_) noexcept {
        bytes[16 + 2 * t] = static_cast<unsigned char>(colsb_ & 0xFFu);
        bytes[17 + 2 * t] = static_cast<unsigned char>((colsb_ >> 8) & 0xFFu);
        bytes[48 + t] = static_cast<unsigned char>(rows_);
    }

    friend bool operator==(const tile_config_bytes& a, const tile_config_bytes& b) noexcept {
        for (int i = 0; i < 64; ++i)
            if (a.bytes[i] != b.bytes[i]) return false;
        return true;
    }
    friend bool operator!=(const tile_config_bytes& a, const tile_config_bytes& b) noexcept { return !(a == b); }
};

// Note on the empty asm statements below: GCC 12's _tile_loadconfig/_tile_storeconfig describe their
// memory operand as 8 bytes (a `void*`), not 64, so the optimiser may drop or reorder accesses to the
// remaining 56 bytes. The empty asm with the whole array as operand tells it all 64 bytes are read
// (before LDTILECFG) or written (after STTILECFG). They emit no instructions.

/// Loads `cfg` as this thread's tile configuration (LDTILECFG); zeroes all tiles. Requires AMX.
AMXMM_TARGET_AMX_TILE inline void load_tile_config(const tile_config_bytes& cfg) noexcept {
    __asm__ volatile("" : : "m"(cfg.bytes));
    _tile_loadconfig(cfg.bytes);
}

/// This thread's current tile configuration (STTILECFG); all zero when none is loaded. Requires AMX.
AMXMM_TARGET_AMX_TILE inline tile_config_bytes current_tile_config() noexcept {
    tile_config_bytes cfg;
    _tile_storeconfig(cfg.bytes);
    __asm__ volatile("" : "+m"(cfg.bytes));
    return cfg;
}

/// Returns the tiles to the init state (TILERELEASE): no configuration, palette 0. Requires AMX.
AMXMM_TARGET_AMX_TILE inline void release_tiles() noexcept { _tile_release(); }

/// RAII: saves the calling thread's tile configuration on construction and gives it back on
/// destruction (reloads it, or releases the tiles if there was none). Construct it on the thread that
/// runs the tile instructions, only after isa_supported(isa::amx) is true. Not copyable or movable:
/// it stands for state of the thread that created it.
///
///     {
///         tile_config_guard guard(my_config);  // caller's config saved, mine loaded
///         ... tile loads / dot products / stores ...
///     }                                        // caller's config back
class tile_config_guard {
public:
    /// Saves the current configuration; loads nothing.
    AMXMM_TARGET_AMX_TILE tile_config_guard() noexcept {
        assert(isa_supported(isa::amx) &&
               "amxmm::tile_config_guard used on a machine/process without usable AMX (check isa_supported(isa::amx))");
        saved_ = current_tile_config();
    }

    /// Saves the current configuration, then loads `cfg`.
    AMXMM_TARGET_AMX_TILE explicit tile_config_guard(const tile_config_bytes& cfg) noexcept : tile_config_guard() {
        load_tile_config(cfg);
    }

    /// Gives the saved configuration back: LDTILECFG if it had a palette, TILERELEASE otherwise.
    AMXMM_TARGET_AMX_TILE ~tile_config_guard() {
        if (saved_.palette() != 0)
            load_tile_config(saved_);
        else
            release_tiles();
    }

    tile_config_guard(const tile_config_guard&) = delete;
    tile_config_guard& operator=(const tile_config_guard&) = delete;
    tile_config_guard(tile_config_guard&&) = delete;
    tile_config_guard& operator=(tile_config_guard&&) = delete;

    /// The caller's configuration that the destructor restores.
    const tile_config_bytes& saved() const noexcept { return saved_; }

private:
    tile_config_bytes saved_;
};

AMXMM_NAMESPACE_END

#endif  // defined(__x86_64__)
