// amxmm_probe_kernel_block_cost (bench/probes): see bench/RESULTS.md, "Decode at m = 8..16".
// The time gemm_q4_0 spends per unit of work — one Q4_0 block (32 K) × 32 output columns — for m =
// 1, 4, 8, 16 rows, hot weights (packed once, reused), as the minimum over chunks of 5 calls in 0.3 s:
// a per-kernel cost that the shared host's noise inflates far less than a mean does. K = 4096; with no
// thread count, one thread (serial executor) at N = 256 and N = 4096; with one, a tbb_executor of that
// many threads at N = 14336. Usage: [isa = amx] [mode = exact|fast] [threads (0: one, serial)] [m].
#include <amxmm/amxmm.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace amxmm;

int main(int argc, char** argv) {
    const std::string isa_name = argc > 1 ? argv[1] : "amx", mode_name = argc > 2 ? argv[2] : "exact";
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;  // 0: one thread, serial executor
    const std::optional<isa> backend = parse_isa(isa_name);
    if (!backend || !isa_supported(*backend)) {
        std::printf("amxmm_probe_kernel_block_cost: back end '%s' not available here\n", isa_name.c_str());
        return 0;
    }
#if defined(AMXMM_HAVE_TBB)
    tbb_executor pool(threads > 0 ? threads : 1);
#else
    if (threads > 0) {
        std::puts("amxmm_probe_kernel_block_cost: a thread count needs oneTBB");
        return 0;
    }
#endif
    const std::int64_t K = 4096;
    const std::vector<std::int64_t> widths = threads > 0 ? std::vector<std::int64_t>{14336} : std::vector<std::int64_t>{256, 4096};
    for (std::int64_t N : widths) {
        std::mt19937_64 g(1);
        std::vector<block_q4_0> w(std::size_t(N * K / 32));
        for (auto& b : w) {
            b.d = fp32_to_fp16(0.01f);
            for (auto& q : b.qs) q = std::uint8_t(g());
        }
        const packed_q4_0_vnni packed = pack_q4_0_vnni({w.data(), N, K});
        const std::vector<std::int64_t> rows =
            argc > 4 ? std::vector<std::int64_t>{std::atoll(argv[4])} : std::vector<std::int64_t>{1, 4, 8, 16};
        for (std::int64_t M : rows) {
            std::vector<float> x(std::size_t(M * K)), y(std::size_t(M * N));
            for (auto& v : x) v = float(g() % 1000) / 500.0f - 1.0f;
            gemm_options opt;
            opt.force_isa = *backend;
            opt.mode = mode_name == "fast" ? compute_mode::fast : compute_mode::exact;
            auto call = [&] {
#if defined(AMXMM_HAVE_TBB)
                if (threads > 0) {
                    gemm_q4_0(packed.view(), M, x.data(), K, y.data(), N, opt, pool);
                    return;
                }
#endif
                gemm_q4_0(packed.view(), M, x.data(), K, y.data(), N, opt);
            };
            double best = 1e30;
            const auto stop = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
            while (std::chrono::steady_clock::now() < stop) {
                const auto t0 = std::chrono::steady_clock::now();
                for (int i = 0; i < 5; ++i) call();
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
            }
            const double units = double(K / 32) * double(N / 32);
            std::printf("%s %s threads %d N%lld M%lld: %.1f us, %.2f ns per block x 32 columns\n", isa_name.c_str(),
                        mode_name.c_str(), threads > 0 ? threads : 1, static_cast<long long>(N), static_cast<long long>(M),
                        best * 1e6, best * 1e9 / units);
        }
    }
}
