#include "catch_compat.hpp"
#include "error_capture.hpp"

// The scalar oracles of include/amxmm/format/reference_gemm.hpp, which every kernel test trusts:
//   * small cases whose results are computed by hand in the comments (K = 32 and K = 64);
//   * reference_gemm_exact / reference_gemm_fast bitwise equal to an independent re-derivation here;
//   * exact and fast within derived error bounds of reference_gemm_fp64 on random data;
//   * the RMS error of exact and fast against fp64 at K = 2048 (measured and printed, loosely asserted);
//   * argument errors.

#include <amxmm/format/quantize.hpp>
#include <amxmm/format/reference_gemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using amxmm::block_q4_0;
using amxmm::q4_0_matrix_view;

using amxmm_test::caught;
using amxmm_test::catch_error;
using amxmm_test::contains;

std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Forces a value to be rounded to its type here (no contraction into an FMA with what follows).
template <class T>
T keep(T v) {
    volatile T t = v;
    return t;
}

// fp16 <-> fp32 for the re-derivation: the compiler's _Float16 where it has one (independent of
// half.hpp), else amxmm's conversions (checked against the hardware in tests/test_half.cpp).
float fp16_bits_to_float(std::uint16_t bits) {
#if defined(__FLT16_MANT_DIG__)
    _Float16 h;
    std::memcpy(&h, &bits, sizeof h);
    return static_cast<float>(h);
#else
    return amxmm::fp16_to_fp32(amxmm::fp16{bits});
#endif
}
float round_to_fp16(float f) {
#if defined(__FLT16_MANT_DIG__)
    return static_cast<float>(static_cast<_Float16>(keep(f)));
#else
    return amxmm::fp16_to_fp32(amxmm::fp32_to_fp16(f));
#endif
}

// The two blocks of the hand-computed cases:
//   A: d = 0.5 (0x3800), qs[j] = j | (15 - j) << 4 -> element j = j - 8, element j + 16 = 7 - j
//      (values 0.5 * {-8..7} and 0.5 * {7..-8}; sum of the 32 elements = -8 - 8 = -16, times d = -8)
//   B: d = 2 (0x4000), qs = 0xff -> every element +7 (value 14)
block_q4_0 block_a() {
    block_q4_0 b;
    b.d = amxmm::fp16{0x3800};
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<std::uint8_t>(j | (15 - j) << 4);
    return b;
}
block_q4_0 block_b() {
    block_q4_0 b;
    b.d = amxmm::fp16{0x4000};
    for (auto& q : b.qs) q = 0xff;
    return b;
}

struct results {
    std::vector<double> fp64;
    std::vector<float> exact;
    std::vector<double> fast;
};

// Runs the three oracles on one problem with output stride ldy.
results run_all(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w, std::int64_t ldy) {
    results r;
    const std::size_t n = static_cast<std::size_t>(m * ldy);
    r.fp64.assign(n, -1.0);
    r.exact.assign(n, -1.0f);
    r.fast.assign(n, -1.0);
    amxmm::reference_gemm_fp64(m, x, ldx, w, r.fp64.data(), ldy);
    amxmm::reference_gemm_exact(m, x, ldx, w, r.exact.data(), ldy);
    amxmm::reference_gemm_fast(m, x, ldx, w, r.fast.data(), ldy);
    return r;
}

// ---- independent re-derivation of the exact and fast modes ---------------------------------------------
int q4_code(const block_q4_0& b, int j) { return j < 16 ? (b.qs[j] & 15) - 8 : (b.qs[j - 16] >> 4) - 8; }

struct q8_row {
    std::vector<float> d;         // fp16-rounded scale per block
    std::vector<std::int8_t> q;   // k codes
};

// ggml's Q8_0 quantization of one row: d = amax / 127, q = roundf(x / d) (x * (1/d), ties away from 0).
q8_row quantize_q8_row(const float* x, std::int64_t k) {
    q8_row r;
    r.q.resize(static_cast<std::size_t>(k));
    for (std::int64_t b = 0; b < k / 32; ++b) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        r.d.push_back(round_to_fp16(d));
        for (int j = 0; j < 32; ++j)
            r.q[std::size_t(b * 32 + j)] = static_cast<std::int8_t>(std::lround(keep(x[b * 32 + j] * id)));
    }
    return r;
}

// exact: per block, an integer dot product, then acc = acc + float(sumi) * (d_w * d_x), each op rounded.
void rederive_exact(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w, float* y,
                    std::int64_t ldy) {
    const std::int64_t k = w.cols;
    for (std::int64_t i = 0; i < m; ++i) {
        const q8_row xq = quantize_q8_row(x + i * ldx, k);
        for (std::int64_t n = 0; n < w.rows; ++n) {
            float acc = 0.0f;
            for (std::int64_t b = 0; b < k / 32; ++b) {
                const block_q4_0& wb = w.blocks[n * (k / 32) + b];
                std::int32_t sumi = 0;
                for (int j = 0; j < 32; ++j) sumi += q4_code(wb, j) * xq.q[std::size_t(b * 32 + j)];
                const float scale = keep(fp16_bits_to_float(wb.d.bits) * xq.d[std::size_t(b)]);
                const float term = keep(static_cast<float>(sumi) * scale);
                acc = keep(acc + term);
            }
            y[i * ldy + n] = acc;
        }
    }
}

// fp64: the dequantized W (d * q, exact in fp32) times X, summed in fp64 in K order.
void rederive_fp64(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w, double* y,
                   std::int64_t ldy) {
    const std::int64_t k = w.cols;
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t n = 0; n < w.rows; ++n) {
            double acc = 0.0;
            for (std::int64_t c = 0; c < k; ++c) {
                const block_q4_0& wb = w.blocks[n * (k / 32) + c / 32];
                acc += double(x[i * ldx + c]) * (double(fp16_bits_to_float(wb.d.bits)) * q4_code(wb, int(c % 32)));
            }
            y[i * ldy + n] = acc;
        }
}

// fast: X and d*q rounded to bf16, products summed in fp64 in K order.
void rederive_fast(std::int64_t m, const float* x, std::int64_t ldx, const q4_0_matrix_view& w, double* y,
                   std::int64_t ldy) {
    const std::int64_t k = w.cols;
    auto bf16 = [](float f) { return amxmm::bf16_to_fp32(amxmm::fp32_to_bf16(f)); };
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t n = 0; n < w.rows; ++n) {
            double acc = 0.0;
            for (std::int64_t c = 0; c < k; ++c) {
                const block_q4_0& wb = w.blocks[n * (k / 32) + c / 32];
                const float wv = bf16(fp16_bits_to_float(wb.d.bits) * float(q4_code(wb, int(c % 32))));
                acc += double(bf16(x[i * ldx + c])) * double(wv);
            }
            y[i * ldy + n] = acc;
        }
}

// ---- random problems ------------------------------------------------------------------------------------
struct problem {
    std::int64_t m = 0, n = 0, k = 0, ldx = 0, ldy = 0;
    std::vector<float> x;          // m rows, stride ldx; padding is NaN (must never be read)
    std::vector<block_q4_0> w;     // n rows of k/32 blocks
    q4_0_matrix_view view() const { return {w.data(), n, k}; }
};

// X: Gaussian rows with a random power-of-two scale; some rows are zero, some have one spike per block,
// some hold exact multiples of 1/4 (ties in the Q8_0 rounding). W: Gaussian rows quantized to Q4_0, or
// raw random blocks (random codes, random normal fp16 d of either sign).
problem random_problem(std::mt19937& rng, std::int64_t m, std::int64_t n, std::int64_t k) {
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_int_distribution<int> pad(0, 9), kind(0, 7), sexp(-6, 6), byte(0, 255), dexp(8, 20);
    problem p;
    p.m = m;
    p.n = n;
    p.k = k;
    p.ldx = k + pad(rng);
    p.ldy = n + pad(rng) % 3;
    p.x.assign(static_cast<std::size_t>(m * p.ldx), std::numeric_limits<float>::quiet_NaN());
    for (std::int64_t i = 0; i < m; ++i) {
        const int rk = kind(rng);
        const float scale = std::ldexp(1.0f, sexp(rng));
        for (std::int64_t c = 0; c < k; ++c) {
            float v = gauss(rng) * scale;
            if (rk == 0) v = 0.0f;
            if (rk == 1 && c % 32 != 5) v *= 0.01f;
            if (rk == 2) v = std::round(v * 4.0f) / 4.0f;
            p.x[std::size_t(i * p.ldx + c)] = v;
        }
    }
    p.w.resize(static_cast<std::size_t>(n * (k / 32)));
    std::vector<float> row(static_cast<std::size_t>(k));
    for (std::int64_t r = 0; r < n; ++r) {
        block_q4_0* dst = p.w.data() + r * (k / 32);
        if (kind(rng) < 6) {
            const float scale = std::ldexp(1.0f, sexp(rng) - 6);
            for (auto& v : row) v = gauss(rng) * scale;
            amxmm::quantize_row_q4_0_ref(row.data(), dst, k);
        } else {
            for (std::int64_t b = 0; b < k / 32; ++b) {
                const int sign = byte(rng) & 1, exp_field = dexp(rng), hi = byte(rng), lo = byte(rng) % 4;
                dst[b].d.bits = static_cast<std::uint16_t>(sign << 15 | exp_field << 10 | (hi * 4 + lo));
                for (auto& q : dst[b].qs) q = static_cast<std::uint8_t>(byte(rng));
            }
        }
    }
    // Correlated rows: X row 1 is W row 0 (dequantized, rescaled, slightly perturbed), so the block
    // sums s_b grow large (up to 32 * 8 * 127) and float(s_b) * scale really rounds.
    if (m >= 2) {
        amxmm::dequantize_row_q4_0(p.w.data(), row.data(), k);
        const float scale = std::ldexp(1.0f, sexp(rng));
        for (std::int64_t c = 0; c < k; ++c)
            p.x[std::size_t(p.ldx + c)] = row[std::size_t(c)] * scale * (1.0f + 0.01f * gauss(rng));
    }
    return p;
}

std::string shape_of(const problem& p) {
    std::ostringstream os;
    os << "M=" << p.m << " N=" << p.n << " K=" << p.k << " ldx=" << p.ldx << " ldy=" << p.ldy;
    return os.str();
}

}  // namespace

TEST_CASE("reference: hand-computed K = 32 cases", "[reference]") {
    // exact mode quantizes a row whose largest magnitude is 1 to Q8_0 as: d = fl(1/127) = 1.00787 * 2^-7,
    // fp16 keeps 10 fraction bits: 0.00787 * 1024 = 8.06 -> 8, so D_x = 2^-7 * (1 + 8/1024) = 129/16384
    // (fp16 0x2008); the element 1 becomes round(1 * fl(1/d)) = round(127.0000x) = 127.
    const block_q4_0 a = block_a();
    const q4_0_matrix_view w{&a, 1, 32};
    float x[32];

    SECTION("X = e_5: picks element 5 of A = 0.5 * (5 - 8) = -1.5") {
        std::fill(x, x + 32, 0.0f);
        x[5] = 1.0f;
        const results r = run_all(1, x, 32, w, 1);
        CHECK(r.fp64[0] == -1.5);
        CHECK(r.fast[0] == -1.5);
        // sumi = 127 * -3 = -381; scale = 0.5 * 129/16384 = 129/32768 (exact);
        // -381 * 129/32768 = -49149/32768 (exact in fp32).
        CHECK(r.exact[0] == -49149.0f / 32768.0f);
    }
    SECTION("X = e_20: element 16 + 4 of A = 0.5 * (7 - 4) = 1.5") {
        std::fill(x, x + 32, 0.0f);
        x[20] = 1.0f;
        const results r = run_all(1, x, 32, w, 1);
        CHECK(r.fp64[0] == 1.5);
        CHECK(r.fast[0] == 1.5);
        CHECK(r.exact[0] == 49149.0f / 32768.0f);
    }
    SECTION("X = ones: the sum of A = 0.5 * -16 = -8") {
        std::fill(x, x + 32, 1.0f);
        const results r = run_all(1, x, 32, w, 1);
        CHECK(r.fp64[0] == -8.0);
        CHECK(r.fast[0] == -8.0);
        // sumi = 127 * -16 = -2032; -2032 * 129/32768 = -262128/32768 = -7.99951171875.
        CHECK(r.exact[0] == -262128.0f / 32768.0f);
    }
    SECTION("X = constant 1 + 2^-8: fast rounds X to bf16 (a tie, to even: 1.0), fp64 does not") {
        std::fill(x, x + 32, 1.0f + 0x1p-8f);
        const results r = run_all(1, x, 32, w, 1);
        CHECK(r.fp64[0] == -8.0 * (1.0 + 0x1p-8));
        CHECK(r.fast[0] == -8.0);
        // exact: amax = 1 + 2^-8, d = fl(amax/127) = 1.01181 * 2^-7 -> fp16 fraction 0.01181 * 1024 = 12.09
        // -> 12: D_x = 2^-7 * 1036/1024 = 259/32768, codes 127 (x * fl(1/d) = 127.0000x).
        // sumi = -2032, scale = 0.5 * 259/32768 = 259/65536: y = -2032 * 259/65536 = -526288/65536.
        CHECK(r.exact[0] == -526288.0f / 65536.0f);
    }
    SECTION("bf16 rounding of d*q in fast, and the fp32 rounding of float(sumi) * scale in exact") {
        // C: d = 1 + 2^-10 (0x3c01), every code 5 (element -3): w = -3 * (1 + 2^-10) = -3.0029296875.
        block_q4_0 c;
        c.d = amxmm::fp16{0x3c01};
        for (auto& q : c.qs) q = 0x55;
        const q4_0_matrix_view wc{&c, 1, 32};
        std::fill(x, x + 32, 0.0f);
        x[0] = 1.0f;
        const results r = run_all(1, x, 32, wc, 1);
        CHECK(r.fp64[0] == -3.0029296875);
        // bf16(3.0029296875) = bf16(1.50146484375 * 2): 0.50146484375 * 128 = 64.19 -> 64 -> 3.0.
        CHECK(r.fast[0] == -3.0);
        // scale = (1 + 2^-10) * 129/16384 = 132225 / 2^24 (exact, 17 bits); sumi = 127 * -3 = -381;
        // -381 * 132225 = -50377725 needs 26 bits: in fp32 (24 bits) it rounds to the nearest multiple of 4,
        // 50377724 (remainder 1/4 of a step, rounds down): -50377724 / 2^24 = -12594431 / 2^22.
        CHECK(r.exact[0] == -12594431.0f / 4194304.0f);
    }
}

TEST_CASE("reference: hand-computed K = 64, M = 2, N = 2 with strides", "[reference]") {
    // W row 0 = [A, B], row 1 = [B, A]; X row 0 = 64 ones, X row 1 = 32 ones then 32 times -0.5.
    // ldx = 70 and ldy = 3: the padding of X is NaN (never read), column 2 of Y is never written.
    const block_q4_0 w_blocks[4] = {block_a(), block_b(), block_b(), block_a()};
    const q4_0_matrix_view w{w_blocks, 2, 64};
    std::vector<float> x(140, std::numeric_limits<float>::quiet_NaN());
    for (int c = 0; c < 64; ++c) x[std::size_t(c)] = 1.0f;
    for (int c = 0; c < 32; ++c) x[std::size_t(70 + c)] = 1.0f;
    for (int c = 32; c < 64; ++c) x[std::size_t(70 + c)] = -0.5f;
    const results r = run_all(2, x.data(), 70, w, 3);

    // fp64 and fast (every value is exact in bf16): sum(A) = -8, sum(B) = 32 * 14 = 448.
    //   y00 = -8 + 448 = 440, y01 = 448 - 8 = 440, y10 = -8 - 0.5*448 = -232, y11 = 448 - 0.5*-8 = 452.
    const double want[4] = {440.0, 440.0, -232.0, 452.0};
    // exact: a block of ones gives D_x = 129/16384, codes 127; a block of -0.5 gives D_x = 129/32768
    // (0.5/127 = 1.00787 * 2^-8 -> fp16 2^-8 * (1 + 8/1024)), codes -127. Block terms:
    //   A . ones : -2032 * (0.5 * 129/16384) = -262128/32768   = -7.99951171875
    //   B . ones : 28448 * (2 * 129/16384)   = 3669792/8192    = 447.97265625
    //   A . -0.5 : 2032 * (0.5 * 129/32768)  = 262128/65536    = 3.999755859375
    //   B . -0.5 : -28448 * (2 * 129/32768)  = -3669792/16384  = -223.986328125
    // and every partial sum is exact in fp32 (numerators below 2^24 over 2^15 or 2^16):
    //   y00 = y01 = 14417040/32768, y10 = -7601712/32768, y11 = 14810232/32768.
    const float want_exact[4] = {14417040.0f / 32768.0f, 14417040.0f / 32768.0f, -7601712.0f / 32768.0f,
                                 14810232.0f / 32768.0f};
    for (int i = 0; i < 2; ++i)
        for (int n = 0; n < 2; ++n) {
            INFO("y[" << i << "][" << n << "]");
            CHECK(r.fp64[std::size_t(i * 3 + n)] == want[i * 2 + n]);
            CHECK(r.fast[std::size_t(i * 3 + n)] == want[i * 2 + n]);
            CHECK(r.exact[std::size_t(i * 3 + n)] == want_exact[i * 2 + n]);
        }
    for (int i = 0; i < 2; ++i) {  // the stride padding keeps the value run_all put there
        CHECK(r.fp64[std::size_t(i * 3 + 2)] == -1.0);
        CHECK(r.exact[std::size_t(i * 3 + 2)] == -1.0f);
        CHECK(r.fast[std::size_t(i * 3 + 2)] == -1.0);
    }
}

TEST_CASE("reference: all three oracles are bitwise equal to an independent re-derivation", "[reference]") {
    std::mt19937 rng(0x2eau);
    int shapes = 0;
    for (std::int64_t m = 1; m <= 5; ++m)
        for (std::int64_t n = 1; n <= 7; ++n)
            for (std::int64_t k : {32, 64, 96}) {
                const problem p = random_problem(rng, m, n, k);
                INFO(shape_of(p));
                const results r = run_all(p.m, p.x.data(), p.ldx, p.view(), p.ldy);
                std::vector<float> ye(r.exact.size(), -1.0f);
                std::vector<double> yf(r.fast.size(), -1.0), yd(r.fp64.size(), -1.0);
                rederive_exact(p.m, p.x.data(), p.ldx, p.view(), ye.data(), p.ldy);
                rederive_fast(p.m, p.x.data(), p.ldx, p.view(), yf.data(), p.ldy);
                rederive_fp64(p.m, p.x.data(), p.ldx, p.view(), yd.data(), p.ldy);
                std::size_t exact_diff = 0, fast_diff = 0, fp64_diff = 0;
                for (std::size_t i = 0; i < ye.size(); ++i) {
                    exact_diff += bits_of(ye[i]) != bits_of(r.exact[i]);
                    fast_diff += std::memcmp(&yf[i], &r.fast[i], sizeof(double)) != 0;
                    fp64_diff += std::memcmp(&yd[i], &r.fp64[i], sizeof(double)) != 0;
                }
                CHECK(exact_diff == 0);
                CHECK(fast_diff == 0);
                CHECK(fp64_diff == 0);
                ++shapes;
            }
    CHECK(shapes == 105);
}

TEST_CASE("reference: exact and fast stay within derived error bounds of fp64", "[reference]") {
    // Notation per output: y = sum_k x_k w_k with w the dequantized weights (exact in fp32); S = sum |x_k w_k|;
    // per 32-block b of K: A_b = max |x| over the block, W_b = sum |w_k| over the block.
    //
    // fp64 itself: every product x_k w_k is exact in double (24 + 15 significant bits), the K-term sum
    // errs by at most (K-1) 2^-53 S.
    //
    // fast: x~ = bf16(x) = x(1 + a), w~ = bf16(w) = w(1 + b), |a|, |b| <= u = 2^-8 (bf16 keeps 8 bits;
    // no denormals occur in this data). |x~ w~ - x w| <= (2u + u^2)|x w|, and fast's own fp64 sum of K
    // exact products errs by at most (K-1) 2^-53 (1 + 2u) S. So
    //     |fast - fp64| <= (2^-7 + 2^-16) S + 2K 2^-53 (1 + 2^-7) S.
    //
    // exact: Q8_0 of x: d = A_b/127 (fp32), q = round(x fl(1/d)); fl() of the inverse and of the product
    // move x/d by at most 127 * 2^-22, so |x - d q| <= d (0.5 + 2^-15). Storing D = fp16(d) instead adds
    // |q| |d - D| <= 127 max(2^-11 d, 2^-25) (relative 2^-11 for a normal fp16, absolute 2^-25 for a
    // subnormal one). Weights are exact on both sides, so the block's real-number result differs from y's
    // block part by <= W_b [d (0.5 + 2^-15) + 127 max(2^-11 d, 2^-25)].
    // Then the fp32 evaluation: every block term s_b D_w D_x gets two roundings (the scale, the product),
    // and the running sum over nb blocks one more per addition: at most (nb + 1) 2^-24 (1 + tiny) times
    // T = sum_b |s_b D_w D_x| <= sum_b W_b 127 D_x <= 1.001 sum_b W_b A_b. So
    //     |exact - fp64| <= sum_b W_b [A_b/127 (0.5 + 2^-15) + 127 max(2^-11 A_b/127, 2^-25)]
    //                       + (nb + 2) 2^-24 1.001 sum_b W_b A_b + (K-1) 2^-53 S.
    std::mt19937 rng(0xb0bu);
    double worst_exact = 0.0, worst_fast = 0.0;  // largest error / bound seen
    int cases = 0;
    for (int t = 0; t < 120; ++t) {
        const std::int64_t m = 1 + t % 5, n = 1 + (t / 5) % 7;
        static const std::int64_t ks[] = {32, 64, 96, 256, 1024};
        const std::int64_t k = ks[t % 5 == 4 ? (t / 4) % 5 : t % 3];
        const problem p = random_problem(rng, m, n, k);
        INFO(shape_of(p));
        const results r = run_all(p.m, p.x.data(), p.ldx, p.view(), p.ldy);
        std::vector<float> wrow(static_cast<std::size_t>(k));
        for (std::int64_t j = 0; j < n; ++j) {
            amxmm::dequantize_row_q4_0(p.w.data() + j * (k / 32), wrow.data(), k);
            for (std::int64_t i = 0; i < m; ++i) {
                const float* xr = p.x.data() + i * p.ldx;
                double S = 0.0, blockwise = 0.0, wa = 0.0;
                for (std::int64_t b = 0; b < k / 32; ++b) {
                    double A = 0.0, W = 0.0;
                    for (int c = 0; c < 32; ++c) {
                        const double xv = xr[b * 32 + c], wv = wrow[std::size_t(b * 32 + c)];
                        S += std::fabs(xv * wv);
                        A = std::max(A, std::fabs(xv));
                        W += std::fabs(wv);
                    }
                    const double d = A / 127.0;
                    blockwise += W * (d * (0.5 + 0x1p-15) + 127.0 * std::max(0x1p-11 * d, 0x1p-25));
                    wa += W * A;
                }
                const double kd = double(k), nb = double(k / 32);
                const double bound_fast = (0x1p-7 + 0x1p-16) * S + 2.0 * kd * 0x1p-53 * (1 + 0x1p-7) * S;
                const double bound_exact = blockwise + (nb + 2.0) * 0x1p-24 * 1.001 * wa + kd * 0x1p-53 * S;
                const std::size_t at = std::size_t(i * p.ldy + j);
                const double ef = std::fabs(r.fast[at] - r.fp64[at]);
                const double ee = std::fabs(double(r.exact[at]) - r.fp64[at]);
                CAPTURE(i, j, r.fp64[at], r.fast[at], r.exact[at], bound_fast, bound_exact);
                CHECK(ef <= bound_fast);
                CHECK(ee <= bound_exact);
                if (bound_fast > 0) worst_fast = std::max(worst_fast, ef / bound_fast);
                if (bound_exact > 0) worst_exact = std::max(worst_exact, ee / bound_exact);
                ++cases;
            }
        }
    }
    INFO("largest error / bound: exact " << worst_exact << ", fast " << worst_fast << " over " << cases << " outputs");
    CHECK(worst_exact <= 1.0);
    CHECK(worst_fast <= 1.0);
    CHECK(worst_exact > 0.0);  // the data does produce rounding errors, so the bounds were exercised
    CHECK(worst_fast > 0.0);
}

TEST_CASE("reference: RMS error of exact and fast against fp64 at K = 2048 (measured)", "[reference][accuracy]") {
    // Gaussian activations (sigma 1) and Gaussian weights (sigma 0.02, as in LLM layers) quantized to Q4_0.
    // Expected from the rounding models: fast rounds x and w to bf16 (8 bits), relative RMS per product
    // ~ 2^-8 * sqrt(2/3) * 0.7 ~ 0.2%; exact rounds x to Q8_0 with step d ~ 2.3 sigma / 127 per block,
    // error RMS d / sqrt(12) ~ 0.5% of sigma, plus the fp16 rounding of d. Only a loose sanity bound is
    // asserted; the numbers are printed.
    const std::int64_t m = 16, n = 96, k = 2048;
    std::mt19937 rng(0x2048u);
    std::normal_distribution<float> gx(0.0f, 1.0f), gw(0.0f, 0.02f);
    std::vector<float> x(static_cast<std::size_t>(m * k)), wf(static_cast<std::size_t>(n * k));
    for (auto& v : x) v = gx(rng);
    for (auto& v : wf) v = gw(rng);
    const std::vector<block_q4_0> w = amxmm::quantize_q4_0(wf.data(), n, k, k);
    const results r = run_all(m, x.data(), k, {w.data(), n, k}, n);
    double ref2 = 0.0, exact2 = 0.0, fast2 = 0.0;
    for (std::size_t i = 0; i < r.fp64.size(); ++i) {
        ref2 += r.fp64[i] * r.fp64[i];
        exact2 += (double(r.exact[i]) - r.fp64[i]) * (double(r.exact[i]) - r.fp64[i]);
        fast2 += (r.fast[i] - r.fp64[i]) * (r.fast[i] - r.fp64[i]);
    }
    const double rel_exact = std::sqrt(exact2 / ref2), rel_fast = std::sqrt(fast2 / ref2);
    std::ostringstream os;
    os << "K=2048 M=16 N=96, RMS error / RMS(y) against fp64: exact " << rel_exact << ", fast " << rel_fast
       << " (" << (rel_fast < rel_exact ? "fast" : "exact") << " is more accurate, ratio exact/fast "
       << rel_exact / rel_fast << ")";
    WARN(os.str());
    CHECK(rel_exact > 0.0);
    CHECK(rel_fast > 0.0);
    CHECK(rel_exact < 0.02);
    CHECK(rel_fast < 0.02);
}

TEST_CASE("reference: argument errors throw amxmm::error and write nothing", "[reference]") {
    const block_q4_0 blocks[4] = {block_a(), block_b(), block_b(), block_a()};
    std::vector<float> x(128, 1.0f);
    std::vector<float> yf(8, -7.0f);
    std::vector<double> yd(8, -7.0);

    // Calls all three oracles with the same arguments; every one must throw, mentioning `part`.
    auto expect_error = [&](std::int64_t m, const float* xp, std::int64_t ldx, q4_0_matrix_view w, bool null_y,
                            std::int64_t ldy, const std::string& part) {
        INFO("expecting an error mentioning '" << part << "'");
        const caught c1 = catch_error([&] { amxmm::reference_gemm_fp64(m, xp, ldx, w, null_y ? nullptr : yd.data(), ldy); });
        const caught c2 = catch_error([&] { amxmm::reference_gemm_exact(m, xp, ldx, w, null_y ? nullptr : yf.data(), ldy); });
        const caught c3 = catch_error([&] { amxmm::reference_gemm_fast(m, xp, ldx, w, null_y ? nullptr : yd.data(), ldy); });
        for (const caught* c : {&c1, &c2, &c3}) {
            INFO("message: " << c->what);
            CHECK(c->thrown);
            CHECK(c->code == amxmm::errc::invalid_argument);
            CHECK(contains(c->what, part));
        }
        CHECK(contains(c1.what, "reference_gemm_fp64"));
        CHECK(contains(c2.what, "reference_gemm_exact"));
        CHECK(contains(c3.what, "reference_gemm_fast"));
    };
    const q4_0_matrix_view w{blocks, 2, 64};
    expect_error(2, x.data(), 63, w, false, 2, "ldx = 63");
    expect_error(2, x.data(), 64, {blocks, 2, 48}, false, 2, "w.cols (K) = 48");
    expect_error(2, x.data(), 64, {blocks, 2, 0}, false, 2, "w.cols (K) = 0");
    expect_error(2, x.data(), 64, {blocks, 2, -32}, false, 2, "w.cols (K) = -32");
    expect_error(2, x.data(), 64, w, false, 1, "ldy = 1");
    expect_error(-1, x.data(), 64, w, false, 2, "m = -1");
    expect_error(2, x.data(), 64, {blocks, -2, 64}, false, 2, "w.rows = -2");
    expect_error(2, nullptr, 64, w, false, 2, "null");
    expect_error(2, x.data(), 64, w, true, 2, "null");
    expect_error(2, x.data(), 64, {nullptr, 2, 64}, false, 2, "null");
    for (float v : yf) CHECK(v == -7.0f);
    for (double v : yd) CHECK(v == -7.0);

    // exact mode needs finite X (it quantizes X to Q8_0): a NaN in row 1 is reported before row 0 is
    // written. (fp64 and fast just propagate it.)
    x[64 + 5] = std::numeric_limits<float>::quiet_NaN();
    const caught c = catch_error([&] { amxmm::reference_gemm_exact(2, x.data(), 64, w, yf.data(), 2); });
    CHECK(c.thrown);
    CHECK(contains(c.what, "reference_gemm_exact"));
    CHECK(contains(c.what, "x[1 * ldx + 5]"));
    for (float v : yf) CHECK(v == -7.0f);
    amxmm::reference_gemm_fast(2, x.data(), 64, w, yd.data(), 2);
    CHECK(yd[0] == 440.0);
    CHECK(std::isnan(yd[2]));
    x[64 + 5] = 1.0f;

    // Empty products are fine, and then no pointer is needed.
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_exact(0, nullptr, 64, w, nullptr, 2); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_fp64(0, nullptr, 64, w, nullptr, 2); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_fast(0, nullptr, 64, w, nullptr, 2); }).thrown);
    const q4_0_matrix_view empty{nullptr, 0, 64};
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_exact(2, nullptr, 64, empty, nullptr, 0); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_fp64(2, nullptr, 64, empty, nullptr, 0); }).thrown);
    CHECK_FALSE(catch_error([&] { amxmm::reference_gemm_fast(2, nullptr, 64, empty, nullptr, 0); }).thrown);
}
