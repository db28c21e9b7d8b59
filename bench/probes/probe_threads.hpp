// Helpers shared by the AMX probes in this folder (each probe is its own executable).
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace amxmm_probe {

inline double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/// Runs `one()` (a per-thread measurement returning a time) on `threads` threads at once and takes the median
/// over the threads; the best (smallest) of `rounds` such runs.
template <class Fn>
double median_of_threads(int threads, const Fn& one, int rounds = 3) {
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) {
        std::vector<double> t(static_cast<std::size_t>(threads));
        std::vector<std::thread> pool;
        for (int i = 0; i < threads; ++i) pool.emplace_back([&t, &one, i] { t[static_cast<std::size_t>(i)] = one(); });
        for (auto& th : pool) th.join();
        std::sort(t.begin(), t.end());
        best = std::min(best, t[static_cast<std::size_t>(threads / 2)]);
    }
    return best;
}

}  // namespace amxmm_probe
