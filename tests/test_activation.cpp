#include "catch_compat.hpp"

// moe_ffn's SiLU (include/amxmm/kernel/activation.hpp): the AVX2 and AVX-512 forms give the scalar
// definition's bits (compared as bit patterns, NaN excepted), and the definition stays within a few
// ulp of SiLU computed in fp64.

#include <amxmm/kernel/activation.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace amxmm;

namespace {

std::uint32_t bits_of(float v) {
    std::uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}

/// Inputs: specials, the cutoff's neighbourhood, subnormals, and a random sweep over [-100, 100] and
/// over magnitudes 2^-30 .. 2^7.
std::vector<float> silu_inputs() {
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 87.0f, -87.0f, std::nextafter(87.0f, 100.0f),
                            -std::nextafter(87.0f, 100.0f), 88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f, inf, -inf,
                            std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(), 1e-20f, -1e-20f};
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> wide(-100.0f, 100.0f), expo(-30.0f, 7.0f);
    for (int i = 0; i < 20000; ++i) v.push_back(wide(rng));
    for (int i = 0; i < 20000; ++i) v.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(expo(rng)));
    return v;
}

/// silu_times with u = 1 is silu itself (the product by 1 is exact).
template <class Fn>
void check_form_bits(Fn form) {
    const std::vector<float> in = silu_inputs();
    for (std::size_t len : {in.size(), std::size_t(1), std::size_t(7), std::size_t(15), std::size_t(17), std::size_t(33)}) {
        std::vector<float> h(in.begin(), in.begin() + std::ptrdiff_t(len)), u(len, 1.0f);
        form(h.data(), u.data(), std::int64_t(len));
        std::size_t mismatches = 0;
        for (std::size_t i = 0; i < len; ++i) {
            const float want = detail::silu(in[i]);
            if (std::isnan(want) ? !std::isnan(h[i]) : bits_of(h[i]) != bits_of(want)) ++mismatches;
        }
        CHECK(mismatches == 0);
    }
    // And with a real u: the product is rounded once, as the scalar h = silu(g) · u.
    std::vector<float> h = in, u(in.size());
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<float> ud(-3.0f, 3.0f);
    for (float& x : u) x = ud(rng);
    form(h.data(), u.data(), std::int64_t(h.size()));
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const float want = detail::silu(in[i]) * u[i];
        if (std::isnan(want) ? !std::isnan(h[i]) : bits_of(h[i]) != bits_of(want)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("silu: special values and the cutoff", "[activation]") {
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(bits_of(detail::silu(0.0f)) == bits_of(0.0f));
    CHECK(bits_of(detail::silu(-0.0f)) == bits_of(-0.0f));
    CHECK(detail::silu(inf) == inf);
    CHECK(std::isnan(detail::silu(std::numeric_limits<float>::quiet_NaN())));
    CHECK(detail::silu(100.0f) == 100.0f);
    CHECK(bits_of(detail::silu(-100.0f)) == bits_of(-0.0f));
    CHECK(detail::silu(87.0f) == 87.0f);  // 87·(1 - 1.6e-38) rounds to 87
    const float tiny = std::numeric_limits<float>::denorm_min();
    CHECK(detail::silu(tiny) == 0.0f);  // tiny / 2 rounds to 0 (RNE)
}

TEST_CASE("silu: within 4 ulp of SiLU in fp64", "[activation]") {
    double worst = 0;
    float worst_at = 0;
    for (float g : silu_inputs()) {
        if (!std::isfinite(g) || std::fabs(g) > 87.0f) continue;
        const double want = double(g) / (1.0 + std::exp(-double(g)));
        if (std::fabs(want) < double(std::numeric_limits<float>::min())) continue;  // subnormal results: absolute error checked below
        const double ulp = std::ldexp(1.0, std::ilogb(float(want)) - 23);
        const double err = std::fabs(double(detail::silu(g)) - want) / ulp;
        if (err > worst) {
            worst = err;
            worst_at = g;
        }
    }
    INFO("worst " << worst << " ulp at g = " << worst_at);
    CHECK(worst <= 4.0);
    // Beyond the cutoff and in the subnormal range the error is absolute and below 2^-118 (|SiLU(g)| < 1.5e-36 for g < -87).
    for (float g : {-87.5f, -90.0f, -100.0f, -1000.0f})
        CHECK(std::fabs(double(detail::silu(g)) - double(g) / (1.0 + std::exp(-double(g)))) < std::ldexp(1.0, -118));
}

TEST_CASE("silu: AVX-512 and AVX2 forms give the scalar bits", "[activation]") {
    const cpu_features& f = detected_cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni && f.os_avx512)
        check_form_bits([](float* h, const float* u, std::int64_t n) { detail::silu_times_avx512(h, u, n); });
    else
        WARN("no AVX-512 here: silu_times_avx512 not run");
    if (f.avx2 && f.fma && f.f16c && f.os_avx)
        check_form_bits([](float* h, const float* u, std::int64_t n) { detail::silu_times_avx2(h, u, n); });
    else
        WARN("no AVX2 + FMA here: silu_times_avx2 not run");
    check_form_bits([](float* h, const float* u, std::int64_t n) { detail::silu_times(h, u, n); });
}
