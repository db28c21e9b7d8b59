// Hardware AMX back end of the tile contract (tile_config.hpp): thin wrappers over the intrinsics.
// Callers must have AMX permission (cpu/isa.hpp) and run inside functions compiled for AMX.
// GCC's tile intrinsics paste the register number into the asm text, so it must be a literal:
// each wrapper maps its template argument onto literal calls.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tile_config.hpp"

#define AMXMM_TARGET_AMX                                                                                 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,"     \
                          "avx512vbmi,amx-tile,amx-int8,amx-bf16")))

AMXMM_NAMESPACE_BEGIN
namespace detail {

struct amx_tiles {
    static constexpr const char* name = "amx";

    AMXMM_TARGET_AMX static inline void load_config(const tile_config& cfg) { load_tile_config(cfg); }
    AMXMM_TARGET_AMX static inline void store_config(tile_config& cfg) { cfg = current_tile_config(); }
    AMXMM_TARGET_AMX static inline void release() { release_tiles(); }

    template <int T>
    AMXMM_TARGET_AMX static inline void zero() {
        if constexpr (T == 0) _tile_zero(0);
        else if constexpr (T == 1) _tile_zero(1);
        else if constexpr (T == 2) _tile_zero(2);
        else if constexpr (T == 3) _tile_zero(3);
        else if constexpr (T == 4) _tile_zero(4);
        else if constexpr (T == 5) _tile_zero(5);
        else if constexpr (T == 6) _tile_zero(6);
        else if constexpr (T == 7) _tile_zero(7);
    }
    template <int T>
    AMXMM_TARGET_AMX static inline void load(const void* base, std::int64_t stride) {
        // GCC's tileloadd asm names only the address: without this barrier the compiler does not
        // know the load reads memory and may sink earlier stores to that buffer past it.
        __asm__ volatile("" ::: "memory");
        if constexpr (T == 0) _tile_loadd(0, base, stride);
        else if constexpr (T == 1) _tile_loadd(1, base, stride);
        else if constexpr (T == 2) _tile_loadd(2, base, stride);
        else if constexpr (T == 3) _tile_loadd(3, base, stride);
        else if constexpr (T == 4) _tile_loadd(4, base, stride);
        else if constexpr (T == 5) _tile_loadd(5, base, stride);
        else if constexpr (T == 6) _tile_loadd(6, base, stride);
        else if constexpr (T == 7) _tile_loadd(7, base, stride);
    }
    template <int T>
    AMXMM_TARGET_AMX static inline void store(void* base, std::int64_t stride) {
        if constexpr (T == 0) _tile_stored(0, base, stride);
        else if constexpr (T == 1) _tile_stored(1, base, stride);
        else if constexpr (T == 2) _tile_stored(2, base, stride);
        else if constexpr (T == 3) _tile_stored(3, base, stride);
        else if constexpr (T == 4) _tile_stored(4, base, stride);
        else if constexpr (T == 5) _tile_stored(5, base, stride);
        else if constexpr (T == 6) _tile_stored(6, base, stride);
        else if constexpr (T == 7) _tile_stored(7, base, stride);
    }
    /// C += A · B, int8 × int8 -> int32 (TDPBSSD). Only the 2×2 micro-kernel's (C, A, B) triples.
    template <int C, int A, int B>
    AMXMM_TARGET_AMX static inline void dp_int8() {
        if constexpr (C == 0 && A == 4 && B == 6) _tile_dpbssd(0, 4, 6);
        else if constexpr (C == 1 && A == 4 && B == 7) _tile_dpbssd(1, 4, 7);
        else if constexpr (C == 2 && A == 5 && B == 6) _tile_dpbssd(2, 5, 6);
        else if constexpr (C == 3 && A == 5 && B == 7) _tile_dpbssd(3, 5, 7);
        else static_assert(C < 0, "dp_int8: register triple not mapped");
    }
    /// C += A · B, bf16 × bf16 -> fp32 (TDPBF16PS): the 2×2 micro-kernel's triples, and those of
    /// amx_fast_kernel_pair (one B tile, b1 as a third A tile).
    template <int C, int A, int B>
    AMXMM_TARGET_AMX static inline void dp_bf16() {
        if constexpr (C == 0 && A == 4 && B == 6) _tile_dpbf16ps(0, 4, 6);
        else if constexpr (C == 1 && A == 4 && B == 7) _tile_dpbf16ps(1, 4, 7);
        else if constexpr (C == 2 && A == 5 && B == 6) _tile_dpbf16ps(2, 5, 6);
        else if constexpr (C == 3 && A == 5 && B == 7) _tile_dpbf16ps(3, 5, 7);
        else if constexpr (C == 1 && A == 5 && B == 6) _tile_dpbf16ps(1, 5, 6);
        else if constexpr (C == 2 && A == 7 && B == 6) _tile_dpbf16ps(2, 7, 6);
        else if constexpr (C == 3 && A == 4 && B == 6) _tile_dpbf16ps(3, 4, 6);
        else static_assert(C < 0, "dp_bf16: register triple not mapped");
    }
};

}  // namespace detail
AMXMM_NAMESPACE_END
