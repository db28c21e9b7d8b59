// amxmm_probe_amx_exact_block_parts (bench/probes): see bench/RESULTS.md, session of 2026-11-29 (twenty-fifth).
// One `exact_columns` block step rebuilt from the library's own pieces, every operand in L1, with each part
// switchable: the four int8 tile products (always), the next block's operand tile loads (L), the C tiles'
// zero and store into a staging area (S), and the previous block's rescale in quarters between the products
// (R; rescale_accumulate, as exact_columns; R3 and R2: with 3 and 2 vector operations per 16 outputs
// instead of 4, wrong values, to see what fewer operations would buy). ns per block step, median over
// threads, best of 3 runs, for 1 and N threads. If the parts overlapped, L+S+R would cost about
// max(parts), not their sum.
// Usage: [threads = 16]. Needs AMX (Linux); prints "no amx" elsewhere.
#include <amxmm/amxmm.hpp>

#include "probe_threads.hpp"

#include <cstdio>
#include <cstdlib>

using namespace amxmm;
namespace hw = detail::amx_hw;
using amxmm::kernel_rows;

namespace {

struct alignas(64) operands {
    alignas(64) std::int8_t a[2][32 * 32];   // two blocks' (32, 32) int8 A pairs
    alignas(64) std::uint8_t b[2][1024];     // two blocks' B pairs (2 × 512 B)
    alignas(64) float dw[32];
    alignas(64) float dx[32];
    alignas(64) float acc[32 * 32];
    alignas(64) std::int32_t ci[2][32 * 32];  // staging
};

/// The rescale with fewer vector operations per 16 outputs, as if the sums arrived as floats (3: multiply for
/// the scale, multiply, add) and, in addition, the last two were one FMA (2). Neither is exact mode's arithmetic
/// (rescale_accumulate, 4 operations: convert, multiply, multiply, add); they show what fewer operations buy.
template <int Ops>
AMXMM_TARGET_AMX inline void rescale_cheaper(float* acc, const std::int32_t* ci, const float* dw, const float* dx) {
    const __m512 dw0 = _mm512_loadu_ps(dw), dw1 = _mm512_loadu_ps(dw + 16);
    for (int i = 0; i < 8; ++i) {
        const __m512 x = _mm512_set1_ps(dx[i]);
        for (int h = 0; h < 2; ++h) {
            __m512 scale = _mm512_mul_ps(h ? dw1 : dw0, x);
            AMXMM_ROUND_HERE(scale);
            const __m512 c = _mm512_castsi512_ps(_mm512_load_si512(ci + i * 32 + 16 * h));
            float* a = acc + i * 32 + 16 * h;
            if constexpr (Ops == 3) {
                __m512 term = _mm512_mul_ps(c, scale);
                AMXMM_ROUND_HERE(term);
                _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), term));
            } else {
                _mm512_store_ps(a, _mm512_fmadd_ps(c, scale, _mm512_load_ps(a)));
            }
        }
    }
}

template <int Ops>
struct rescale_part {  // block_products' `after`: quarter q of the previous block's rescale
    operands* o;
    const std::int32_t* ci;
    AMXMM_TARGET_AMX void operator()(int q) const {
        if constexpr (Ops == 4)
            hw::rescale_accumulate(o->acc + q * 8 * kernel_rows, ci + q * 8 * kernel_rows, o->dw, o->dx + q * 8, 8);
        else
            rescale_cheaper<Ops>(o->acc + q * 8 * kernel_rows, ci + q * 8 * kernel_rows, o->dw, o->dx + q * 8);
    }
};

template <bool L, bool S, int R>
__attribute__((noinline)) AMXMM_TARGET_AMX double run(long steps) {
    static thread_local operands o;
    for (int i = 0; i < 32; ++i) o.dw[i] = 1.0f + i * 1e-3f, o.dx[i] = 1.0f - i * 1e-3f;
    detail::amx_tiles::load_config(exact_mode_tile_config());
    hw::zero_c_tiles();
    hw::load_block_operands({o.a[0], 32, o.b[0], 512, 16 * 32});
    const double t0 = amxmm_probe::now();
    for (long s = 0; s < steps; ++s) {
        const int p = int(s & 1);
        const hw::block_operands next{o.a[p ^ 1], 32, o.b[p ^ 1], 512, 16 * 32};
        if constexpr (S) hw::zero_c_tiles();
        if constexpr (R)
            hw::block_products<true>(L ? &next : nullptr, rescale_part<R>{&o, o.ci[p ^ 1]});
        else
            hw::block_products<true>(L ? &next : nullptr);
        if constexpr (S) hw::store_c_tiles(o.ci[p]);
    }
    hw::store_c_tiles(o.ci[0]);  // waits for the products
    const double t = amxmm_probe::now() - t0;
    detail::amx_tiles::release();
    if (o.acc[5] == 12345.f && o.ci[0][3] == 7) std::puts("");
    return t / steps * 1e9;
}

template <bool L, bool S, int R>
double timed(int threads) {
    return amxmm_probe::median_of_threads(threads, [] { return run<L, S, R>(100000); });  // AMX permission: isa_supported
}

}  // namespace

int main(int argc, char** argv) {
    if (!isa_supported(isa::amx)) {
        std::printf("no amx\n");
        return 0;
    }
    const int threads = argc > 1 ? std::atoi(argv[1]) : 16;
    for (int th : {1, threads}) {
        std::printf("threads %2d, ns per block step:  products %.1f | +L %.1f | +S %.1f | +R %.1f | +L+S %.1f | +L+R %.1f | "
                    "+S+R %.1f | +L+S+R %.1f | +L+S+R3 %.1f | +L+S+R2 %.1f\n",
                    th, timed<false, false, 0>(th), timed<true, false, 0>(th), timed<false, true, 0>(th),
                    timed<false, false, 4>(th), timed<true, true, 0>(th), timed<true, false, 4>(th),
                    timed<false, true, 4>(th), timed<true, true, 4>(th), timed<true, true, 3>(th), timed<true, true, 2>(th));
        std::fflush(stdout);
    }
}
