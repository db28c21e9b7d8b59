// TDPBUSD throughput with K = 32 (A 16 x 32 B, B 8 x 64 B: amxmm's exact tiles) against K = 64 (full tiles),
// 4 independent C tiles, register operands only. One thread. Prints cycles-free ns per product and TOP/s.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
struct cfg_t { uint8_t palette, start; uint8_t r[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed));
template <int KB>
__attribute__((target("amx-tile,amx-int8"))) double run(long iters) {
    alignas(64) cfg_t c; std::memset(&c, 0, sizeof c); c.palette = 1;
    for (int t = 0; t < 4; ++t) { c.colsb[t] = 64; c.rows[t] = 16; }   // C
    c.colsb[4] = KB; c.rows[4] = 16; c.colsb[5] = KB; c.rows[5] = 16;  // A
    c.colsb[6] = 64; c.rows[6] = KB / 4; c.colsb[7] = 64; c.rows[7] = KB / 4;  // B
    _tile_loadconfig(&c);
    alignas(64) static uint8_t buf[4096] = {1};
    _tile_loadd(4, buf, 64); _tile_loadd(5, buf, 64); _tile_loadd(6, buf, 64); _tile_loadd(7, buf, 64);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iters; ++i) {
        _tile_dpbusd(0, 4, 6); _tile_dpbusd(1, 4, 7); _tile_dpbusd(2, 5, 6); _tile_dpbusd(3, 5, 7);
    }
    alignas(64) static int32_t out[256];
    _tile_stored(0, out, 64);
    auto t1 = std::chrono::steady_clock::now();
    _tile_release();
    return std::chrono::duration<double>(t1 - t0).count() / (4.0 * iters);
}
int main() {
    syscall(SYS_arch_prctl, 0x1023, 18);
    for (int r = 0; r < 3; ++r) {
        double t32 = run<32>(20000000), t64 = run<64>(20000000);
        std::printf("K=32: %.2f ns/product (%.0f GOP/s)   K=64: %.2f ns/product (%.0f GOP/s)\n", t32 * 1e9,
                    2.0 * 16 * 16 * 32 / t32 * 1e-9, t64 * 1e9, 2.0 * 16 * 16 * 64 / t64 * 1e-9);
    }
}
