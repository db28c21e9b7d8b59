// amxmm_probe_amx_thread_scaling (bench/probes): see bench/RESULTS.md, "Where the large-M time goes".
// Where does per-core AMX fast-mode throughput go when all cores run? Per-thread rates at 1..16 threads,
// each thread on PRIVATE data (no sharing): (a) register-only TDPBF16PS, (b) fast_columns with B
// pre-expanded (A from L2), (c) B expansion only, (d) run_block_task (expansion + products), and
// (e) the real gemm_q4_0 2048x4096x2048 fast on a tbb_executor of nt threads.
#include <amxmm/amxmm.hpp>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <thread>
#include <vector>
using namespace amxmm;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

AMXMM_TARGET_AMX static double reg_peak(double secs) {
    using T = detail::amx_tiles;
    T::load_config(fast_mode_tile_config());
    alignas(64) static thread_local char buf[1024] = {};
    T::load<4>(buf, 64); T::load<5>(buf, 64); T::load<6>(buf, 64); T::load<7>(buf, 64);
    T::zero<0>(); T::zero<1>(); T::zero<2>(); T::zero<3>();
    long iters = 0; double t0 = now();
    while (now() - t0 < secs) {
        for (int i = 0; i < 10000; ++i) { T::dp_bf16<0, 4, 6>(); T::dp_bf16<1, 4, 7>(); T::dp_bf16<2, 5, 6>(); T::dp_bf16<3, 5, 7>(); }
        iters += 10000;
    }
    double t = now() - t0; T::release();
    return 4.0 * iters * 16384 / t;
}

struct private_data {
    long K = 2048, N = 512, M = 256;
    packed_q4_0_vnni p;
    std::vector<float> x, y, c;
    std::vector<uint8_t> bx;
    uint8_t* be = nullptr;
    prepared_fast a;
    private_data(int seed) {
        std::mt19937_64 g(seed);
        std::vector<block_q4_0> w(N * K / 32);
        for (auto& b : w) { b.d = fp32_to_fp16(0.01f); for (auto& q : b.qs) q = uint8_t(g()); }
        p = pack_q4_0_vnni({w.data(), N, K});
        x.resize(M * K); y.resize(M * N); c.resize((M / 32) * (N / 32) * 1024 + 16);
        for (auto& v : x) v = (g() % 1000) / 500.f - 1;
        serial_executor ex;
        a = detail::prepare_fast(isa::amx, M, x.data(), K, K, ex);  // in this thread's scratch
        bx.resize(64 * 2048 + 64 * 128 + 64);
        be = (uint8_t*)(((uintptr_t)bx.data() + 63) & ~63ul);
    }
};

static double run_threads(int nt, const std::function<double(int)>& body) {  // returns mean per-thread rate
    std::vector<std::thread> th; std::vector<double> r(nt);
    for (int i = 0; i < nt; ++i) th.emplace_back([&, i] { r[i] = body(i); });
    for (auto& t : th) t.join();
    double s = 0; for (double v : r) s += v; return s / nt;
}

int main() {
    if (!isa_supported(isa::amx)) { printf("no amx\n"); return 0; }
    const int maxt = std::thread::hardware_concurrency();
    const long kc = 12;
    printf("per-thread GFLOP/s (private data): threads | reg-peak | fast_columns(B pre-expanded) | expansion GB/s-out | run_block_task\n");
    for (int nt : {1, 2, 4, 8, 16}) {
        if (nt > maxt) break;
        std::barrier sync(nt);
        double peak = run_threads(nt, [&](int) { sync.arrive_and_wait(); return reg_peak(0.3); });
        double cols = run_threads(nt, [&](int i) {
            private_data d(i + 1);
            const long nb = d.K / 32, groups = d.M / 32;
            detail::amx_hw::expand_columns_bf16(d.p.view(), 0, 2, 0, kc, d.be);
            sync.arrive_and_wait();
            detail::amx_hw::scoped_tile_context ctx(fast_mode_tile_config());
            long calls = 0; double t0 = now();
            while (now() - t0 < 0.3) { for (long kb0 = 0; kb0 < nb; kb0 += kc) detail::amx_hw::fast_columns(d.a, d.be, kb0, std::min(nb, kb0 + kc), 0, groups, d.c.data(), kb0 == 0); ++calls; }
            return 2.0 * d.M * 32 * d.K * calls / (now() - t0);
        });
        double expn = run_threads(nt, [&](int i) {
            private_data d(i + 1);
            const long nb = d.K / 32;
            sync.arrive_and_wait();
            long calls = 0; double t0 = now();
            while (now() - t0 < 0.3) { for (long kb0 = 0; kb0 < nb; kb0 += kc) for (long cb = 0; cb < d.N / 32; ++cb) detail::amx_hw::expand_columns_bf16(d.p.view(), cb * 2, 2, kb0, std::min(nb, kb0 + kc), d.be); ++calls; }
            return double(d.N) * d.K * 2 * calls / (now() - t0);  // bf16 bytes written
        });
        double task = run_threads(nt, [&](int i) {
            private_data d(i + 1);
            const long groups = d.M / 32, cbs = d.N / 32;
            sync.arrive_and_wait();
            long calls = 0; double t0 = now();
            while (now() - t0 < 0.3) { detail::amx_hw::run_block_task(d.p.view(), d.a, 0, groups, 0, cbs, kc, d.be, (float*)(d.be + kc * 2048), d.c.data(), detail::strided_rows{d.y.data(), d.N}); ++calls; }
            return 2.0 * d.M * d.N * d.K * calls / (now() - t0);
        });
        printf("%2d | %7.1f | %7.1f | %7.1f | %7.1f\n", nt, peak * 1e-9, cols * 1e-9, expn * 1e-9, task * 1e-9);
        fflush(stdout);
    }
    // (e) the real driver.
    const long K = 2048, N = 4096, M = 2048;
    std::mt19937_64 g(5);
    std::vector<block_q4_0> w(N * K / 32);
    for (auto& b : w) { b.d = fp32_to_fp16(0.01f); for (auto& q : b.qs) q = uint8_t(g()); }
    std::vector<float> x(M * K), y(M * N);
    for (auto& v : x) v = (g() % 1000) / 500.f - 1;
    for (int nt : {1, 2, 4, 8, 16}) {
        if (nt > maxt) break;
        tbb_executor ex(nt);
        auto p = pack_q4_0_vnni({w.data(), N, K}, ex);
        gemm_options opt; opt.mode = compute_mode::fast;
        gemm_q4_0(p.view(), M, x.data(), K, y.data(), N, opt, ex);
        int reps = 0; double t0 = now();
        while (now() - t0 < 0.5 || reps < 2) { gemm_q4_0(p.view(), M, x.data(), K, y.data(), N, opt, ex); ++reps; }
        double t = (now() - t0) / reps;
        printf("gemm_q4_0 fast 2048x4096x2048, %2d threads: %.2f ms, %.2f TFLOP/s, %.1f GFLOP/s per thread\n", nt, t * 1e3, 2.0 * M * N * K / t * 1e-12, 2.0 * M * N * K / t * 1e-9 / nt);
        fflush(stdout);
    }
}
