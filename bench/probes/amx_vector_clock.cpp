// amxmm_probe_amx_vector_clock (bench/probes): see bench/RESULTS.md, "Decode at m = 8..16".
// Does running AMX instructions slow the vector units down (a lower clock while tiles are in use)?
// Each thread runs a fixed AVX-512 FMA loop (8 independent chains) and, every `every` iterations,
// one TDPBSSD on tiles it configured itself (every = 0: no tile instruction at all). Prints ns per
// loop iteration, median of 5 runs, for 1 and N threads; if the vector loop slows down as soon as a
// few tile instructions are mixed in, the clock (frequency licence), not the tile work, is the cost.
// Then, pairs of CPUs (0, j) pinned: a pair that slows down shares one core's vector units (SMT
// siblings as the VM maps them). Usage: [threads = 16]. Needs AMX (Linux); prints "no amx" elsewhere.
#include <amxmm/amxmm.hpp>

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace amxmm;

namespace {

AMXMM_TARGET_AMX double vector_loop(long iters, long every) {
    detail::amx_tiles::load_config(exact_mode_tile_config());
    detail::amx_tiles::zero<0>();
    detail::amx_tiles::zero<4>();
    detail::amx_tiles::zero<6>();
    __m512 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.01f * float(j));
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0, next = every; i < iters; ++i) {
        for (int j = 0; j < 8; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
        if (every > 0 && --next == 0) {
            detail::amx_tiles::dp_int8<0, 4, 6>();
            next = every;
        }
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    detail::amx_tiles::release();
    alignas(64) float lanes[16];
    float sink = 0;
    for (int j = 0; j < 8; ++j) {  // keeps the chains alive (GCC 12's _mm512_reduce_add_ps warns)
        _mm512_store_ps(lanes, acc[j]);
        for (float v : lanes) sink += v;
    }
    if (sink == 12345.0f) std::puts("");
    return ns / double(iters);
}

/// Pins the calling thread to one CPU (cpu < 0: leaves it as it is).
void pin_to(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

double median_over_threads(int threads, long iters, long every, const std::vector<int>& cpus = {}) {
    std::vector<double> runs;
    for (int rep = 0; rep < 5; ++rep) {
        std::vector<double> per(std::size_t(threads), 0.0);
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                pin_to(t < int(cpus.size()) ? cpus[std::size_t(t)] : -1);
                per[std::size_t(t)] = vector_loop(iters, every);
            });
        for (auto& th : pool) th.join();
        runs.push_back(*std::max_element(per.begin(), per.end()));
    }
    std::sort(runs.begin(), runs.end());
    return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (!isa_supported(isa::amx)) {
        std::printf("amxmm_probe_amx_vector_clock: no amx (%s)\n", isa_unsupported_reason(isa::amx).c_str());
        return 0;
    }
    const int threads = argc > 1 ? std::atoi(argv[1]) : 16;
    const long iters = 20'000'000;
    for (int nt : {1, threads})
        for (long every : {0L, 1000L, 100L, 10L})
            std::printf("threads %2d, one TDPBSSD every %4ld iterations (0: none): %.3f ns per FMA iteration\n", nt,
                        every, median_over_threads(nt, iters, every));
    // Which CPUs share a core's vector units: CPU 0 and CPU j together, no tile instructions.
    for (int j = 1; j < threads; ++j)
        std::printf("CPUs 0 and %2d together: %.3f ns per FMA iteration\n", j, median_over_threads(2, iters / 4, 0, {0, j}));
}
