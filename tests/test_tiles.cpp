// The tile contract: the emulator against the instruction definitions, the emulator against real
// AMX where the machine has it, and the borrowed tile configuration.
#include "catch_compat.hpp"
#include "test_support.hpp"

#include <amxmm/kernel/amx_tile_kernel.hpp>

#include <cmath>
#include <cstring>

using namespace amxmm;
using detail::amx_emulated_tiles;

namespace {

struct tile_operands {
    alignas(64) std::uint8_t a[16 * 64];
    alignas(64) std::uint8_t b[16 * 64];
    alignas(64) std::uint8_t c[16 * 64];
};

void fill_random(tile_operands& t, std::mt19937_64& rng) {
    for (auto* p : {t.a, t.b, t.c})
        for (int i = 0; i < 16 * 64; ++i) p[i] = static_cast<std::uint8_t>(rng());
}

/// Random bf16 tiles of finite values with a spread of exponents, plus some denormals and zeros.
void fill_random_bf16(tile_operands& t, std::mt19937_64& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto* p : {t.a, t.b}) {
        auto* h = reinterpret_cast<bf16*>(p);
        for (int i = 0; i < 16 * 32; ++i) {
            float v = nd(rng) * std::ldexp(1.0f, int(rng() % 12) - 6);
            if (rng() % 61 == 0) v = 0.0f;
            h[i] = fp32_to_bf16(v);
            if (rng() % 97 == 0) h[i].bits = static_cast<std::uint16_t>((rng() & 0x807f) | 1);  // denormal
        }
    }
    auto* c = reinterpret_cast<float*>(t.c);
    for (int i = 0; i < 16 * 16; ++i) c[i] = nd(rng);
}

/// TDPBSSD by its definition: C[m][n] += Σ_k Σ_i A[m][4k+i] · B[k][4n+i], int32 wrap-around.
void dp_int8_definition(const tile_operands& t, int rows, int a_colsb, std::int32_t* out) {
    for (int m = 0; m < rows; ++m)
        for (int n = 0; n < 16; ++n) {
            std::int64_t acc = reinterpret_cast<const std::int32_t*>(t.c)[m * 16 + n];
            for (int k = 0; k < a_colsb / 4; ++k)
                for (int i = 0; i < 4; ++i)
                    acc += std::int64_t(std::int8_t(t.a[m * 64 + 4 * k + i])) * std::int8_t(t.b[k * 64 + 4 * n + i]);
            out[m * 16 + n] = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc));
        }
}

template <class Tiles>
void run_dp(const tile_operands& t, bool bf16_op, const tile_config& cfg, void* out) {
    Tiles::load_config(cfg);
    Tiles::template load<c00>(t.c, 64);
    Tiles::template load<a0>(t.a, 64);
    Tiles::template load<b0>(t.b, 64);
    if (bf16_op)
        Tiles::template dp_bf16<c00, a0, b0>();
    else
        Tiles::template dp_int8<c00, a0, b0>();
    Tiles::template store<c00>(out, 64);
    Tiles::release();
}

AMXMM_TARGET_AMX void run_dp_hardware(const tile_operands& t, bool bf16_op, const tile_config& cfg, void* out) {
    run_dp<detail::amx_tiles>(t, bf16_op, cfg, out);
}

tile_config full_config() { return fast_mode_tile_config(); }  // every tile (16, 64 B)

}  // namespace

TEST_CASE("amx_emulated: dp_int8 equals the TDPBSSD definition", "[tiles]") {
    std::mt19937_64 rng(1);
    tile_operands t;
    for (int it = 0; it < 200; ++it) {
        fill_random(t, rng);
        std::int32_t want[256], got[256];
        dp_int8_definition(t, 16, 64, want);
        run_dp<amx_emulated_tiles>(t, false, full_config(), got);
        REQUIRE(std::memcmp(want, got, sizeof want) == 0);
    }
    // Shorter K (the exact-mode configuration: A (16, 32 B), B (8, 64 B)).
    fill_random(t, rng);
    std::int32_t want[256], got[256];
    dp_int8_definition(t, 16, 32, want);
    run_dp<amx_emulated_tiles>(t, false, exact_mode_tile_config(), got);
    REQUIRE(std::memcmp(want, got, sizeof want) == 0);
}

TEST_CASE("amx_emulated: dp_bf16 follows the documented numerics", "[tiles]") {
    // Two products added in turn, each sum rounded to fp32; denormal inputs read as zero.
    tile_operands t{};
    auto* a = reinterpret_cast<bf16*>(t.a);
    auto* b = reinterpret_cast<bf16*>(t.b);
    auto* c = reinterpret_cast<float*>(t.c);
    // C[0][0] = 1, A[0][0..1] = (2^-24, 2^-24) · B = (1, 1): each product alone is lost to rounding
    // (1 + 2^-24 ties to 1), which a wider accumulator would not do.
    c[0] = 1.0f;
    a[0] = fp32_to_bf16(0x1p-24f);
    a[1] = fp32_to_bf16(0x1p-24f);
    b[0] = fp32_to_bf16(1.0f);
    b[1] = fp32_to_bf16(1.0f);
    // C[0][1]: a denormal bf16 input contributes nothing.
    b[2] = bf16{0x0001};
    a[2] = a[3] = fp32_to_bf16(0.0f);
    b[3] = fp32_to_bf16(1.0f);
    c[1] = 3.0f;
    a[0 + 0] = fp32_to_bf16(0x1p-24f);
    float out[256];
    run_dp<amx_emulated_tiles>(t, true, full_config(), out);
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == 3.0f);
}

TEST_CASE("amx_emulated: loads zero what the configuration excludes; misuse throws", "[tiles]") {
    tile_operands t;
    std::mt19937_64 rng(2);
    fill_random(t, rng);
    auto cfg = exact_mode_tile_config();  // B tiles: 8 rows
    amx_emulated_tiles::load_config(cfg);
    amx_emulated_tiles::load<b0>(t.b, 64);
    std::uint8_t out[16 * 64];
    std::memset(out, 0xAB, sizeof out);
    amx_emulated_tiles::store<b0>(out, 64);
    CHECK(std::memcmp(out, t.b, 8 * 64) == 0);
    CHECK(out[8 * 64] == 0xAB);  // only the configured 8 rows are stored
    amx_emulated_tiles::release();
    CHECK_THROWS_AS(amx_emulated_tiles::zero<c00>(), amxmm::error);  // no configuration: #UD on hardware
    tile_config bad = full_config();
    bad.set_tile(a0, 16, 32);  // A (16, 32 B) with B (16, 64 B): K does not chain
    amx_emulated_tiles::load_config(bad);
    CHECK_THROWS_AS((amx_emulated_tiles::dp_int8<c00, a0, b0>()), amxmm::error);
    amx_emulated_tiles::release();
}

TEST_CASE("amx_emulated: the kernels give the caller's tile configuration back", "[tiles][gemm]") {
    std::mt19937_64 rng(3);
    const auto w = amxmm_test::make_weight(40, 128, rng);
    const auto x = amxmm_test::make_activations(5, 128, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    std::vector<float> y(5 * 40);
    tile_config theirs = detail::make_tile_config(3, 12, 5, 20);  // some other library's configuration
    for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
        amx_emulated_tiles::load_config(theirs);
        gemm_options opt;
        opt.force_isa = isa::amx_emulated;
        opt.mode = mode;
        gemm_q4_0(packed.view(), 5, x.data(), 128, y.data(), 40, opt);
        tile_config now;
        amx_emulated_tiles::store_config(now);
        CHECK(now == theirs);
    }
    amx_emulated_tiles::release();
}

#if defined(__x86_64__)
TEST_CASE("amx: hardware tiles agree with the emulator", "[tiles][amx]") {
    if (!isa_supported(isa::amx)) {
        WARN("AMX hardware comparison skipped: " << isa_unsupported_reason(isa::amx));
        return;
    }
    std::mt19937_64 rng(4);
    tile_operands t;
    // int8: bitwise identical.
    std::int64_t int8_mismatch = 0;
    for (int it = 0; it < 2000; ++it) {
        fill_random(t, rng);
        std::int32_t hw[256], emu[256];
        run_dp_hardware(t, false, full_config(), hw);
        run_dp<amx_emulated_tiles>(t, false, full_config(), emu);
        int8_mismatch += std::memcmp(hw, emu, sizeof hw) != 0;
    }
    CHECK(int8_mismatch == 0);
    // bf16: count differing elements and the largest difference relative to Σ|products| + |C|.
    std::int64_t differ = 0, total = 0;
    double worst = 0.0;
    for (int it = 0; it < 2000; ++it) {
        fill_random_bf16(t, rng);
        float hw[256], emu[256];
        run_dp_hardware(t, true, full_config(), hw);
        run_dp<amx_emulated_tiles>(t, true, full_config(), emu);
        const auto* a = reinterpret_cast<const bf16*>(t.a);
        const auto* b = reinterpret_cast<const bf16*>(t.b);
        const auto* c = reinterpret_cast<const float*>(t.c);
        for (int m = 0; m < 16; ++m)
            for (int n = 0; n < 16; ++n) {
                double mag = std::fabs(c[m * 16 + n]);
                for (int k = 0; k < 32; ++k)
                    mag += std::fabs(double(bf16_to_fp32(a[m * 32 + k])) * bf16_to_fp32(b[(k / 2) * 32 + 2 * n + k % 2]));
                ++total;
                if (std::memcmp(&hw[m * 16 + n], &emu[m * 16 + n], 4) != 0) {
                    ++differ;
                    worst = std::max(worst, std::fabs(double(hw[m * 16 + n]) - emu[m * 16 + n]) / mag);
                }
            }
    }
    WARN("AMX bf16 hardware vs emulator: " << differ << " of " << total << " elements differ; largest difference "
                                           << worst << " of (|C| + Σ|a·b|)  (2^-24 = " << 0x1p-24 << ")");
    CHECK(worst <= 33 * 0x1p-24);  // bounded by fp32 rounding of a 33-term sum in any order
}

TEST_CASE("amx: hardware kernels give the caller's tile configuration back and match the emulator", "[tiles][amx][gemm]") {
    if (!isa_supported(isa::amx)) {
        WARN("AMX hardware kernel checks skipped: " << isa_unsupported_reason(isa::amx));
        return;
    }
    std::mt19937_64 rng(5);
    const std::int64_t m = 37, n = 75, k = 2048;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    const tile_config theirs = detail::make_tile_config(3, 12, 5, 20);
    for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
        std::vector<float> hw(m * n), emu(m * n);
        gemm_options opt;
        opt.mode = mode;
        opt.force_isa = isa::amx_emulated;
        gemm_q4_0(packed.view(), m, x.data(), k, emu.data(), n, opt);
        detail::amx_tiles::load_config(theirs);
        opt.force_isa = isa::amx;
        gemm_q4_0(packed.view(), m, x.data(), k, hw.data(), n, opt);
        tile_config now;
        detail::amx_tiles::store_config(now);
        detail::amx_tiles::release();
        CHECK(now == theirs);
        std::int64_t differ = 0;
        double worst = 0;
        for (std::size_t i = 0; i < hw.size(); ++i) {
            differ += std::memcmp(&hw[i], &emu[i], 4) != 0;
            worst = std::max(worst, double(std::fabs(hw[i] - emu[i])));
        }
        if (mode == compute_mode::exact) {
            CHECK(differ == 0);
        } else {
            WARN("AMX fast-mode GEMM " << m << "x" << n << "x" << k << ", hardware vs emulator: " << differ << " of "
                                       << hw.size() << " outputs differ, largest absolute difference " << worst);
        }
    }
}
#endif
