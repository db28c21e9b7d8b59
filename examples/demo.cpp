// amxmm demo: one Qwen3-30B-A3B-shaped projection (K = 2048, N = 4096) in GGUF Q4_0.
//
// Quantizes random weights with the reference quantizer, packs them into the q4_0_vnni layout, runs
// the product on the best back end of this machine in both compute modes, checks the results against
// the scalar oracles, and prints the ISA chosen (and why), the error, the throughput and its share of
// this machine's register-only peak for that mode, measured here (the probes of bench/).
//
//   amxmm_demo [M] [threads]        (defaults: M = 512, threads = all)
#include <amxmm/amxmm.hpp>

#include "../bench/limits_probes.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) try {
    const std::int64_t K = 2048, N = 4096;
    const std::int64_t M = argc > 1 ? std::atoll(argv[1]) : 512;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
    if (M <= 0) {
        std::fprintf(stderr, "usage: %s [M > 0] [threads]\n", argv[0]);
        return 2;
    }
    std::printf("amxmm %s — Y (%lld x %lld) = X (%lld x %lld) · Wᵀ, W Q4_0 (%lld x %lld)\n", amxmm::version_string(),
                (long long)M, (long long)N, (long long)M, (long long)K, (long long)N, (long long)K);
    std::printf("cpu: %s\n", amxmm::to_string(amxmm::detected_cpu_features()).c_str());

    // Synthetic weights and activations, quantized by the GGUF-exact reference quantizer.
    std::mt19937_64 rng(2026);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w_f32(static_cast<std::size_t>(N * K)), x(static_cast<std::size_t>(M * K));
    for (float& v : w_f32) v = normal(rng) * 0.02f;
    for (float& v : x) v = normal(rng);
    const std::vector<amxmm::block_q4_0> w_q4 = amxmm::quantize_q4_0(w_f32.data(), N, K, K);
    const amxmm::q4_0_matrix_view w{w_q4.data(), N, K};

    amxmm::tbb_executor ex(threads);
    auto t0 = std::chrono::steady_clock::now();
    const amxmm::packed_q4_0_vnni packed = amxmm::pack_q4_0_vnni(w, ex);
    const double pack_s = seconds_since(t0);
    std::printf("packed %lld x %lld into q4_0_vnni v%u: %.2f MiB (%.3f%% padding) in %.1f ms, %d threads\n",
                (long long)N, (long long)K, amxmm::q4_0_vnni_layout::version, packed.size_bytes() / 1048576.0,
                100.0 * packed.layout().padding_fraction(), pack_s * 1e3, ex.concurrency());

    // The scalar oracles are slow: check every row for small M, else 32 rows spread over M.
    std::vector<std::int64_t> rows;
    for (std::int64_t i = 0; i < M; i += (M <= 64 ? 1 : M / 32)) rows.push_back(i);
    if (rows.back() != M - 1) rows.push_back(M - 1);
    std::printf("computing the oracles (scalar, fp64 and exact) on %zu of the %lld rows ...\n", rows.size(), (long long)M);
    std::vector<double> y_fp64(rows.size() * N);
    std::vector<float> y_exact_ref(rows.size() * N);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        amxmm::reference_gemm_fp64(1, x.data() + rows[r] * K, K, w, y_fp64.data() + r * N, N);
        amxmm::reference_gemm_exact(1, x.data() + rows[r] * K, K, w, y_exact_ref.data() + r * N, N);
    }

    for (amxmm::compute_mode mode : {amxmm::compute_mode::exact, amxmm::compute_mode::fast}) {
        amxmm::gemm_options opt;
        opt.mode = mode;
        std::vector<float> y(static_cast<std::size_t>(M * N));
        const amxmm::gemm_plan plan = amxmm::gemm_q4_0(packed.view(), M, x.data(), K, y.data(), N, opt, ex);

        double max_abs_fp64 = 0, ref_scale = 0, max_abs_exact_ref = 0;
        for (std::size_t r = 0; r < rows.size(); ++r)
            for (std::int64_t n = 0; n < N; ++n) {
                const float got = y[rows[r] * N + n];
                max_abs_fp64 = std::max(max_abs_fp64, std::fabs(got - y_fp64[r * N + n]));
                ref_scale = std::max(ref_scale, std::fabs(y_fp64[r * N + n]));
                max_abs_exact_ref = std::max(max_abs_exact_ref, double(std::fabs(got - y_exact_ref[r * N + n])));
            }
        // Throughput: repeat until ~0.5 s has passed (the first call above warmed everything up).
        int reps = 0;
        t0 = std::chrono::steady_clock::now();
        do {
            amxmm::gemm_q4_0(packed.view(), M, x.data(), K, y.data(), N, opt, ex);
            ++reps;
        } while (seconds_since(t0) < 0.5);
        const double per_call = seconds_since(t0) / reps;

        std::printf("\nmode %-5s on %s\n  why: %s\n", amxmm::to_string(plan.mode), amxmm::to_string(plan.backend),
                    plan.reason.c_str());
        std::printf("  max |y - fp64 oracle| = %.3g (largest |y| %.3g)\n", max_abs_fp64, ref_scale);
        if (mode == amxmm::compute_mode::exact)
            std::printf("  max |y - exact oracle| = %.3g (exact mode is bitwise equal to its oracle)\n",
                        max_abs_exact_ref);
        const double rate = 2.0 * M * N * K / per_call;
        std::printf("  %.3f ms per call, %.1f GFLOP/s-equivalent (2·M·N·K / time; not a benchmark: see bench/)\n",
                    per_call * 1e3, rate * 1e-9);
        // The limit this path can reach: the AMX peak of the mode's instruction, else the VNNI peak.
        const int probe_threads = ex.concurrency();
        amxmm_bench::peak_result peak;
        const char* peak_name = "";
        if (plan.backend == amxmm::isa::amx) {
            const bool bf16 = plan.mode == amxmm::compute_mode::fast;
            peak = amxmm_bench::probe_amx(bf16, probe_threads);
            peak_name = bf16 ? "AMX bf16 (TDPBF16PS)" : "AMX int8 (TDPBSSD)";
        } else if (plan.backend == amxmm::isa::avx512_vnni) {
            peak = amxmm_bench::probe_avx512_vnni(probe_threads);
            peak_name = "AVX-512 VNNI (VPDPBUSD)";
        }
        if (peak.available && peak.ops_per_s > 0)
            std::printf("  = %.1f%% of this machine's %s register-only peak, %.1f TOP/s on %d threads, measured now\n",
                        100.0 * rate / peak.ops_per_s, peak_name, peak.ops_per_s * 1e-12, probe_threads);
    }
    return 0;
} catch (const amxmm::error& e) {
    std::fprintf(stderr, "amxmm error: %s\n", e.what());
    return 1;
}
