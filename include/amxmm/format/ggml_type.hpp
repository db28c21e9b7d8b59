// ggml tensor types as numbered in GGUF files, with their block geometry. amxmm computes with Q4_0
// (weights) and Q8_0 (activations in `exact` mode); every other type is known only so that files
// holding it can be sized and described correctly.
#pragma once

#include <cstdint>
#include <string_view>

#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN

enum class ggml_type : std::uint32_t {
    f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
    q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
    iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
    iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

/// Elements per block and bytes per block of a ggml type; {0, 0, ""} for numbers that are not types.
struct ggml_type_traits {
    std::uint32_t block_elements;
    std::uint32_t block_bytes;
    std::string_view name;
};

constexpr ggml_type_traits traits_of(ggml_type t) noexcept {
    switch (t) {
        case ggml_type::f32: return {1, 4, "f32"};
        case ggml_type::f16: return {1, 2, "f16"};
        case ggml_type::q4_0: return {32, 18, "q4_0"};
        case ggml_type::q4_1: return {32, 20, "q4_1"};
        case ggml_type::q5_0: return {32, 22, "q5_0"};
        case ggml_type::q5_1: return {32, 24, "q5_1"};
        case ggml_type::q8_0: return {32, 34, "q8_0"};
        case ggml_type::q8_1: return {32, 36, "q8_1"};
        case ggml_type::q2_k: return {256, 84, "q2_K"};
        case ggml_type::q3_k: return {256, 110, "q3_K"};
        case ggml_type::q4_k: return {256, 144, "q4_K"};
        case ggml_type::q5_k: return {256, 176, "q5_K"};
        case ggml_type::q6_k: return {256, 210, "q6_K"};
        case ggml_type::q8_k: return {256, 292, "q8_K"};
        case ggml_type::iq2_xxs: return {256, 66, "iq2_xxs"};
        case ggml_type::iq2_xs: return {256, 74, "iq2_xs"};
        case ggml_type::iq3_xxs: return {256, 98, "iq3_xxs"};
        case ggml_type::iq1_s: return {256, 50, "iq1_s"};
        case ggml_type::iq4_nl: return {32, 18, "iq4_nl"};
        case ggml_type::iq3_s: return {256, 110, "iq3_s"};
        case ggml_type::iq2_s: return {256, 82, "iq2_s"};
        case ggml_type::iq4_xs: return {256, 136, "iq4_xs"};
        case ggml_type::i8: return {1, 1, "i8"};
        case ggml_type::i16: return {1, 2, "i16"};
        case ggml_type::i32: return {1, 4, "i32"};
        case ggml_type::i64: return {1, 8, "i64"};
        case ggml_type::f64: return {1, 8, "f64"};
        case ggml_type::iq1_m: return {256, 56, "iq1_m"};
        case ggml_type::bf16: return {1, 2, "bf16"};
        case ggml_type::tq1_0: return {256, 54, "tq1_0"};
        case ggml_type::tq2_0: return {256, 66, "tq2_0"};
        case ggml_type::mxfp4: return {32, 17, "mxfp4"};
    }
    return {0, 0, ""};
}

/// True when `raw` (as read from a file) names a type in the table above.
constexpr bool is_known_ggml_type(std::uint32_t raw) noexcept {
    return traits_of(static_cast<ggml_type>(raw)).block_elements != 0;
}

AMXMM_NAMESPACE_END
