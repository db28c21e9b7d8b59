// Shared helpers for the kernel tests: random GGUF weights and activations, and the back ends to run.
#pragma once

#include <amxmm/amxmm.hpp>

#include <cstdint>
#include <random>
#include <exception>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

namespace amxmm_test {

/// A random Q4_0 weight (N × K) quantized from Gaussian floats with the reference quantizer.
struct random_weight {
    std::int64_t n, k;
    std::vector<amxmm::block_q4_0> blocks;
    amxmm::q4_0_matrix_view view() const { return {blocks.data(), n, k}; }
};

inline random_weight make_weight(std::int64_t n, std::int64_t k, std::mt19937_64& rng, float scale = 1.0f) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> w(static_cast<std::size_t>(n * k));
    for (auto& v : w) v = nd(rng);
    return {n, k, amxmm::quantize_q4_0(w.data(), n, k, k)};
}

inline std::vector<float> make_activations(std::int64_t m, std::int64_t ld, std::mt19937_64& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(m * ld));
    for (auto& v : x) v = nd(rng);
    return x;
}

/// Every back end this machine runs (amx_emulated always included), best first.
inline const std::vector<amxmm::isa>& kernel_backends() {
    static const std::vector<amxmm::isa> list = amxmm::supported_isas();
    return list;
}

inline std::string backend_names() {
    std::ostringstream os;
    for (auto i : kernel_backends()) os << amxmm::to_string(i) << ' ';
    return os.str();
}

/// Bound on |fp32 sum - exact sum| for a K-term dot product in any order: K·u·Σ|terms| (u = 2^-24),
/// plus a few units for the flushing of denormal partial sums.
inline double fp32_sum_bound(std::int64_t k, double abs_sum) { return (double(k) + 2.0) * 0x1p-24 * abs_sum + 1e-30; }

/// Runs body(ith) on nth new threads and collects what each threw (empty string: nothing).
template <class Body>
std::vector<std::string> on_threads(int nth, Body body) {
    std::vector<std::string> errors(nth);
    std::vector<std::thread> threads;
    for (int t = 0; t < nth; ++t)
        threads.emplace_back([&, t] {
            try {
                body(t);
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    for (auto& th : threads) th.join();
    return errors;
}

}  // namespace amxmm_test
