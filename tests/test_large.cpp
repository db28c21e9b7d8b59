// A weight larger than 4 GiB: packing and GEMM must not truncate a byte offset or an element index to
// 32 bits anywhere. Hidden ("[.]"): it needs ~9 GB of memory and some seconds; run it with
//
//     amxmm_tests "[large]"
//
// W is K = 16384 by N = 480000: 7.86e9 elements (> 2^32), 4.42 GB as GGUF Q4_0 and 4.42 GB packed (> 4 GiB).
// Checking all of it would need a third copy, so the test checks spot panels — the first ones, the last
// one and those whose byte range straddles 2^31 and 2^32 (and the panel where the element index crosses
// 2^32) — and a GEMM over the whole weight whose output columns at the same places are compared bit for
// bit with reference_gemm_exact on just those rows. Timings are printed, never asserted.

#include <amxmm/amxmm.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "catch_compat.hpp"

namespace {

using amxmm::block_q4_0;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// splitmix64: a fast, seedable generator for filling gigabytes.
struct splitmix64 {
    std::uint64_t s;
    std::uint64_t operator()() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

}  // namespace

TEST_CASE("q4_0_vnni: a weight over 4 GiB (more than 2^32 elements) packs, unpacks and multiplies", "[.][large]") {
    constexpr std::int64_t K = 16384, N = 480000, nb = K / amxmm::block_k;
    constexpr std::int64_t two31 = std::int64_t(1) << 31, two32 = std::int64_t(1) << 32;
    static_assert(N * K > two32, "more than 2^32 elements");
    const std::int64_t source_bytes = N * nb * std::int64_t(sizeof(block_q4_0));
    amxmm::tbb_executor ex;
    INFO("executor threads: " << ex.concurrency());

    // ---- source: random nibbles, small finite scales (|d| in [2^-10, 2^-4)) ----------------------------
    auto t0 = std::chrono::steady_clock::now();
    amxmm::aligned_buffer source_buf(static_cast<std::size_t>(source_bytes));
    block_q4_0* src = source_buf.as<block_q4_0>();
    constexpr std::int64_t rows_per_task = 1024;
    ex.parallel_for((N + rows_per_task - 1) / rows_per_task, [&](std::int64_t t) {
        splitmix64 g{0x1a26e'0000ull + static_cast<std::uint64_t>(t)};
        const std::int64_t b_end = std::min(N, (t + 1) * rows_per_task) * nb;
        for (std::int64_t i = t * rows_per_task * nb; i < b_end; ++i) {
            block_q4_0 b;
            const std::uint64_t lo = g(), hi = g();
            const std::uint64_t s = hi >> 48;  // 16 bits for the scale: sign, exponent field 5..10, mantissa
            b.d.bits = static_cast<std::uint16_t>(((s & 0x8000u)) | (((s >> 10) % 6 + 5) << 10) | (s & 0x3ffu));
            std::memcpy(b.qs, &lo, 8);
            std::memcpy(b.qs + 8, &hi, 8);  // (the scale's bits also land in qs; harmless)
            std::memcpy(src + i, &b, sizeof b);
        }
    });
    const double fill_s = seconds_since(t0);
    const amxmm::q4_0_matrix_view w{src, N, K};

    // ---- pack ---------------------------------------------------------------------------------------------
    t0 = std::chrono::steady_clock::now();
    amxmm::packed_q4_0_vnni packed = amxmm::pack_q4_0_vnni(w, ex);
    const double pack_s = seconds_since(t0);
    const amxmm::packed_q4_0_vnni_view v = packed.view();
    // Packing again into the same (now resident) buffer separates the packer's speed from the cost of
    // the OS handing out 4 GB of fresh pages; it writes the same bytes, which the checks below read.
    t0 = std::chrono::steady_clock::now();
    ex.parallel_for(v.layout.panels(), [&](std::int64_t p) {
        amxmm::detail::pack_q4_0_vnni_panel(w, v.layout, p, packed.data() + p * v.layout.panel_bytes());
    });
    const double repack_s = seconds_since(t0);
    const std::int64_t pb = v.layout.panel_bytes(), panels = v.layout.panels();
    REQUIRE(v.layout.total_bytes() > two32);
    REQUIRE(packed.size_bytes() == static_cast<std::size_t>(v.layout.total_bytes()));
    REQUIRE(amxmm::is_aligned(packed.data(), 64));
    WARN("large weight " << N << " x " << K << ": source " << source_bytes / 1e9 << " GB filled in " << fill_s
                         << " s; packed " << packed.size_bytes() / 1e9 << " GB in " << pack_s << " s = "
                         << source_bytes / 1e9 / pack_s << " GB/s of source (" << ex.concurrency()
                         << " threads); into resident memory " << repack_s << " s = " << source_bytes / 1e9 / repack_s
                         << " GB/s");

    // ---- spot unpack ------------------------------------------------------------------------------------
    // Panels whose bytes straddle a power of two, their neighbours, the first and last panels, the panel
    // where the element index (row * K) crosses 2^32, and a few random ones.
    std::set<std::int64_t> spot = {0, 1, 2, panels - 2, panels - 1, two32 / K / 16 - 1, two32 / K / 16};
    for (std::int64_t t : {two31, two32}) {
        const std::int64_t p = t / pb;
        REQUIRE(p * pb < t);
        REQUIRE((p + 1) * pb > t);  // packed panel p straddles t
        spot.insert({p - 1, p, p + 1});
        spot.insert(t / (16 * nb * std::int64_t(sizeof(block_q4_0))));  // source rows straddling t
    }
    std::mt19937_64 pick(7);
    for (int i = 0; i < 8; ++i) spot.insert(static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(panels)));

    // The output is the size of the whole weight but only the spot panels' pages are ever touched.
    amxmm::aligned_buffer unpacked(static_cast<std::size_t>(source_bytes));
    for (std::int64_t p : spot) {
        INFO("panel " << p << " (packed bytes " << p * pb << " .. " << (p + 1) * pb << ")");
        amxmm::detail::unpack_q4_0_vnni_panel(v, p, unpacked.as<block_q4_0>());
        const std::int64_t r0 = 16 * p, r1 = std::min(N, r0 + 16);
        REQUIRE(std::memcmp(unpacked.as<block_q4_0>() + r0 * nb, src + r0 * nb,
                            static_cast<std::size_t>((r1 - r0) * nb) * sizeof(block_q4_0)) == 0);
    }

    // ---- GEMM over the whole weight, sampled columns against the reference ------------------------------
    struct window {
        std::int64_t n0, count;
    };
    std::vector<window> windows = {{0, 16}, {N - 16, 16}, {two32 / K - 16, 32}};  // element index 2^32 at row two32/K
    for (std::int64_t t : {two31, two32}) {
        windows.push_back({t / pb * 16 - 16, 48});                                     // packed panel straddling t
        windows.push_back({t / (nb * std::int64_t(sizeof(block_q4_0))) - 16, 32});  // source row straddling t
    }
    amxmm::gemm_options opt;
    opt.mode = amxmm::compute_mode::exact;
    for (std::int64_t m : {1, 3}) {
        std::vector<float> x(static_cast<std::size_t>(m * K));
        std::mt19937_64 gx(100 + static_cast<std::uint64_t>(m));
        for (float& xi : x) xi = std::uniform_real_distribution<float>(-1.0f, 1.0f)(gx);
        std::vector<float> y(static_cast<std::size_t>(m * N), -12345.0f);
        t0 = std::chrono::steady_clock::now();
        const amxmm::gemm_plan plan = amxmm::gemm_q4_0(v, m, x.data(), K, y.data(), N, opt, ex);
        const double gemm_s = seconds_since(t0);
        WARN("gemm_q4_0 m = " << m << " over the large weight: " << gemm_s << " s, "
                              << packed.size_bytes() / 1e9 / gemm_s << " GB/s of weights; plan: " << plan.reason);
        CHECK(plan.mode == amxmm::compute_mode::exact);
        for (const window& win : windows) {
            INFO("m = " << m << ", output columns " << win.n0 << " .. " << win.n0 + win.count - 1);
            REQUIRE(win.n0 >= 0);
            REQUIRE(win.n0 + win.count <= N);
            std::vector<float> want(static_cast<std::size_t>(m * win.count));
            amxmm::reference_gemm_exact(m, x.data(), K, {src + win.n0 * nb, win.count, K}, want.data(), win.count);
            std::int64_t mismatches = 0;
            for (std::int64_t i = 0; i < m; ++i)
                for (std::int64_t j = 0; j < win.count; ++j) {
                    const float got = y[static_cast<std::size_t>(i * N + win.n0 + j)];
                    const float ref = want[static_cast<std::size_t>(i * win.count + j)];
                    if (std::memcmp(&got, &ref, sizeof got) != 0 && ++mismatches <= 3) {
                        INFO("y[" << i << "][" << win.n0 + j << "] = " << got << ", reference " << ref);
                        CHECK(got == ref);
                    }
                }
            CHECK(mismatches == 0);
        }
    }
}
