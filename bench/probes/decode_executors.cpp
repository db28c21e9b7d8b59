// amxmm_probe_decode_executors (bench/probes): see bench/RESULTS.md, "Decode: the time around the kernels".
// One-token decode calls — moe_ffn on a Qwen3-30B-A3B expert layer (8 active experts, 21 MB) and a dense
// K=2048 N=4096 gemm (4.7 MB), exact mode — under three executors: tbb_executor, caller_threads_executor
// (the library's caller_threads_sync) on a pool of spinning threads like an engine's, and the same pool
// with a plain spinning barrier of this probe's (a lower bound for the barrier's cost). Prints the median
// call time and the median time of each parallel phase as thread 0 sees it (a timing executor wrapper).
// Cold: the call cycles through copies of the weights (> 4 x a 300 MiB LLC). Usage: [threads] [copies]
// [tbb-only: 1]. Needs oneTBB.
#include <amxmm/amxmm.hpp>
#include <immintrin.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>
using namespace amxmm;
#if defined(AMXMM_HAVE_TBB)
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// The probe's own shared words each get a cache line, so that where the heap or the stack places them
// cannot move the rows (session 21, run f: an unused 1 KiB allocation in the library's sync moved the
// library-barrier row's last phase by ~0.6 µs with the words unpadded; bench/RESULTS.md).
struct alignas(64) spin_sync {
    int nth;
    alignas(64) std::atomic<int> arrived{0};
    alignas(64) std::atomic<std::uint64_t> gen{0};
    void wait() {
        const std::uint64_t g = gen.load(std::memory_order_acquire);
        if (arrived.fetch_add(1, std::memory_order_acq_rel) == nth - 1) {
            arrived.store(0, std::memory_order_relaxed);
            gen.fetch_add(1, std::memory_order_release);
        } else {
            while (gen.load(std::memory_order_acquire) == g) _mm_pause();
        }
    }
};
struct spin_ex {
    int ith, nth;
    spin_sync* s;
    static constexpr bool every_caller_runs = true;
    template <class Fn> void parallel_for(std::int64_t count, Fn&& fn) {
        for (std::int64_t i = ith; i < count; i += nth) fn(i);
        s->wait();
    }
};
template <class Ex> struct timed {  // times each parallel_for on the thread that owns it
    Ex ex;
    std::vector<double>* t;
    static constexpr bool every_caller_runs = detail::every_caller_runs<Ex>::value;
    template <class Fn> void parallel_for(std::int64_t count, Fn&& fn) {
        const double t0 = now();
        ex.parallel_for(count, fn);
        if (t) t->push_back(now() - t0);
    }
};
struct pool {  // spinning worker threads, like an engine's
    int nth;
    std::vector<std::thread> th;
    alignas(64) std::atomic<std::uint64_t> go{0};
    alignas(64) std::atomic<int> done{0};
    alignas(64) std::function<void(int)> job;
    alignas(64) std::atomic<bool> stop{false};
    explicit pool(int n) : nth(n) {
        for (int i = 1; i < n; ++i)
            th.emplace_back([this, i] {
                std::uint64_t seen = 0;
                for (;;) {
                    while (go.load(std::memory_order_acquire) == seen) _mm_pause();
                    seen = go.load(std::memory_order_acquire);
                    if (stop) return;
                    job(i);
                    done.fetch_add(1, std::memory_order_release);
                }
            });
    }
    void run(std::function<void(int)> f) {
        job = std::move(f);
        done = 0;
        go.fetch_add(1, std::memory_order_release);
        job(0);
        while (done.load(std::memory_order_acquire) != nth - 1) _mm_pause();
    }
    ~pool() { stop = true; go.fetch_add(1); for (auto& t : th) t.join(); }
};
static std::vector<block_q4_0> rand_blocks(std::size_t n, std::uint64_t seed) {
    std::vector<block_q4_0> q(n);
    std::mt19937_64 rng(seed);
    for (auto& b : q) { b.d = fp32_to_fp16(0.01f); std::uint64_t lo = rng(), hi = rng(); std::memcpy(b.qs, &lo, 8); std::memcpy(b.qs + 8, &hi, 8); }
    return q;
}
static double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v.empty() ? 0 : v[v.size() / 2] * 1e6; }
int main(int argc, char** argv) {
    const int nth = argc > 1 ? std::atoi(argv[1]) : 16, copies = argc > 2 ? std::atoi(argv[2]) : 64;
    const long E = 8, F = 768, K = 2048, top_k = 8;
    auto g = rand_blocks(E * F * K / 32, 1), u = rand_blocks(E * F * K / 32, 2), d = rand_blocks(E * K * F / 32, 3);
    packed_q4_0_vnni_gate_up gu = pack_q4_0_vnni_gate_up(g.data(), u.data(), E, F, K);
    packed_q4_0_vnni_experts dn = pack_q4_0_vnni_experts(d.data(), E, K, F);
    std::vector<aligned_buffer> rgu, rdn;
    for (int c = 0; c < copies; ++c) {
        rgu.emplace_back(gu.size_bytes()); std::memcpy(rgu.back().data(), gu.view().fused.data, gu.size_bytes());
        rdn.emplace_back(dn.size_bytes()); std::memcpy(rdn.back().data(), dn.view().data, dn.size_bytes());
    }
    const long DK = 2048, DN = 4096;
    auto dq = rand_blocks(DN * DK / 32, 4);
    packed_q4_0_vnni dw = pack_q4_0_vnni(q4_0_matrix_view{dq.data(), DN, DK});
    const int dcopies = 300;  // 300 x 4.7 MB > 4 x LLC
    std::vector<aligned_buffer> rdw;
    for (int c = 0; c < dcopies; ++c) { rdw.emplace_back(dw.view().layout.total_bytes()); std::memcpy(rdw.back().data(), dw.view().data, dw.view().layout.total_bytes()); }
    std::vector<std::int32_t> ids(top_k);
    for (int s = 0; s < top_k; ++s) ids[s] = s;
    std::vector<float> w(top_k, 0.125f), x(K), y(K), dy(DN);
    for (long i = 0; i < K; ++i) x[i] = std::sin(0.1 * i);
    moe_routing r{1, top_k, ids.data(), top_k};
    aligned_buffer ws(std::max(moe_ffn_workspace_bytes(1, top_k, E, K, F), gemm_workspace_bytes(1, DK)));
    const double bytes = double(gu.size_bytes() + dn.size_bytes());
    tbb_executor tex(nth);
    std::unique_ptr<pool> Pp;  // created after the oneTBB runs: its spinning threads would take their cores
    caller_threads_sync csync(nth);
    spin_sync ssync{nth};
    const int whiches = argc > 3 && std::atoi(argv[3]) == 1 ? 1 : 3;
    for (int which = 0; which < whiches; ++which) {
        if (which == 1) Pp = std::make_unique<pool>(nth);
        pool* P = Pp.get();
        const char* name = which == 0 ? "tbb" : which == 1 ? "caller_threads (library barrier)" : "caller_threads (spin barrier)";
        for (int op = 0; op < 2; ++op)
            for (bool cold : {false, true}) {
                std::vector<double> total;
                std::vector<std::vector<double>> phase;
                for (int it = 0; it < 420; ++it) {
                    const int c = cold ? it % (op == 0 ? copies : dcopies) : 0;
                    std::vector<double> t;
                    t.reserve(16);  // no reallocation between the phases thread 0 times
                    moe_ffn_options o;
                    o.mode = compute_mode::exact;
                    o.workspace = ws.data();
                    o.workspace_bytes = ws.size();
                    auto call = [&](auto&& ex) {
                        if (op == 0) {
                            packed_q4_0_vnni_gate_up_view gv{gu.view()};
                            gv.fused.data = rgu[c].data();
                            packed_q4_0_vnni_experts_view dv = dn.view();
                            dv.data = rdn[c].data();
                            moe_ffn(gv, dv, r, w.data(), top_k, x.data(), K, y.data(), K, o, ex);
                        } else {
                            packed_q4_0_vnni_view v = dw.view();
                            v.data = rdw[c].data();
                            gemm_q4_0(v, 1, x.data(), DK, dy.data(), DN, o, ex);
                        }
                    };
                    const double t0 = now();
                    if (which == 0) call(timed<tbb_executor&>{tex, &t});
                    else if (which == 1) P->run([&](int i) { call(timed<caller_threads_executor>{{i, nth, &csync}, i == 0 ? &t : nullptr}); });
                    else P->run([&](int i) { call(timed<spin_ex>{{i, nth, &ssync}, i == 0 ? &t : nullptr}); });
                    const double tt = now() - t0;
                    if (it < 20) continue;
                    total.push_back(tt);
                    if (phase.size() < t.size()) phase.resize(t.size());
                    for (std::size_t i = 0; i < t.size(); ++i) phase[i].push_back(t[i]);
                }
                std::printf("%-34s %s %s: %7.1f us (%5.1f GB/s) | phases", name, op == 0 ? "moe_ffn qwen3 M1" : "gemm K2048 N4096 M1",
                            cold ? "cold" : "hot ", med(total), (op == 0 ? bytes : double(dw.view().layout.total_bytes())) / med(total) / 1e3);
                for (auto& p : phase) std::printf(" %.1f", med(p));
                std::printf("\n");
                std::fflush(stdout);
            }
    }
}
#else
int main() { std::puts("amxmm_probe_decode_executors: needs oneTBB"); }
#endif
