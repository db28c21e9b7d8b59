// Per-function ISA targeting. amxmm never needs global -m flags: each ISA-specific function carries
// a target attribute, and the best path is chosen at run time (cpu/isa.hpp).
#pragma once

#include "version.hpp"

// GCC 12 warns (-Wuninitialized) inside its own AVX-512 intrinsics when they are inlined into a
// function compiled with a target attribute; the warning is about the intrinsic headers' deliberate
// self-initialised "undefined" vectors. Headers holding intrinsics open and close this region.
#if defined(__GNUC__) && !defined(__clang__)
#define AMXMM_INTRINSICS_BEGIN                                       \
    _Pragma("GCC diagnostic push")                                   \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")            \
    _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define AMXMM_INTRINSICS_END _Pragma("GCC diagnostic pop")
#else
#define AMXMM_INTRINSICS_BEGIN
#define AMXMM_INTRINSICS_END
#endif

#define AMXMM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define AMXMM_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define AMXMM_TARGET_AVX512_BF16 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))
