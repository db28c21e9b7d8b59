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

// Fully unrolls the loop that follows (constant trip counts in the kernels). The small per-block loops
// of the streaming kernels must not depend on the user's -O level: at -O2, GCC kept them as loops and
// spilled their vector arrays to the stack.
// Empty under nvcc, whose front end warns about the GCC pragma in every .cu file including amxmm.hpp.
#if defined(__CUDACC__)
#define AMXMM_UNROLL
#elif defined(__clang__)
#define AMXMM_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define AMXMM_UNROLL _Pragma("GCC unroll 16")
#else
#define AMXMM_UNROLL
#endif

// For helpers whose only effect is a software prefetch. GCC's IPA pure-const analysis sees no side
// effect in __builtin_prefetch, marks such a helper `const` and deletes every call to it before the
// normal inliner runs (measured: no PREFETCH instruction was left in the decode kernels). Inlining
// the helper first keeps the prefetches.
#if defined(__GNUC__)
#define AMXMM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AMXMM_ALWAYS_INLINE inline
#endif

// For error paths kept out of a hot function's code (an out-of-line, cold-section call).
#if defined(__GNUC__)
#define AMXMM_COLD __attribute__((noinline, cold))
#else
#define AMXMM_COLD
#endif

#define AMXMM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define AMXMM_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define AMXMM_TARGET_AVX512_BF16 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))
#define AMXMM_TARGET_AVX512_VBMI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx512vbmi")))
