#include "catch_compat.hpp"

// moe_ffn's SiLU and GELU (include/amxmm/kernel/activation.hpp): the AVX2 and AVX-512 forms give the
// scalar definitions' bits (compared as bit patterns, NaN excepted), and the definitions stay within a
// few ulp of the functions computed in fp64.

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

float act(bool gelu, float g) { return gelu ? detail::gelu_tanh(g) : detail::silu(g); }

/// The functions in fp64. GELU as g·σ(2u), equal to 0.5·g·(1 + tanh(u)) but without its cancellation
/// for negative g (1 + tanh(u) loses all digits in fp64 once u < -19).
double act64(bool gelu, double g) {
    const double z = gelu ? 2.0 * std::sqrt(2.0 / 3.14159265358979323846) * g * (1.0 + 0.044715 * g * g) : g;
    return g / (1.0 + std::exp(-z));
}

/// A form with u = 1 is the activation itself (the product by 1 is exact).
template <class Fn>
void check_form_bits(bool gelu, Fn form) {
    const std::vector<float> in = silu_inputs();
    for (std::size_t len : {in.size(), std::size_t(1), std::size_t(7), std::size_t(15), std::size_t(17), std::size_t(33)}) {
        std::vector<float> h(in.begin(), in.begin() + std::ptrdiff_t(len)), u(len, 1.0f);
        form(h.data(), u.data(), std::int64_t(len));
        std::size_t mismatches = 0;
        for (std::size_t i = 0; i < len; ++i) {
            const float want = act(gelu, in[i]);
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
        const float want = act(gelu, in[i]) * u[i];
        if (std::isnan(want) ? !std::isnan(h[i]) : bits_of(h[i]) != bits_of(want)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("silu, gelu_tanh: special values and the cutoff", "[activation]") {
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
    CHECK(bits_of(detail::gelu_tanh(0.0f)) == bits_of(0.0f));
    CHECK(detail::gelu_tanh(inf) == inf);
    CHECK(std::isnan(detail::gelu_tanh(std::numeric_limits<float>::quiet_NaN())));
    CHECK(detail::gelu_tanh(10.0f) == 10.0f);
    CHECK(bits_of(detail::gelu_tanh(-10.0f)) == bits_of(-0.0f));
}

TEST_CASE("silu, gelu_tanh: within 4 ulp of the functions in fp64 (GELU: + 3·|z|)", "[activation]") {
    for (bool gelu : {false, true}) {
        double worst = 0;
        float worst_at = 0;
        auto z_of = [&](double g) { return gelu ? 2.0 * std::sqrt(2.0 / 3.14159265358979323846) * g * (1.0 + 0.044715 * g * g) : g; };
        for (float g : silu_inputs()) {
            if (!std::isfinite(g) || std::fabs(z_of(g)) > 86.9) continue;  // beyond the cutoff: checked below
            const double want = act64(gelu, double(g));
            if (std::fabs(want) < double(std::numeric_limits<float>::min())) {  // a subnormal result: a few of its ulps
                CHECK(std::fabs(double(act(gelu, g)) - want) <= 4 * double(std::numeric_limits<float>::denorm_min()));
                continue;
            }
            const double ulp = std::ldexp(1.0, std::ilogb(float(want)) - 23);
            // GELU's z carries up to 3 fp32 roundings, and e^-|z| turns z's absolute error into a
            // relative one: up to 3·|z| ulp more where |z| is large (the tail, g < -3 or so).
            const double err = std::fabs(double(act(gelu, g)) - want) / ulp - (gelu ? 3.0 * std::fabs(z_of(g)) : 0.0);
            if (err > worst) {
                worst = err;
                worst_at = g;
            }
        }
        INFO((gelu ? "gelu_tanh" : "silu") << ": worst " << worst << " ulp (beyond GELU's 3·|z|) at g = " << worst_at);
        CHECK(worst <= 4.0);
        // Beyond the cutoff (z < -87: g < -87, or g < -9.99 for GELU) the result is -0 and the error,
        // absolute, below 2^-118.
        for (float g : silu_inputs())
            if (std::isfinite(g) && z_of(g) < -87.1) CHECK(std::fabs(double(act(gelu, g)) - act64(gelu, double(g))) < std::ldexp(1.0, -118));
    }
}

TEST_CASE("silu, gelu_tanh: AVX-512 and AVX2 forms give the scalar bits", "[activation]") {
    const bool avx512 = isa_supported(isa::avx512_vnni), avx2 = isa_supported(isa::avx2);
    if (!avx512) WARN("no AVX-512 here: act_times_avx512 not run");
    if (!avx2) WARN("no AVX2 + FMA here: act_times_avx2 not run");
    for (bool gelu : {false, true}) {
        INFO((gelu ? "gelu_tanh" : "silu"));
        if (avx512)
            check_form_bits(gelu, [&](float* h, const float* u, std::int64_t n) {
                gelu ? detail::act_times_avx512<true>(h, u, n) : detail::act_times_avx512<false>(h, u, n);
            });
        if (avx2)
            check_form_bits(gelu, [&](float* h, const float* u, std::int64_t n) {
                gelu ? detail::act_times_avx2<true>(h, u, n) : detail::act_times_avx2<false>(h, u, n);
            });
        check_form_bits(gelu, [&](float* h, const float* u, std::int64_t n) { detail::act_times(gelu, h, u, n); });
    }
}
