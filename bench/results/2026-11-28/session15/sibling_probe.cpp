// Which vCPUs share a physical core? Two threads pinned to CPUs (0, j) each run a register-only AVX-512
// FMA loop (and, separately, a register-only AMX TDPBF16PS loop); a pair that shares a core's ports (or
// its tile unit) runs each thread at about half the rate of a pair on separate cores.
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <thread>
#include <vector>

static void pin(int cpu) {
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
__attribute__((target("avx512f"))) static double fma_loop(double seconds) {
    __m512 a[12]; for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-7f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    long iters = 0; auto t0 = std::chrono::steady_clock::now(); double el = 0;
    do {
        for (int r = 0; r < 1000; ++r)
            for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
        iters += 1000; el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (el < seconds);
    float s = 0; for (int i = 0; i < 12; ++i) s += _mm512_reduce_add_ps(a[i]);
    volatile float sink = s; (void)sink;
    return iters * 12.0 * 16 * 2 / el;  // flop/s
}
struct alignas(64) tilecfg { uint8_t palette, start; uint8_t r[14]; uint16_t colsb[16]; uint8_t rows[16]; };
__attribute__((target("amx-tile,amx-bf16"))) static double amx_loop(double seconds) {
    tilecfg cfg{}; cfg.palette = 1;
    for (int t = 0; t < 8; ++t) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    _tile_loadconfig(&cfg);
    alignas(64) static thread_local uint16_t buf[16 * 32];
    for (auto& v : buf) v = 0x3f80;
    _tile_loadd(4, buf, 64); _tile_loadd(5, buf, 64); _tile_loadd(6, buf, 64); _tile_loadd(7, buf, 64);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    long iters = 0; auto t0 = std::chrono::steady_clock::now(); double el = 0;
    do {
        for (int r = 0; r < 1000; ++r) {
            _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        }
        iters += 1000; el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (el < seconds);
    _tile_release();
    return iters * 4.0 * 16 * 16 * 32 * 2 / el;
}
int main() {
    const bool amx = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
    const int n = std::thread::hardware_concurrency();
    for (int kind = 0; kind < (amx ? 2 : 1); ++kind) {
        const char* name = kind ? "AMX bf16 TFLOP/s" : "AVX-512 FMA GFLOP/s";
        auto run = [&](int cpu) { pin(cpu); return kind ? amx_loop(0.25) * 1e-12 : fma_loop(0.25) * 1e-9; };
        double r1 = 0; { std::thread t([&] { r1 = run(0); }); t.join(); }
        std::printf("%s: cpu 0 alone %.2f\n", name, r1);
        for (int j = 1; j < n; ++j) {
            double a = 0, b = 0;
            std::thread ta([&] { a = run(0); }), tb([&] { b = run(j); });
            ta.join(); tb.join();
            std::printf("%s: pair (0, %2d): %.2f + %.2f  (per thread / alone: %.2f)\n", name, j, a, b, (a + b) / 2 / r1);
        }
        // all n threads at once
        std::vector<double> r(n); std::vector<std::thread> ts;
        for (int j = 0; j < n; ++j) ts.emplace_back([&, j] { r[j] = run(j); });
        double sum = 0; for (auto& t : ts) t.join(); for (double v : r) sum += v;
        std::printf("%s: all %d threads: %.2f in all, %.2f per thread (%.2f of alone)\n", name, n, sum, sum / n, sum / n / r1);
    }
}
