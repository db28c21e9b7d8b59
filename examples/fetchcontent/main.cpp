// A FetchContent consumer of amxmm (C++ API): packs a small Q4_0 weight, runs one product and
// checks it against amxmm's scalar oracle of the same arithmetic.
#include <amxmm/amxmm.hpp>

#include <cstdio>
#include <vector>

int main() try {
    const std::int64_t M = 3, N = 64, K = 128;
    std::vector<float> w(std::size_t(N * K)), x(std::size_t(M * K));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(int(i * 7 % 23) - 11) / 64.0f;
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 5 % 17) - 8) / 8.0f;
    const std::vector<amxmm::block_q4_0> blocks = amxmm::quantize_q4_0(w.data(), N, K, K);

    amxmm::tbb_executor ex;
    const amxmm::packed_q4_0_vnni packed = amxmm::pack_q4_0_vnni({blocks.data(), N, K}, ex);
    std::vector<float> y(std::size_t(M * N)), ref(y.size());
    amxmm::gemm_options opt;
    opt.mode = amxmm::compute_mode::exact;
    const amxmm::gemm_plan plan = amxmm::gemm_q4_0(packed.view(), M, x.data(), K, y.data(), N, opt, ex);
    amxmm::reference_gemm_exact(M, x.data(), K, {blocks.data(), N, K}, ref.data(), N);
    const bool same = y == ref;
    std::printf("amxmm %s via FetchContent: %s; exact result %s the oracle\n", amxmm::version_string(),
                plan.reason.c_str(), same ? "equals" : "DIFFERS FROM");
    return same ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
