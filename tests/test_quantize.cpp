#include "catch_compat.hpp"
#include "error_capture.hpp"

// GGUF blocks, the Q4_0 / Q8_0 reference quantizers and dequantizers, and the ggml type table
// (include/amxmm/format/{blocks,quantize,ggml_type}.hpp). Expected quantizer outputs are derived by hand in
// the comments; random data is checked against error bounds, against re-quantization, and against a
// literal transcription of ggml's quantize_row_q4_0_ref / quantize_row_q8_0_ref.

#include <amxmm/format/blocks.hpp>
#include <amxmm/format/ggml_type.hpp>
#include <amxmm/format/quantize.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using amxmm::block_q4_0;
using amxmm::block_q8_0;

using amxmm_test::caught;
using amxmm_test::catch_error;
using amxmm_test::contains;

// The 4-bit codes (0..15) of a Q4_0 block, element order.
std::array<int, 32> nibbles(const block_q4_0& b) {
    std::array<int, 32> n{};
    for (int j = 0; j < 32; ++j) n[std::size_t(j)] = amxmm::q4_0_element(b, j) + 8;
    return n;
}

block_q4_0 quantize_q4_0_block(const std::array<float, 32>& x) {
    block_q4_0 b;
    amxmm::quantize_row_q4_0_ref(x.data(), &b, 32);
    return b;
}

block_q8_0 quantize_q8_0_block(const std::array<float, 32>& x) {
    block_q8_0 b;
    amxmm::quantize_row_q8_0_ref(x.data(), &b, 32);
    return b;
}

// A product that the compiler may not fuse with a following addition (ggml's C semantics).
float mul_rounded(float a, float b) {
    volatile float p = a * b;
    return p;
}

// ggml's quantize_row_q4_0_ref, transcribed literally (ggml-quants.c); only the fp16 store is amxmm's,
// which tests/test_half.cpp checks against VCVTPS2PH.
void ggml_quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::int64_t k) {
    const int qk = 32;
    const std::int64_t nb = k / qk;
    for (std::int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;  // absolute max
        float max = 0.0f;
        for (int j = 0; j < qk; j++) {
            const float v = x[i * qk + j];
            if (amax < std::fabs(v)) {
                amax = std::fabs(v);
                max = v;
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = amxmm::fp32_to_fp16(d);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = mul_rounded(x[i * qk + 0 + j], id);
            const float x1 = mul_rounded(x[i * qk + qk / 2 + j], id);
            const int t0 = static_cast<int>(x0 + 8.5f);  // finite, in [0, 17) for the data used here
            const int t1 = static_cast<int>(x1 + 8.5f);
            const std::uint8_t xi0 = static_cast<std::uint8_t>(t0 < 15 ? t0 : 15);
            const std::uint8_t xi1 = static_cast<std::uint8_t>(t1 < 15 ? t1 : 15);
            y[i].qs[j] = static_cast<std::uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

// ggml's quantize_row_q8_0_ref, transcribed literally.
void ggml_quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::int64_t k) {
    const std::int64_t nb = k / 32;
    for (std::int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;  // absolute max
        for (int j = 0; j < 32; j++) {
            const float v = x[i * 32 + j];
            amax = std::max(amax, std::fabs(v));
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = amxmm::fp32_to_fp16(d);
        for (int j = 0; j < 32; ++j) {
            const float x0 = x[i * 32 + j] * id;
            y[i].qs[j] = static_cast<std::int8_t>(std::round(x0));
        }
    }
}

// Rows of 32-element blocks, each block Gaussian times its own power-of-two scale in [2^-16, 2^12]
// (fp16 d stays normal or subnormal but nonzero), with some blocks holding ties and exact zeros.
std::vector<float> random_blocks(std::mt19937& rng, std::int64_t n_blocks) {
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_int_distribution<int> scale_exp(-16, 12);
    std::uniform_int_distribution<int> kind(0, 9);
    std::vector<float> x(static_cast<std::size_t>(n_blocks * 32));
    for (std::int64_t b = 0; b < n_blocks; ++b) {
        const float scale = std::ldexp(1.0f, scale_exp(rng));
        const int k = kind(rng);
        for (int j = 0; j < 32; ++j) {
            float v = gauss(rng);
            if (k == 0) v = std::round(v * 8.0f) / 8.0f;      // many exact multiples: ties in x*id + 8.5
            if (k == 1 && j % 3 == 0) v = 0.0f;               // exact zeros
            x[static_cast<std::size_t>(b * 32 + j)] = v * scale;
        }
    }
    return x;
}

bool same_bytes(const void* a, const void* b, std::size_t n) { return std::memcmp(a, b, n) == 0; }

}  // namespace

TEST_CASE("quantize: GGUF block layout", "[quantize]") {
    CHECK(amxmm::block_k == 32);
    CHECK(sizeof(block_q4_0) == 18);
    CHECK(sizeof(block_q8_0) == 34);
    CHECK(offsetof(block_q4_0, d) == 0);
    CHECK(offsetof(block_q4_0, qs) == 2);
    CHECK(offsetof(block_q8_0, d) == 0);
    CHECK(offsetof(block_q8_0, qs) == 2);
    CHECK(alignof(block_q4_0) == 2);
    CHECK(alignof(block_q8_0) == 2);
    CHECK(sizeof(block_q4_0[5]) == 90);  // a row of blocks is packed, 4.5 bits per weight
    CHECK(sizeof(block_q8_0[5]) == 170);

    // Raw GGUF bytes: little-endian fp16 d (1.0 = 0x3c00), then the 16 quant bytes.
    const unsigned char raw[18] = {0x00, 0x3c, 0xf0, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7,
                                   0xf8, 0x09, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f};
    block_q4_0 b;
    std::memcpy(&b, raw, sizeof b);
    CHECK(b.d.bits == 0x3c00);
    CHECK(amxmm::q4_0_element(b, 0) == 0 - 8);    // low nibble of qs[0] = 0x0
    CHECK(amxmm::q4_0_element(b, 16) == 15 - 8);  // high nibble of qs[0] = 0xf
    CHECK(amxmm::q4_0_element(b, 1) == 1 - 8);
    CHECK(amxmm::q4_0_element(b, 17) == 8 - 8);
    CHECK(amxmm::q4_0_element(b, 15) == 0xf - 8);
    CHECK(amxmm::q4_0_element(b, 31) == 0x6 - 8);

    const unsigned char raw8[34] = {0x00, 0xc0, 0x7f, 0x81, 0x00, 0xff};  // d = -2, qs = 127, -127, 0, -1, 0...
    block_q8_0 c;
    std::memcpy(&c, raw8, sizeof c);
    float v[32];
    amxmm::dequantize_row_q8_0(&c, v, 32);
    CHECK(v[0] == -254.0f);
    CHECK(v[1] == 254.0f);
    CHECK(v[2] == 0.0f);
    CHECK(v[3] == 2.0f);
    CHECK(v[31] == 0.0f);
}

TEST_CASE("quantize: q4_0_element nibble order and dequantize_row_q4_0", "[quantize]") {
    // qs[j] = j | (15 - j) << 4: element j (low nibble) is j - 8, element j + 16 (high nibble) is 7 - j.
    block_q4_0 b[2];
    b[0].d = amxmm::fp16{0x3800};  // 0.5
    b[1].d = amxmm::fp16{0xc000};  // -2
    for (int j = 0; j < 16; ++j) {
        b[0].qs[j] = static_cast<std::uint8_t>(j | (15 - j) << 4);
        b[1].qs[j] = static_cast<std::uint8_t>((j * 7) % 16 | ((j * 5 + 3) % 16) << 4);
    }
    for (int j = 0; j < 16; ++j) {
        INFO("j = " << j);
        CHECK(amxmm::q4_0_element(b[0], j) == j - 8);
        CHECK(amxmm::q4_0_element(b[0], j + 16) == 7 - j);
        CHECK(amxmm::q4_0_element(b[1], j) == (j * 7) % 16 - 8);
        CHECK(amxmm::q4_0_element(b[1], j + 16) == (j * 5 + 3) % 16 - 8);
    }
    float y[64];
    amxmm::dequantize_row_q4_0(b, y, 64);
    for (int j = 0; j < 16; ++j) {
        INFO("j = " << j);
        CHECK(y[j] == 0.5f * float(j - 8));
        CHECK(y[j + 16] == 0.5f * float(7 - j));
        CHECK(y[32 + j] == -2.0f * float((j * 7) % 16 - 8));
        CHECK(y[48 + j] == -2.0f * float((j * 5 + 3) % 16 - 8));
    }
    // d * q is exact in fp32 (11-bit d times a 4-bit q), e.g. the largest fp16 times -8.
    block_q4_0 big;
    big.d = amxmm::fp16{0x7bff};  // 65504
    for (auto& q : big.qs) q = 0x70;  // elements 0..15: 0 - 8, elements 16..31: 7 - 8
    amxmm::dequantize_row_q4_0(&big, y, 32);
    CHECK(y[0] == -524032.0f);
    CHECK(y[16] == -65504.0f);
}

TEST_CASE("quantize: Q4_0 reference quantizer, hand-derived cases", "[quantize]") {
    SECTION("all zeros: d = 0.0f / -8 = -0.0 (fp16 0x8000), every code 8 (qs bytes 0x88)") {
        for (float zero : {0.0f, -0.0f}) {
            std::array<float, 32> x;
            x.fill(zero);
            const block_q4_0 b = quantize_q4_0_block(x);
            CHECK(b.d.bits == 0x8000);  // the initial max is +0.0 (|-0| is not > 0): -0 either way
            for (int j = 0; j < 16; ++j) CHECK(int(b.qs[j]) == 0x88);
        }
    }

    SECTION("negative max: d = -4 / -8 = 0.5, id = 2; truncation of x*2 + 8.5, clamping at 15") {
        std::array<float, 32> x{};
        // index: value -> x*id + 8.5 -> code
        x[0] = -4.0f;    // -8 + 8.5 = 0.5 -> 0 (the max)
        x[1] = 1.0f;     // 10.5 -> 10 (truncated; rounding half-even would give 10, away 11)
        x[2] = 1.5f;     // 11.5 -> 11 (rounding would give 12)
        x[3] = -1.5f;    // 5.5 -> 5 (half-even rounding would give 6)
        x[4] = 3.5f;     // 15.5 -> 15
        x[5] = 3.75f;    // 16.0 -> 16 -> clamped to 15
        x[6] = 0.25f;    // 9.0 -> 9
        x[7] = -0.25f;   // 8.0 -> 8
        x[8] = -3.75f;   // 1.0 -> 1
        x[9] = -3.9f;    // 0.7 -> 0
        x[10] = 0.2f;    // 8.9 -> 8
        x[16] = 2.0f;    // 12.5 -> 12
        x[17] = -2.0f;   // 4.5 -> 4
        x[31] = 4.0f;    // same magnitude as x[0], later, opposite sign: 16.5 -> 16 -> 15
        const block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0x3800);  // fp16(0.5)
        const std::array<int, 32> want = {0, 10, 11, 5, 15, 15, 9, 8, 1, 0, 8, 8, 8, 8, 8, 8,
                                          12, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 15};
        CHECK(nibbles(b) == want);
        CHECK(int(b.qs[0]) == 0xc0);  // element 0 low, element 16 high
        CHECK(int(b.qs[15]) == 0xf8);
    }

    SECTION("equal magnitudes with opposite signs: the FIRST one sets the sign of d") {
        std::array<float, 32> x{};
        x[3] = 4.0f;
        x[20] = -4.0f;
        block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0xb800);  // max = +4 -> d = -0.5, id = -2
        CHECK(nibbles(b)[3] == 0);   // 4 * -2 + 8.5 = 0.5 -> 0
        CHECK(nibbles(b)[20] == 15); // -4 * -2 + 8.5 = 16.5 -> 16 -> 15
        x[3] = -4.0f;
        x[20] = 4.0f;
        b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0x3800);  // max = -4 -> d = 0.5
        CHECK(nibbles(b)[3] == 0);
        CHECK(nibbles(b)[20] == 15);
        x[3] = 4.0f;
        x[20] = 4.0f;  // same sign: both map to code 0
        b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0xb800);
        CHECK(nibbles(b)[3] == 0);
        CHECK(nibbles(b)[20] == 0);
        for (int j : {0, 1, 2, 4, 19, 21, 31}) CHECK(nibbles(b)[std::size_t(j)] == 8);
    }

    SECTION("one huge value among small ones") {
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> small(-1.0f, 1.0f);
        std::array<float, 32> x;
        for (auto& v : x) v = small(rng);
        // 4096 at element 7: d = -512 (fp16 0xe000), id = -1/512; others give |x*id| <= 1/512 -> code 8.
        x[7] = 4096.0f;
        block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0xe000);
        for (int j = 0; j < 16; ++j) CHECK(int(b.qs[j]) == (j == 7 ? 0x80 : 0x88));
        // 1e6 at element 23 (high nibble of qs[7]): d = -125000 overflows fp16 and is stored as -inf
        // (ggml does the same); the codes are still computed with the fp32 d.
        x[7] = small(rng);
        x[23] = 1e6f;
        b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0xfc00);
        for (int j = 0; j < 16; ++j) CHECK(int(b.qs[j]) == (j == 7 ? 0x08 : 0x88));
        // The largest d that fits: 8 * 65504 -> d = -65504 (0xfbff).
        x[23] = 524032.0f;
        b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0xfbff);
    }

    SECTION("d is stored as fp16(d) but the codes use the unrounded fp32 d") {
        // max = -(8 + 2^-9) -> d = 1 + 2^-12 (exact in fp32), fp16(d) = 1.0 (0x3c00: 2^-12 is below half
        // an fp16 ulp). id = fl(1 / (1 + 2^-12)) = 1 - 2^-12 + 2^-24.
        // x = 3.5 + 2^-11: x*id = 3.5 - 1.5*2^-12 + 1.5*2^-24 + 2^-35, rounds to 3.5 - 3*2^-13;
        // + 8.5 = 11.99963... -> code 11. With the fp16 d (1.0) it would be trunc(12.0005) = 12.
        std::array<float, 32> x{};
        x[0] = -(8.0f + 0x1p-9f);
        x[1] = 3.5f + 0x1p-11f;
        const block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0x3c00);
        CHECK(nibbles(b)[0] == 0);
        CHECK(nibbles(b)[1] == 11);
        // an fp16 rounding that goes up: max = -8 * (1 + 3*2^-11) -> d = 1 + 3*2^-11, a tie between
        // mantissa 1 (odd) and 2 -> 0x3c02.
        std::array<float, 32> y{};
        y[5] = -8.0f * (1.0f + 3 * 0x1p-11f);
        CHECK(quantize_q4_0_block(y).d.bits == 0x3c02);
    }

    SECTION("the product x*id is rounded to fp32 before 8.5 is added (no FMA)") {
        // max = -(8 + 2^-6) -> d = 1 + 2^-9 (fp16 0x3c02), id = fl(1/d) = 1 - 2^-9 + 2^-18.
        // x = -(7.5 + 15*2^-10) = -7.5 * d: exact x*id = -7.5 * (1 + 2^-27), which rounds to -7.5, so
        // x*id + 8.5 = 1.0 -> code 1. A fused multiply-add would give 1 - 7.5*2^-27 -> 1 - 2^-24 -> code 0.
        std::array<float, 32> x{};
        x[0] = -(8.0f + 0x1p-6f);
        x[1] = -(7.5f + 15 * 0x1p-10f);
        const block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0x3c02);
        CHECK(nibbles(b)[1] == 1);
        const float id = 1.0f / (x[0] / -8.0f);
        CHECK(id == 1.0f - 0x1p-9f + 0x1p-18f);
        CHECK(static_cast<int>(std::fma(x[1], id, 8.5f)) == 0);  // the case tells the two apart
    }

    SECTION("tiny blocks whose 1/d overflows to inf give defined codes, d = 0 in fp16") {
        // max = 1e-39 (an fp32 denormal): d = -1.25e-40, 1/d = -inf, so x*id is +-inf or NaN (0 * inf).
        // ggml's casts compile to CVTTSS2SI on x86, whose "integer indefinite" result has low byte 0.
        std::array<float, 32> x{};
        x[0] = 1e-39f;
        x[1] = -3e-40f;
        const block_q4_0 b = quantize_q4_0_block(x);
        CHECK(b.d.bits == 0x8000);
        for (int j = 0; j < 16; ++j) CHECK(int(b.qs[j]) == 0x00);
        float y[32];
        amxmm::dequantize_row_q4_0(&b, y, 32);
        for (float v : y) CHECK(v == 0.0f);
    }
}

TEST_CASE("quantize: Q8_0 reference quantizer, hand-derived cases", "[quantize]") {
    SECTION("all zeros: d = +0, q = 0") {
        for (float zero : {0.0f, -0.0f}) {
            std::array<float, 32> x;
            x.fill(zero);
            const block_q8_0 b = quantize_q8_0_block(x);
            CHECK(b.d.bits == 0x0000);  // amax = 0 -> 0 / 127 = +0
            for (int j = 0; j < 32; ++j) CHECK(int(b.qs[j]) == 0);
        }
    }
    SECTION("roundf: ties go away from zero") {
        std::array<float, 32> x{};
        x[0] = 127.0f;  // amax: d = 1 (0x3c00), id = 1
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.5f;
        x[4] = -0.5f;
        x[5] = 1.5f;
        x[6] = 126.5f;
        x[7] = -126.5f;
        x[8] = 0.49999997f;
        x[9] = 3.4999998f;
        x[10] = -127.0f;
        const block_q8_0 b = quantize_q8_0_block(x);
        CHECK(b.d.bits == 0x3c00);
        const int want[11] = {127, 3, -3, 1, -1, 2, 127, -127, 0, 3, -127};
        for (int j = 0; j < 11; ++j) {
            INFO("j = " << j << ", x = " << x[std::size_t(j)]);
            CHECK(int(b.qs[j]) == want[j]);
        }
    }
    SECTION("the amax element maps to +-127; d = amax / 127 rounded to fp16") {
        std::array<float, 32> x{};
        x[5] = -254.0f;  // d = 2 (0x4000), id = 0.5
        x[0] = 1.0f;     // 0.5 -> 1 (away from zero)
        x[1] = -3.0f;    // -1.5 -> -2
        block_q8_0 b = quantize_q8_0_block(x);
        CHECK(b.d.bits == 0x4000);
        CHECK(int(b.qs[5]) == -127);
        CHECK(int(b.qs[0]) == 1);
        CHECK(int(b.qs[1]) == -2);
        // amax = 1: d = fl(1/127) = 1.00787... * 2^-7; fp16 keeps 10 bits: mantissa 8.06/1024 -> 8 -> 0x2008.
        std::array<float, 32> y{};
        y[31] = 1.0f;
        y[30] = -1.0f;
        b = quantize_q8_0_block(y);
        CHECK(b.d.bits == 0x2008);
        CHECK(int(b.qs[31]) == 127);
        CHECK(int(b.qs[30]) == -127);
    }
}

TEST_CASE("quantize: Q8_0 of a tiny block whose 1/d overflows gives defined zeros", "[quantize]") {
    // amax = 1e-39: d = 7.9e-42 (an fp32 denormal), 1/d = inf, x*id is inf or NaN; ggml's cast on x86
    // (CVTTSS2SI) yields 0x80000000, whose low byte is 0. fp16(d) = 0, so the block decodes to zeros anyway.
    std::array<float, 32> x{};
    x[0] = 1e-39f;
    x[9] = -5e-40f;
    const block_q8_0 b = quantize_q8_0_block(x);
    CHECK(b.d.bits == 0x0000);
    for (int j = 0; j < 32; ++j) CHECK(int(b.qs[j]) == 0);
}

TEST_CASE("quantize: reference quantizers equal a literal transcription of ggml's on random data", "[quantize]") {
    std::mt19937 rng(0x9a4u);
    const std::int64_t nb = 4096;
    const std::vector<float> x = random_blocks(rng, nb);
    std::vector<block_q4_0> a(static_cast<std::size_t>(nb)), b(static_cast<std::size_t>(nb));
    amxmm::quantize_row_q4_0_ref(x.data(), a.data(), nb * 32);
    ggml_quantize_row_q4_0_ref(x.data(), b.data(), nb * 32);
    CHECK(same_bytes(a.data(), b.data(), a.size() * sizeof(block_q4_0)));
    std::vector<block_q8_0> c(static_cast<std::size_t>(nb)), d(static_cast<std::size_t>(nb));
    amxmm::quantize_row_q8_0_ref(x.data(), c.data(), nb * 32);
    ggml_quantize_row_q8_0_ref(x.data(), d.data(), nb * 32);
    CHECK(same_bytes(c.data(), d.data(), c.size() * sizeof(block_q8_0)));
}

TEST_CASE("quantize: round trips on random data", "[quantize]") {
    std::mt19937 rng(0x40u);
    const std::int64_t nb = 8192;
    const std::vector<float> x = random_blocks(rng, nb);
    const std::int64_t k = nb * 32;

    SECTION("Q4_0: per-element error bound, and re-quantizing the dequantized row gives the same blocks") {
        std::vector<block_q4_0> q(static_cast<std::size_t>(nb));
        amxmm::quantize_row_q4_0_ref(x.data(), q.data(), k);
        std::vector<float> y(static_cast<std::size_t>(k));
        amxmm::dequantize_row_q4_0(q.data(), y.data(), k);
        // With d the fp32 scale (max / -8) and D = fp16(d): the code is trunc(x/d + 8.5) - 8 up to the
        // rounding of id and of the product (relative 2^-23 each, i.e. < 1e-5 in units of d), so
        // |x - d*e| <= |d|/2 (+ slop) unless the code was clamped to 7 (x/d in [7.5, 8]: an element of
        // the opposite sign to max and nearly its magnitude), where |x - d*e| <= |d|. Storing D instead of
        // d adds |e| * |d - D| (|e| <= 8).
        std::size_t worst = 0, clamped = 0;
        double worst_ratio = 0.0;
        for (std::int64_t b = 0; b < nb; ++b) {
            const float* xb = x.data() + b * 32;
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 32; ++j)
                if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]), max = xb[j];
            const double d = double(max / -8.0f);
            const double D = double(amxmm::fp16_to_fp32(q[std::size_t(b)].d));
            REQUIRE(D != 0.0);
            for (int j = 0; j < 32; ++j) {
                const int e = amxmm::q4_0_element(q[std::size_t(b)], j);
                const double t = double(xb[j]) / d;
                const bool was_clamped = e == 7 && t > 7.5;
                clamped += was_clamped;
                const double bound = std::fabs(d) * ((was_clamped ? 1.0 : 0.5) + 1e-5) + std::abs(e) * std::fabs(d - D);
                const double err = std::fabs(double(xb[j]) - double(y[std::size_t(b * 32 + j)]));
                if (err > bound) ++worst;
                worst_ratio = std::max(worst_ratio, err / std::fabs(D));
            }
        }
        INFO("elements over the bound: " << worst << "; elements clamped to +7: " << clamped
                                         << "; max error / |D| = " << worst_ratio);
        CHECK(worst == 0);
        CHECK(clamped > 0);  // the random data does reach the clamp, so that branch of the bound is exercised

        // Dequantized values are D*e with e in -8..7; the first element with e = -8 (the block's max element
        // always gets code 0) has the largest magnitude, so max' = -8D, d' = D exactly, and x'*id' =
        // e*(1 +- 2^-23) truncates back to e: the same blocks, bit for bit (D is never 0 here).
        std::vector<block_q4_0> q2(static_cast<std::size_t>(nb));
        amxmm::quantize_row_q4_0_ref(y.data(), q2.data(), k);
        CHECK(same_bytes(q.data(), q2.data(), q.size() * sizeof(block_q4_0)));
    }

    SECTION("Q8_0: per-element error bound, amax -> +-127, and re-quantization gives the same blocks") {
        std::vector<block_q8_0> q(static_cast<std::size_t>(nb));
        amxmm::quantize_row_q8_0_ref(x.data(), q.data(), k);
        std::vector<float> y(static_cast<std::size_t>(k));
        amxmm::dequantize_row_q8_0(q.data(), y.data(), k);
        std::size_t over = 0, amax_wrong = 0, out_of_range = 0;
        for (std::int64_t b = 0; b < nb; ++b) {
            const float* xb = x.data() + b * 32;
            const block_q8_0& qb = q[std::size_t(b)];
            int arg = 0;
            float amax = 0.0f;
            for (int j = 0; j < 32; ++j)
                if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), arg = j;
            if (qb.qs[arg] != (xb[arg] < 0 ? -127 : 127)) ++amax_wrong;
            // q = round(x/d) up to the rounding of id and of the product (< 127 * 2^-22 in units of d):
            // |x - d*q| <= d/2 (+ slop); storing D adds |q| * |d - D|.
            const double d = double(amax / 127.0f);
            const double D = double(amxmm::fp16_to_fp32(qb.d));
            for (int j = 0; j < 32; ++j) {
                if (qb.qs[j] < -127) ++out_of_range;
                const double bound = d * (0.5 + 1e-4) + std::abs(qb.qs[j]) * std::fabs(d - D);
                if (std::fabs(double(xb[j]) - double(y[std::size_t(b * 32 + j)])) > bound) ++over;
            }
        }
        CHECK(over == 0);
        CHECK(amax_wrong == 0);
        CHECK(out_of_range == 0);
        // Dequantized values are D*q with max |q| = 127: amax' = 127 D exactly (18 significant bits),
        // d' = 127 D / 127 = D, fp16(d') = D, and x'*id' = q (1 +- 2^-23) rounds back to q.
        std::vector<block_q8_0> q2(static_cast<std::size_t>(nb));
        amxmm::quantize_row_q8_0_ref(y.data(), q2.data(), k);
        CHECK(same_bytes(q.data(), q2.data(), q.size() * sizeof(block_q8_0)));
    }
}

TEST_CASE("quantize: bad input throws amxmm::error naming the argument, and writes nothing", "[quantize]") {
    std::vector<float> x(64, 1.0f);
    block_q4_0 q4[2];
    block_q8_0 q8[2];
    const auto untouched = [&] {
        unsigned char s4[sizeof q4], s8[sizeof q8];
        std::memset(s4, 0xab, sizeof s4);
        std::memset(s8, 0xab, sizeof s8);
        return same_bytes(q4, s4, sizeof q4) && same_bytes(q8, s8, sizeof q8);
    };
    std::memset(q4, 0xab, sizeof q4);
    std::memset(q8, 0xab, sizeof q8);

    for (std::int64_t k : {31, 33, 48, -32, 1}) {
        INFO("k = " << k);
        caught e = catch_error([&] { amxmm::quantize_row_q4_0_ref(x.data(), q4, k); });
        CHECK(e.thrown);
        CHECK(e.code == amxmm::errc::invalid_argument);
        CHECK(contains(e.what, "quantize_row_q4_0_ref"));
        CHECK(contains(e.what, "k = " + std::to_string(k)));
        e = catch_error([&] { amxmm::quantize_row_q8_0_ref(x.data(), q8, k); });
        CHECK(e.thrown);
        CHECK(contains(e.what, "quantize_row_q8_0_ref"));
        CHECK(contains(e.what, "k = " + std::to_string(k)));
        float y[64];
        e = catch_error([&] { amxmm::dequantize_row_q4_0(q4, y, k); });
        CHECK(e.thrown);
        CHECK(contains(e.what, "k = " + std::to_string(k)));
        e = catch_error([&] { amxmm::dequantize_row_q8_0(q8, y, k); });
        CHECK(e.thrown);
        CHECK(contains(e.what, "k = " + std::to_string(k)));
    }

    caught e = catch_error([&] { amxmm::quantize_row_q4_0_ref(nullptr, q4, 32); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "x is null"));
    e = catch_error([&] { amxmm::quantize_row_q4_0_ref(x.data(), nullptr, 32); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "y is null"));
    e = catch_error([&] { amxmm::quantize_row_q8_0_ref(nullptr, q8, 32); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "x is null"));
    e = catch_error([&] { amxmm::quantize_row_q8_0_ref(x.data(), nullptr, 32); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "y is null"));
    float out[32];
    CHECK(catch_error([&] { amxmm::dequantize_row_q4_0(nullptr, out, 32); }).thrown);
    CHECK(catch_error([&] { amxmm::dequantize_row_q4_0(q4, nullptr, 32); }).thrown);
    CHECK(catch_error([&] { amxmm::dequantize_row_q8_0(nullptr, out, 32); }).thrown);
    CHECK(catch_error([&] { amxmm::dequantize_row_q8_0(q8, nullptr, 32); }).thrown);

    // A non-finite value in the second block: named by index, and the first block is not written either.
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
        INFO("bad value " << bad);
        x[40] = bad;
        e = catch_error([&] { amxmm::quantize_row_q4_0_ref(x.data(), q4, 64); });
        CHECK(e.thrown);
        CHECK(e.code == amxmm::errc::invalid_argument);
        CHECK(contains(e.what, "x[40]"));
        e = catch_error([&] { amxmm::quantize_row_q8_0_ref(x.data(), q8, 64); });
        CHECK(e.thrown);
        CHECK(contains(e.what, "x[40]"));
    }
    CHECK(untouched());
    x[40] = 1.0f;

    // k = 0 is an empty row: nothing read, nothing written, no error.
    CHECK_FALSE(catch_error([&] { amxmm::quantize_row_q4_0_ref(x.data(), q4, 0); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::quantize_row_q8_0_ref(x.data(), nullptr, 0); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::dequantize_row_q4_0(nullptr, nullptr, 0); }).thrown);
    CHECK(untouched());
}

TEST_CASE("quantize: quantize_q4_0 over a strided matrix", "[quantize]") {
    std::mt19937 rng(0x44u);
    const std::int64_t n = 5, k = 96, ld = 101;
    std::vector<float> x(static_cast<std::size_t>(n * ld), std::numeric_limits<float>::quiet_NaN());
    const std::vector<float> vals = random_blocks(rng, n * k / 32);
    for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t c = 0; c < k; ++c) x[std::size_t(r * ld + c)] = vals[std::size_t(r * k + c)];
    // The NaN padding between rows (ld > k) is never read.
    const std::vector<block_q4_0> w = amxmm::quantize_q4_0(x.data(), n, k, ld);
    REQUIRE(w.size() == std::size_t(n * k / 32));
    std::vector<block_q4_0> row(static_cast<std::size_t>(k / 32));
    for (std::int64_t r = 0; r < n; ++r) {
        amxmm::quantize_row_q4_0_ref(vals.data() + r * k, row.data(), k);
        CHECK(same_bytes(row.data(), w.data() + r * (k / 32), row.size() * sizeof(block_q4_0)));
    }
    CHECK(amxmm::quantize_q4_0(nullptr, 0, 64, 64).empty());

    caught e = catch_error([&] { (void)amxmm::quantize_q4_0(x.data(), -1, k, ld); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "n = -1"));
    e = catch_error([&] { (void)amxmm::quantize_q4_0(x.data(), n, k, k - 1); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "ld = 95"));
    e = catch_error([&] { (void)amxmm::quantize_q4_0(x.data(), n, 80, ld); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "k = 80"));
    e = catch_error([&] { (void)amxmm::quantize_q4_0(nullptr, n, k, ld); });
    CHECK(e.thrown);
    CHECK(e.code == amxmm::errc::invalid_argument);
    x[std::size_t(2 * ld + 7)] = std::numeric_limits<float>::infinity();
    e = catch_error([&] { (void)amxmm::quantize_q4_0(x.data(), n, k, ld); });
    CHECK(e.thrown);
    CHECK(contains(e.what, "not finite"));
}

TEST_CASE("quantize: ggml type table", "[quantize][ggml_type]") {
    using amxmm::ggml_type;
    using amxmm::traits_of;
    static_assert(traits_of(ggml_type::q4_0).block_elements == 32 && traits_of(ggml_type::q4_0).block_bytes == 18);
    static_assert(amxmm::is_known_ggml_type(2) && !amxmm::is_known_ggml_type(4));

    struct row {
        std::uint32_t raw;
        std::uint32_t elements, bytes;
        const char* name;
    };
    // Numbers and sizes from ggml.h / ggml-common.h.
    const row known[] = {
        {0, 1, 4, "f32"},          {1, 1, 2, "f16"},          {2, 32, 18, "q4_0"},     {3, 32, 20, "q4_1"},
        {6, 32, 22, "q5_0"},       {7, 32, 24, "q5_1"},       {8, 32, 34, "q8_0"},     {9, 32, 36, "q8_1"},
        {10, 256, 84, "q2_K"},     {11, 256, 110, "q3_K"},    {12, 256, 144, "q4_K"},  {13, 256, 176, "q5_K"},
        {14, 256, 210, "q6_K"},    {15, 256, 292, "q8_K"},    {16, 256, 66, "iq2_xxs"}, {17, 256, 74, "iq2_xs"},
        {18, 256, 98, "iq3_xxs"},  {19, 256, 50, "iq1_s"},    {20, 32, 18, "iq4_nl"},  {21, 256, 110, "iq3_s"},
        {22, 256, 82, "iq2_s"},    {23, 256, 136, "iq4_xs"},  {24, 1, 1, "i8"},        {25, 1, 2, "i16"},
        {26, 1, 4, "i32"},         {27, 1, 8, "i64"},         {28, 1, 8, "f64"},       {29, 256, 56, "iq1_m"},
        {30, 1, 2, "bf16"},        {34, 256, 54, "tq1_0"},    {35, 256, 66, "tq2_0"},  {39, 32, 17, "mxfp4"},
    };
    for (const row& r : known) {
        INFO("type " << r.raw << " (" << r.name << ")");
        const auto t = traits_of(static_cast<ggml_type>(r.raw));
        CHECK(amxmm::is_known_ggml_type(r.raw));
        CHECK(t.block_elements == r.elements);
        CHECK(t.block_bytes == r.bytes);
        CHECK(t.name == r.name);
    }
    CHECK(traits_of(ggml_type::q4_0).block_bytes == sizeof(block_q4_0));
    CHECK(traits_of(ggml_type::q8_0).block_bytes == sizeof(block_q8_0));
    CHECK(traits_of(ggml_type::q4_0).block_elements == std::uint32_t(amxmm::block_k));

    // Retired numbers (Q4_2, Q4_3, the Q4_0_x_y and IQ4_NL_x_y repacks) and numbers past the table.
    for (std::uint32_t raw : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 41u, 100u, 1000u, 0x7fffffffu, 0xffffffffu}) {
        INFO("raw " << raw);
        CHECK_FALSE(amxmm::is_known_ggml_type(raw));
        const auto t = traits_of(static_cast<ggml_type>(raw));
        CHECK(t.block_elements == 0);
        CHECK(t.block_bytes == 0);
        CHECK(t.name.empty());
    }
    int n_known = 0;
    for (std::uint32_t raw = 0; raw < 4096; ++raw) n_known += amxmm::is_known_ggml_type(raw);
    CHECK(n_known == int(sizeof known / sizeof known[0]));
}
