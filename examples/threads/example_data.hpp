// Shared by the examples/threads programs: a random Q4_0 weight (quantized by amxmm's GGUF-exact
// reference quantizer, as a GGUF file would hold it), random activations, and a bitwise comparison.
#pragma once

#include <amxmm/amxmm.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace example {

/// rows × k floats ~ N(0, scale²), quantized to rows × k/32 GGUF Q4_0 blocks.
inline std::vector<amxmm::block_q4_0> random_q4_0(std::int64_t rows, std::int64_t k, std::uint64_t seed,
                                                  float scale = 0.02f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> w(static_cast<std::size_t>(rows * k));
    for (float& v : w) v = normal(rng);
    return amxmm::quantize_q4_0(w.data(), rows, k, k);
}

inline std::vector<float> random_activations(std::int64_t m, std::int64_t k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(m * k));
    for (float& v : x) v = normal(rng);
    return x;
}

/// Prints whether `got` has the same bits as `want`; returns true when it does.
inline bool report_bitwise(const char* what, const std::vector<float>& got, const std::vector<float>& want) {
    const bool same = got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0;
    std::printf("  %-44s %s\n", what, same ? "matches the serial call bitwise" : "DIFFERS from the serial call");
    return same;
}

}  // namespace example
