// amxmm_probe_amx_operand_streaming (bench/probes): see bench/RESULTS.md, "Where the large-M time goes".
// Single-thread: A streamed (span 1-4 MiB, from L2/L3) with software prefetch to L1 at distance D blocks
// (2 KiB each), B constant in L1; amxmm's block_products order. Best of 3 runs.
#include <amxmm/amxmm.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <immintrin.h>
using namespace amxmm;
using T = detail::amx_tiles;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
enum { C00 = 0, C01 = 1, C10 = 2, C11 = 3, A0 = 4, A1 = 5, B0 = 6, B1 = 7 };
alignas(64) static char A[8 << 20];
alignas(64) static char B[1 << 16];

template <int Hint>
AMXMM_TARGET_AMX double run(long span, int dist, int lines_per_dp, double secs) {
    T::load_config(fast_mode_tile_config());
    T::zero<C00>(); T::zero<C01>(); T::zero<C10>(); T::zero<C11>();
    T::load<A0>(A, 64); T::load<A1>(A + 1024, 64); T::load<B0>(B, 64); T::load<B1>(B + 1024, 64);
    long dps = 0; double t0 = now(); long off = 0, boff = 0, pf = (long)dist * 2048 % span;
    while (now() - t0 < secs) {
        for (int i = 0; i < 4096; ++i) {
            const char* an = A + off; const char* bn = B + boff;
            off += 2048; if (off >= span) off = 0;
            boff += 2048; if (boff >= 24 * 1024) boff = 0;
            // prefetch the block `dist` ahead: 32 lines, spread over the 4 products
            const char* p = A + pf; pf += 2048; if (pf >= span) pf = 0;
            int l = 0;
            auto pref = [&] { if (dist > 0) for (int j = 0; j < lines_per_dp && l < 32; ++j, ++l) _mm_prefetch(p + 64 * l, Hint == 0 ? _MM_HINT_T0 : _MM_HINT_T1); };
            pref(); T::dp_bf16<C01, A0, B1>(); pref(); T::dp_bf16<C00, A0, B0>(); T::load<A0>(an, 64);
            pref(); T::dp_bf16<C11, A1, B1>(); T::load<B1>(bn + 1024, 64);
            pref(); T::dp_bf16<C10, A1, B0>(); T::load<B0>(bn, 64); T::load<A1>(an + 1024, 64);
            while (dist > 0 && l < 32) { _mm_prefetch(p + 64 * l, _MM_HINT_T0); ++l; }
        }
        dps += 4096 * 4;
    }
    double t = now() - t0; T::release();
    return dps * 16384.0 / t;
}
template <int H> double best(long span, int d, int lpd) { double b = 0; for (int r = 0; r < 3; ++r) b = std::max(b, run<H>(span, d, lpd, 0.1)); return b * 1e-9; }
int main() {
    if (!isa_supported(isa::amx)) { printf("no amx\n"); return 0; }
    for (size_t i = 0; i < sizeof A; ++i) A[i] = char(i * 7);
    for (size_t i = 0; i < sizeof B; ++i) B[i] = char(i * 3);
    printf("L1-resident A (span 8 KiB), no prefetch: %.0f GFLOP/s\n", best<0>(8192, 0, 8));
    for (long span : {1L << 20, 6L << 20}) {
        printf("span %ld:", span);
        for (int d : {0, 1, 2, 4, 6, 8, 12, 16}) printf("  d%d %.0f", d, best<0>(span, d, 8));
        printf("  | T1 d4 %.0f d8 %.0f | T0 lpd32 d4 %.0f\n", best<1>(span, 4, 8), best<1>(span, 8, 8), best<0>(span, 4, 32));
        fflush(stdout);
    }
}
