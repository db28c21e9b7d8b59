// One thread: fast_columns' rate with its A operand in L1 (one row group, the same blocks every call) against A
// streamed from L2 (8 or 16 row groups), B pre-expanded in L1 either way. GFLOP/s, best of 5 x 0.2 s.
#include <amxmm/amxmm.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
using namespace amxmm;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main(int argc, char** argv) {
    if (!isa_supported(isa::amx)) { std::printf("no amx\n"); return 0; }
    const long K = 2048, N = 64, M = 512;
    std::mt19937_64 g(1);
    std::vector<block_q4_0> w(N * K / 32);
    for (auto& b : w) { b.d = fp32_to_fp16(0.01f); for (auto& q : b.qs) q = uint8_t(g()); }
    auto p = pack_q4_0_vnni({w.data(), N, K});
    std::vector<float> x(M * K), c((M / 32) * 1024 + 16);
    for (auto& v : x) v = (g() % 1000) / 500.f - 1;
    serial_executor ex;
    auto a = detail::prepare_fast(isa::amx, M, x.data(), K, K, ex);
    std::vector<uint8_t> bx(64 * 2048 + 64);
    uint8_t* be = (uint8_t*)(((uintptr_t)bx.data() + 63) & ~63ul);
    for (long kc : {4L, 8L, 12L}) {
        detail::amx_hw::expand_columns_bf16(p.view(), 0, 2, 0, kc, be);
        for (long groups : {1L, 2L, 4L, 8L, 16L}) {
            detail::amx_hw::scoped_tile_context ctx(fast_mode_tile_config());
            double best = 0;
            for (int r = 0; r < 5; ++r) {
                long calls = 0; double t0 = now();
                while (now() - t0 < 0.2) {
                    for (int i = 0; i < 64; ++i) detail::amx_hw::fast_columns(a, be, 0, kc, 0, groups, c.data(), false);
                    calls += 64;
                }
                best = std::max(best, 2.0 * 32 * groups * 32 * 32 * kc * calls / (now() - t0));
            }
            std::printf("kc %2ld  row groups %2ld (A %4ld KiB)  %6.1f GFLOP/s\n", kc, groups, groups * kc * 2, best * 1e-9);
        }
    }
}
