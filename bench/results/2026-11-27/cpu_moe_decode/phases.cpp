// moe_ffn decode, per phase (instrumented copy of the headers), hot and cold, plus the DRAM probe and an
// empty parallel_for in the same process. Probe only.
#include <amxmm/amxmm.hpp>
#include "../bench/limits_probes.hpp"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
using namespace amxmm;
static std::vector<block_q4_0> random_blocks(long n, long k, unsigned seed) {
    std::vector<block_q4_0> b(n * k / 32);
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<float> s(0.001f, 0.01f);
    for (auto& x : b) { x.d = fp32_to_fp16(s(g)); for (auto& q : x.qs) q = std::uint8_t(g()); }
    return b;
}
int main() {
    tbb_executor ex;
    const long E = 128, top = 8, K = 2048, F = 768;
    auto g = random_blocks(E * F, K, 1), u = random_blocks(E * F, K, 2), d = random_blocks(E * K, F, 3);
    std::vector<packed_q4_0_vnni_gate_up> gus;
    std::vector<packed_q4_0_vnni_experts> dns;
    for (int c = 0; c < 3; ++c) {  // cold calls walk all experts of three copies (1 GB)
        gus.push_back(pack_q4_0_vnni_gate_up(g.data(), u.data(), E, F, K, ex));
        dns.push_back(pack_q4_0_vnni_experts(d.data(), E, K, F, ex));
    }
    const auto cache = amxmm_bench::detect_cache();
    const auto dram = amxmm_bench::probe_dram_read(16, cache, false);
    std::printf("DRAM probe %.1f GB/s (LLC %zu B)\n", dram.bytes_per_s / 1e9, cache.total_bytes);
    // fork/join of an empty parallel_for
    for (long tasks : {16L, 64L}) {
        std::vector<double> t;
        for (int i = 0; i < 2000; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            ex.parallel_for(tasks, [](std::int64_t) {});
            t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(t.begin(), t.end());
        std::printf("empty parallel_for(%ld): median %.2f us, p10 %.2f us\n", tasks, t[t.size() / 2] * 1e6, t[t.size() / 10] * 1e6);
    }
    const char* names[] = {"validate+plan", "group", "prepare", "gate+up", "down", "slot sum"};
    for (long m : {1L, 4L})
        for (int cold : {0, 1}) {
            std::vector<float> x(m * K), y(m * K), w(m * top, 0.125f);
            std::mt19937_64 r(9);
            for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(r);
            std::vector<std::int32_t> ids(m * top);
            long call = 0;
            std::vector<double> tot;
            auto run = [&] {
                for (long i = 0; i < m * top; ++i) ids[i] = std::int32_t(((cold ? call : 0) * m * top + i) % E);
                moe_routing rt{m, top, ids.data(), top};
                const long copy = cold ? (call * m * top / E) % 3 : 0;
                auto& gu = gus[copy]; auto& dn = dns[copy];
                auto t0 = std::chrono::steady_clock::now();
                ++call;
                moe_ffn(gu.view(), dn.view(), rt, w.data(), top, x.data(), K, y.data(), K, moe_ffn_options{}, ex);
                return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            };
            for (int i = 0; i < 50; ++i) run();
            std::fill(std::begin(amxmm_ph_acc), std::end(amxmm_ph_acc), 0.0);
            std::fill(std::begin(amxmm_fork_acc), std::end(amxmm_fork_acc), 0.0);
            std::fill(std::begin(amxmm_join_acc), std::end(amxmm_join_acc), 0.0);
            for (auto& b : amxmm_busy_ns) b = 0;
            for (int i = 0; i < 8; ++i) amxmm_thr_first_sum[i] = 0, amxmm_thr_first_max[i] = 0, amxmm_thr_count[i] = 0;
            amxmm_ph_calls = 0;
            const int calls = 400;
            for (int i = 0; i < calls; ++i) tot.push_back(run());
            std::sort(tot.begin(), tot.end());
            double mean = 0; for (double v : tot) mean += v; mean /= calls;
            const double bytes = double(m * top) * (2 * F * K + K * F) * 18 / 32;  // upper bound: distinct experts
            std::printf("moe_ffn M%ld %s: mean %.1f us, median %.1f, p10 %.1f | weights %.1f MB -> mean %.0f GB/s (%.0f%% of probe), median %.0f%%\n",
                        m, cold ? "cold" : "hot ", mean * 1e6, tot[calls / 2] * 1e6, tot[calls / 10] * 1e6, bytes / 1e6,
                        bytes / mean / 1e9, 100 * bytes / mean / dram.bytes_per_s, 100 * bytes / tot[calls / 2] / dram.bytes_per_s);
            std::printf("   phases (mean us):");
            for (int i = 0; i < 6; ++i) std::printf(" %s %.1f |", names[i], amxmm_ph_acc[i] / amxmm_ph_calls * 1e6);
            const double gub = double(m * top) * 2 * F * K * 18 / 32, db = double(m * top) * K * F * 18 / 32;
            std::printf("  gate+up %.0f GB/s, down %.0f GB/s\n", gub / (amxmm_ph_acc[3] / amxmm_ph_calls) / 1e9,
                        db / (amxmm_ph_acc[4] / amxmm_ph_calls) / 1e9);
            for (int i : {3, 4})
                std::printf("   %s: fork %.1f us, join %.1f us, busy/(16 x phase) %.0f%%\n", names[i], amxmm_fork_acc[i] / amxmm_ph_calls * 1e6,
                            amxmm_join_acc[i] / amxmm_ph_calls * 1e6, 100.0 * amxmm_busy_ns[i].load() * 1e-9 / (16 * amxmm_ph_acc[i]));
            for (int i : {3, 4})
                std::printf("   %s: threads per call %.1f, their first task starts after %.1f us (mean), max over run %.1f us\n", names[i],
                            double(amxmm_thr_count[i].load()) / amxmm_ph_calls, amxmm_thr_first_sum[i].load() * 1e-3 / std::max(1LL, amxmm_thr_count[i].load()),
                            amxmm_thr_first_max[i].load() * 1e-3);
        }
}
