// amxmm_probe_amx_vector_overlap (bench/probes): see bench/RESULTS.md, session of 2026-11-29 (twenty-fifth).
// Do AVX-512 operations run in the shadow of the tile products, or do their times add up? Each thread runs
// iterations of four register-only TDPBF16PS (2 × 2 C tiles, as the kernels) with V vector operations spread
// after the products (V/4 after each) on 8 register chains; the vector work is either FMAs or the exact
// rescale's sequence (convert, multiply, multiply, add; the product is kept from fusing into the add).
// Three timings per case, ns per iteration (best of 3): tiles alone, vector work alone, both. If both ≈
// max(alone), they overlap; if ≈ the sum, they do not.
// Usage: [threads = 16]. Needs AMX (Linux); prints "no amx" elsewhere.
#include <amxmm/amxmm.hpp>

#include "probe_threads.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

using namespace amxmm;
using T = detail::amx_tiles;

AMXMM_INTRINSICS_BEGIN  // GCC 12 warns inside the intrinsics' own headers (see core/target.hpp)

namespace {

enum { C00 = 0, C01 = 1, C10 = 2, C11 = 3, A0 = 4, A1 = 5, B0 = 6, B1 = 7 };
enum class work { fma, rescale };

/// V/4 vector operations (V in {0, 16, 32, 64, 128}) on 8 register chains: one quarter of an iteration's work.
template <work W, int Q, int Part>
AMXMM_TARGET_AMX inline void quarter(__m512* v, __m512 s) {
    constexpr int o = Part * Q;  // the four quarters take the 8 chains in turn
    if constexpr (W == work::fma) {
#pragma GCC unroll 64
        for (int i = 0; i < Q; ++i) v[(o + i) % 8] = _mm512_fmadd_ps(v[(o + i) % 8], s, s);
    } else {  // per 4 operations: float(int) (p0), two multiplies and an add, as rescale_accumulate per 16 outputs
#pragma GCC unroll 64
        for (int i = 0; i < Q / 4; ++i) {
            const int j = o / 4 + i;
            const __m512 c = _mm512_cvtepi32_ps(_mm512_castps_si512(v[(j + 4) % 8]));
            const __m512 scale = _mm512_mul_ps(v[(j + 2) % 8], s);
            __m512 term = _mm512_mul_ps(c, scale);
            AMXMM_ROUND_HERE(term);  // as rescale_accumulate: no FMA, whatever -ffp-contract says
            v[j % 8] = _mm512_add_ps(v[j % 8], term);
        }
    }
}

template <work W, int V, bool Tiles>
__attribute__((noinline)) AMXMM_TARGET_AMX double run(long iters) {
    T::load_config(fast_mode_tile_config());
    alignas(64) static thread_local char ab[4096];
    T::zero<C00>(); T::zero<C01>(); T::zero<C10>(); T::zero<C11>();
    T::load<A0>(ab, 64); T::load<A1>(ab + 1024, 64); T::load<B0>(ab + 2048, 64); T::load<B1>(ab + 3072, 64);
    __m512 v[8];
    for (int i = 0; i < 8; ++i) v[i] = _mm512_set1_ps(0.5f + i);
    const __m512 s = _mm512_set1_ps(0.999f);
    const double t0 = amxmm_probe::now();
    for (long it = 0; it < iters; ++it) {
        if constexpr (Tiles) T::dp_bf16<C01, A0, B1>();
        quarter<W, V / 4, 0>(v, s);
        if constexpr (Tiles) T::dp_bf16<C00, A0, B0>();
        quarter<W, V / 4, 1>(v, s);
        if constexpr (Tiles) T::dp_bf16<C11, A1, B1>();
        quarter<W, V / 4, 2>(v, s);
        if constexpr (Tiles) T::dp_bf16<C10, A1, B0>();
        quarter<W, V / 4, 3>(v, s);
    }
    alignas(64) static thread_local float sink[16 * 16];
    T::store<C00>(sink, 64);  // waits for the products
    const double t = amxmm_probe::now() - t0;
    T::release();
    float keep = sink[0];
    for (int i = 0; i < 8; ++i) keep += _mm512_reduce_add_ps(v[i]);
    if (keep == 12345.678f) std::puts("");  // keeps the chains alive
    return t / iters * 1e9;
}

/// ns per iteration with `threads` threads at once (their median), best of 3 runs.
template <work W, int V, bool Tiles>
double timed(int threads) {
    return amxmm_probe::median_of_threads(threads, [] { return run<W, V, Tiles>(200000); });  // AMX permission: isa_supported
}

template <work W, int V>
void row(const char* name, int threads, double tiles) {
    const double vec = timed<W, V, false>(threads), both = timed<W, V, true>(threads);
    // overlap: 1 when both = max(tiles, vec), 0 when both = tiles + vec
    const double overlap = (tiles + vec - both) / std::min(tiles, vec);
    std::printf("%-8s V=%-4d threads %2d | tiles %7.1f  vector %7.1f  both %7.1f ns | sum %7.1f max %7.1f | overlap %.2f\n",
                name, V, threads, tiles, vec, both, tiles + vec, std::max(tiles, vec), overlap);
    std::fflush(stdout);
}

}  // namespace

AMXMM_INTRINSICS_END

int main(int argc, char** argv) {
    if (!isa_supported(isa::amx)) {
        std::printf("no amx\n");
        return 0;
    }
    const int threads = argc > 1 ? std::atoi(argv[1]) : 16;
    for (int th : {1, threads}) {
        const double tiles = timed<work::fma, 0, true>(th);
        row<work::fma, 16>("fma", th, tiles);
        row<work::fma, 32>("fma", th, tiles);
        row<work::fma, 64>("fma", th, tiles);
        row<work::fma, 128>("fma", th, tiles);
        row<work::rescale, 32>("rescale", th, tiles);
        row<work::rescale, 64>("rescale", th, tiles);
        row<work::rescale, 128>("rescale", th, tiles);
    }
}
