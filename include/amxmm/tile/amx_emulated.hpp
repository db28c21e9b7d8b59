// Software AMX back end ("amx_emulated"): the tile contract of tile_config.hpp in plain C++, so the
// AMX kernels — their tiling, VNNI layouts and tile configuration — run and are tested on any x86-64.
//
// State is per thread, like the hardware's: 8 tiles of 16 × 64 bytes and one configuration.
// Numerics (Intel's pseudo-code for TDPBSSD / TDPBF16PS):
//   dp_int8 : exact; int32 accumulation wraps modulo 2^32 as the hardware's does.
//   dp_bf16 : for each C element, in k order, two steps per bf16 pair:
//               c = c + a[2k]·b[2k]   then   c = c + a[2k+1]·b[2k+1]
//             each product exact in fp32 (bf16 × bf16 has 16 significant bits), each sum rounded to
//             nearest-even fp32; bf16 denormal inputs read as zero and denormal sums flushed to zero
//             (the instruction ignores MXCSR and behaves as DAZ/FTZ with RNE).
//             Whether the silicon rounds after every product like this is measured against real AMX
//             in tests/test_tiles.cpp on an AMX machine and recorded in bench/RESULTS.md.
// A misuse the hardware would fault on (no configuration, shape mismatch) throws amxmm::error here.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/error.hpp"
#include "../core/half.hpp"
#include "tile_config.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

struct amx_emulated_state {
    tile_config config{};
    alignas(64) std::uint8_t tmm[tile_count][tile_max_rows * tile_max_colsb] = {};
};

inline amx_emulated_state& amx_emulated_thread_state() {
    thread_local amx_emulated_state state;
    return state;
}

inline float ftz(float x) noexcept { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }
inline float bf16_daz(std::uint16_t bits) noexcept {
    if ((bits & 0x7f80u) == 0) bits &= 0x8000u;  // denormal (or zero) -> signed zero
    return bf16_to_fp32(bf16{bits});
}

struct amx_emulated_tiles {
    static constexpr const char* name = "amx_emulated";

    static void load_config(const tile_config& cfg) {
        require(cfg.palette() <= 1, errc::invalid_argument, "amx_emulated::load_config", "palette ", int(cfg.palette()),
                " is not supported");
        for (int t = 0; t < tile_count; ++t)
            require(cfg.rows(t) <= unsigned(tile_max_rows) && cfg.colsb(t) <= unsigned(tile_max_colsb) && cfg.colsb(t) % 4 == 0,
                    errc::invalid_argument, "amx_emulated::load_config", "tile ", t, " shape ", cfg.rows(t),
                    " x ", cfg.colsb(t), " B is invalid");
        auto& s = amx_emulated_thread_state();
        s.config = cfg.palette() == 0 ? tile_config{} : cfg;
        std::memset(s.tmm, 0, sizeof s.tmm);  // LDTILECFG zeroes the tile data
    }
    static void store_config(tile_config& cfg) { cfg = amx_emulated_thread_state().config; }
    static void release() {
        auto& s = amx_emulated_thread_state();
        s.config = tile_config{};
        std::memset(s.tmm, 0, sizeof s.tmm);
    }

    template <int T>
    static void zero() {
        static_assert(T >= 0 && T < tile_count, "tile register out of range");
        std::memset(configured("zero").tmm[T], 0, sizeof(amx_emulated_state::tmm[T]));
    }
    /// Rows beyond the configured count and bytes beyond colsb read as zero, as on hardware.
    template <int T>
    static void load(const void* base, std::int64_t stride) {
        static_assert(T >= 0 && T < tile_count, "tile register out of range");
        auto& s = configured("load");
        std::memset(s.tmm[T], 0, sizeof s.tmm[T]);
        for (int r = 0; r < int(s.config.rows(T)); ++r)
            std::memcpy(s.tmm[T] + r * tile_max_colsb, static_cast<const std::uint8_t*>(base) + r * stride,
                        s.config.colsb(T));
    }
    template <int T>
    static void store(void* base, std::int64_t stride) {
        static_assert(T >= 0 && T < tile_count, "tile register out of range");
        auto& s = configured("store");
        for (int r = 0; r < int(s.config.rows(T)); ++r)
            std::memcpy(static_cast<std::uint8_t*>(base) + r * stride, s.tmm[T] + r * tile_max_colsb,
                        s.config.colsb(T));
    }

    template <int C, int A, int B>
    static void dp_int8() {
        auto& s = checked_dp<C, A, B>("dp_int8");
        const int M = int(s.config.rows(C)), N = int(s.config.colsb(C)) / 4, K4 = int(s.config.colsb(A)) / 4;
        for (int m = 0; m < M; ++m) {
            auto* c = reinterpret_cast<std::int32_t*>(s.tmm[C] + m * tile_max_colsb);
            const auto* a = reinterpret_cast<const std::int8_t*>(s.tmm[A] + m * tile_max_colsb);
            for (int n = 0; n < N; ++n) {
                std::uint32_t acc = static_cast<std::uint32_t>(c[n]);
                for (int k = 0; k < K4; ++k) {
                    const auto* b = reinterpret_cast<const std::int8_t*>(s.tmm[B] + k * tile_max_colsb + 4 * n);
                    for (int i = 0; i < 4; ++i)
                        acc += static_cast<std::uint32_t>(std::int32_t(a[4 * k + i]) * std::int32_t(b[i]));
                }
                c[n] = static_cast<std::int32_t>(acc);
            }
        }
    }

    template <int C, int A, int B>
    static void dp_bf16() {
        auto& s = checked_dp<C, A, B>("dp_bf16");
        const int M = int(s.config.rows(C)), N = int(s.config.colsb(C)) / 4, K2 = int(s.config.colsb(A)) / 4;
        for (int m = 0; m < M; ++m) {
            auto* c = reinterpret_cast<float*>(s.tmm[C] + m * tile_max_colsb);
            const auto* a = reinterpret_cast<const std::uint16_t*>(s.tmm[A] + m * tile_max_colsb);
            for (int n = 0; n < N; ++n) {
                float acc = c[n];
                for (int k = 0; k < K2; ++k) {
                    const auto* b = reinterpret_cast<const std::uint16_t*>(s.tmm[B] + k * tile_max_colsb + 4 * n);
                    acc = ftz(acc + bf16_daz(a[2 * k]) * bf16_daz(b[0]));
                    acc = ftz(acc + bf16_daz(a[2 * k + 1]) * bf16_daz(b[1]));
                }
                c[n] = acc;
            }
        }
    }

private:
    static amx_emulated_state& configured(const char* op) {
        auto& s = amx_emulated_thread_state();
        require(s.config.palette() == 1, errc::unsupported, "amx_emulated", op,
                ": no tile configuration loaded (the hardware raises #UD)");
        return s;
    }
    template <int C, int A, int B>
    static amx_emulated_state& checked_dp(const char* op) {
        static_assert(C != A && C != B && A != B, "tile operands must be distinct registers");
        auto& s = configured(op);
        const tile_config& g = s.config;
        require(g.rows(C) == g.rows(A) && g.colsb(A) == 4 * g.rows(B) && g.colsb(C) == g.colsb(B),
                errc::invalid_argument, "amx_emulated", op, ": tile shapes do not chain (C ", g.rows(C), "x",
                g.colsb(C), ", A ", g.rows(A), "x", g.colsb(A), ", B ", g.rows(B), "x", g.colsb(B), ")");
        return s;
    }
};

}  // namespace detail
AMXMM_NAMESPACE_END
