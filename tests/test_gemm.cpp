// Dense GEMM on every back end against the oracles (format/reference_gemm.hpp).
#include "catch_compat.hpp"
#include "test_support.hpp"

#include <cmath>
#include <cstring>
#include <limits>

using namespace amxmm;
using amxmm_test::kernel_backends;

namespace {

struct gemm_case {
    std::int64_t m, n, k, ldx, ldy;
};

/// Runs one shape on one back end in both modes and checks against the oracles:
/// `exact` bitwise equal to reference_gemm_exact, `fast` within fp32 rounding of reference_gemm_fast.
void check_gemm(const gemm_case& c, isa backend, std::mt19937_64& rng, std::int64_t kc_blocks = 0) {
    const auto w = amxmm_test::make_weight(c.n, c.k, rng);
    const auto x = amxmm_test::make_activations(c.m, c.ldx, rng);
    const auto packed = pack_q4_0_vnni(w.view());

    std::vector<float> want_exact(static_cast<std::size_t>(c.m * c.ldy), 0.0f);
    reference_gemm_exact(c.m, x.data(), c.ldx, w.view(), want_exact.data(), c.ldy);
    std::vector<double> want_fast(static_cast<std::size_t>(c.m * c.ldy), 0.0);
    reference_gemm_fast(c.m, x.data(), c.ldx, w.view(), want_fast.data(), c.ldy);

    for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
        const float sentinel = -12345.0f;  // the padding between rows must stay untouched
        std::vector<float> y(static_cast<std::size_t>(c.m * c.ldy), sentinel);
        gemm_options opt;
        opt.force_isa = backend;
        opt.mode = mode;
        opt.kc_blocks = kc_blocks;
        const gemm_plan plan = gemm_q4_0(packed.view(), c.m, x.data(), c.ldx, y.data(), c.ldy, opt);
        REQUIRE(plan.backend == backend);
        REQUIRE(plan.mode == mode);
        INFO("backend " << to_string(backend) << ", mode " << to_string(mode) << ", m " << c.m << ", n " << c.n
                        << ", k " << c.k);
        std::int64_t mismatches = 0;
        for (std::int64_t i = 0; i < c.m; ++i) {
            for (std::int64_t j = c.n; j < c.ldy; ++j) mismatches += y[i * c.ldy + j] != sentinel;
            for (std::int64_t j = 0; j < c.n; ++j) {
                const float got = y[i * c.ldy + j];
                if (mode == compute_mode::exact) {
                    mismatches += std::memcmp(&got, &want_exact[i * c.ldy + j], sizeof got) != 0;
                } else {
                    double abs_sum = 0;  // Σ |x'·w'| for the rounding bound
                    const auto* xr = x.data() + i * c.ldx;
                    for (std::int64_t kk = 0; kk < c.k; ++kk) {
                        const auto& blk = w.view().row(j)[kk / 32];
                        const float wq = bf16_to_fp32(fp32_to_bf16(fp16_to_fp32(blk.d) * float(q4_0_element(blk, int(kk % 32)))));
                        abs_sum += std::fabs(double(bf16_to_fp32(fp32_to_bf16(xr[kk]))) * wq);
                    }
                    mismatches += !(std::fabs(got - want_fast[i * c.ldy + j]) <= amxmm_test::fp32_sum_bound(c.k, abs_sum));
                }
            }
        }
        CHECK(mismatches == 0);
    }
}

}  // namespace

TEST_CASE("gemm: back ends under test", "[gemm]") {
    WARN("kernel tests run on: " << amxmm_test::backend_names() << "(default: " << default_isa().reason << ")");
    REQUIRE(kernel_backends().size() >= 2);  // at least scalar and amx_emulated
}

TEST_CASE("gemm: every M 1..40 and N 1..80, K in {32, 64, 96, 2048}, all back ends, both modes", "[gemm]") {
    std::mt19937_64 rng(20261125);
    for (isa backend : kernel_backends()) {
        for (std::int64_t k : {32, 64, 96, 2048}) {
            const bool big = k == 2048;
            // Every M with a varying N, then every N with a varying M (all 40 × 80 pairs would be slow).
            for (std::int64_t m = 1; m <= 40; m += big ? 3 : 1)
                check_gemm({m, 1 + (m * 7) % 80, k, k, 1 + (m * 7) % 80}, backend, rng);
            for (std::int64_t n = 1; n <= 80; n += big ? 5 : 1)
                check_gemm({1 + (n * 11) % 40, n, k, k, n}, backend, rng);
        }
    }
}

TEST_CASE("gemm: every (M, N) pair for M 1..40, N 1..80 at K = 32, all back ends, both modes", "[gemm][grid]") {
    std::mt19937_64 rng(31);
    for (isa backend : kernel_backends())
        for (std::int64_t m = 1; m <= 40; ++m)
            for (std::int64_t n = 1; n <= 80; ++n) check_gemm({m, n, 32, 32, n}, backend, rng);
}

TEST_CASE("gemm: large-M column-block path, K chunking, all back ends", "[gemm]") {
    // m >= 65 takes the AMX column-block path (B expanded once per task, K walked in kc chunks).
    std::mt19937_64 rng(17);
    for (isa backend : kernel_backends()) {
        check_gemm({65, 33, 96, 96, 33}, backend, rng, 1);
        check_gemm({97, 50, 320, 330, 51}, backend, rng, 3);
        check_gemm({130, 16, 64, 64, 16}, backend, rng, 0);
        check_gemm({200, 47, 2048, 2048, 47}, backend, rng, 0);
        // K = 21 blocks in chunks of 4..7 (4,4,4,4,4,1 / 5,5,5,5,1 / 6,6,6,3 / 7,7,7): chunks of odd and even
        // lengths, and a last chunk shorter than the others
        for (std::int64_t kc = 4; kc <= 7; ++kc) check_gemm({66, 40, 672, 672, 40}, backend, rng, kc);
    }
}

TEST_CASE("gemm: one large-M task over several column blocks and K chunks gives the call's bytes, both modes", "[gemm]") {
    // gemm_q4_0 narrows its tasks until every hardware thread has a few, so on a small machine each of them
    // may hold one column block and never walk past one. One task spans them all here: 3 row groups, 3 column
    // blocks (the last with one panel), K = 20 blocks in chunks of 1, 3, 7 and 20. Each element must get
    // gemm_q4_0's bytes (its K order does not depend on the task split).
    std::mt19937_64 rng(29);
    const std::int64_t m = 96, n = 80, k = 640;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    // Rows of run_block_task over the whole output. With `stream`, y is 64-byte aligned and its rows 320
    // bytes apart: every full 32-column piece takes strided_rows' streaming stores, the last 16 columns memcpy.
    auto one_task = [&](const auto& a, std::int64_t kc, bool stream) {
        aligned_buffer scratch(std::size_t(kc) * (2048 + 32 * sizeof(float)));  // B operands, then (exact) scales
        std::vector<float> c(3 * 3 * 32 * 32);
        aligned_buffer out(sizeof(float) * std::size_t(m * n));
        float* y = out.as<float>();
        std::fill(y, y + m * n, -12345.0f);
        detail::amx_emu::run_block_task(packed.view(), a, 0, 3, 0, 3, kc, scratch.as<std::uint8_t>(),
                                        scratch.as<float>() + kc * 2048 / 4, c.data(),
                                        detail::strided_rows{y, n, stream});
        return std::vector<float>(y, y + m * n);
    };
    for (compute_mode mode : {compute_mode::fast, compute_mode::exact})
        for (std::int64_t kc : {1, 3, 7, 20}) {
            INFO("mode " << to_string(mode) << ", kc " << kc);
            gemm_options opt;
            opt.force_isa = isa::amx_emulated;
            opt.mode = mode;
            opt.kc_blocks = kc;
            std::vector<float> want(static_cast<std::size_t>(m * n));
            gemm_q4_0(packed.view(), m, x.data(), k, want.data(), n, opt);
            serial_executor ex;
            for (bool stream : {false, true}) {
                INFO("streaming stores " << stream);
                const std::vector<float> y =
                    mode == compute_mode::fast
                        ? one_task(detail::prepare_fast(isa::amx_emulated, m, x.data(), k, k, ex), kc, stream)
                        : one_task(detail::prepare_exact(isa::amx_emulated, m, x.data(), k, k, ex), kc, stream);
                CHECK(std::memcmp(y.data(), want.data(), sizeof(float) * want.size()) == 0);
            }
        }
}

TEST_CASE("gemm: AVX-512 activation preparation gives the scalar bytes", "[gemm][prepare]") {
    if (!isa_supported(isa::avx512_vnni)) {
        WARN("skipped: " << isa_unsupported_reason(isa::avx512_vnni));
        return;
    }
    std::mt19937_64 rng(23);
    // 37 blocks: the AVX-512 version works on 16 blocks at a time, so two full groups and a partial one.
    const std::int64_t m = 40, k = 37 * 32;
    auto x = amxmm_test::make_activations(m, k, rng);
    // Values that exercise roundf's ties and the bf16 rounding: exact halves of the Q8_0 step.
    for (std::int64_t b = 0; b < k / 32; ++b) {
        x[b * 32] = 127.0f;
        x[b * 32 + 1] = 0.5f;
        x[b * 32 + 2] = -2.5f;
        x[b * 32 + 3] = 1.0f + 0x1p-8f;  // bf16 tie
    }
    // Scales at the edges of fp16: zero blocks (d = 0), subnormal fp16 d, fp32-denormal inputs, d past
    // fp16's range (stored as inf), signed zeros; in every 16-block group.
    for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t b : {3, 17, 36}) {
            float* blk = x.data() + i * k + b * 32;
            for (int j = 0; j < 32; ++j) {
                const float sign = (j + i) % 3 == 0 ? -1.0f : 1.0f;
                blk[j] = (i % 5 == 0)   ? 0.0f * sign
                         : (i % 5 == 1) ? sign * 1e-6f * float(j + 1)
                         : (i % 5 == 2) ? sign * 1e-40f * float(j + 1)
                         : (i % 5 == 3) ? sign * 1e37f * float(j + 1)
                                        : sign * 0x1p-14f * 127.0f * float(j) / 31.0f;  // d at fp16's smallest normal
            }
        }
    serial_executor ex;
    // The prepared planes live in per-thread scratch, so copy the first before preparing the second.
    auto copy = [](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        return std::vector<unsigned char>(b, b + n);
    };
    const auto ref = detail::prepare_exact(isa::scalar, m, x.data(), k, k, ex);
    const auto q = copy(ref.q, ref.q_bytes()), d = copy(ref.d, ref.scale_bytes()), s = copy(ref.sums, ref.scale_bytes());
    const auto vec = detail::prepare_exact(isa::avx512_vnni, m, x.data(), k, k, ex);
    CHECK(std::memcmp(q.data(), vec.q, q.size()) == 0);
    CHECK(std::memcmp(d.data(), vec.d, d.size()) == 0);
    CHECK(std::memcmp(s.data(), vec.sums, s.size()) == 0);
    if (detected_cpu_features().avx512_bf16) {
        const auto fr = detail::prepare_fast(isa::scalar, m, x.data(), k, k, ex);
        const auto fx = copy(fr.x, fr.x_bytes());
        const auto fv = detail::prepare_fast(isa::avx512_vnni, m, x.data(), k, k, ex);
        CHECK(std::memcmp(fx.data(), fv.x, fx.size()) == 0);
    }
    // A non-finite value anywhere is reported with its place, by either version.
    for (isa backend : {isa::scalar, isa::avx512_vnni})
        for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), std::nanf("")}) {
            auto xb = x;
            xb[7 * k + 33 * 32 + 9] = bad;
            REQUIRE_THROWS_WITH(detail::prepare_exact(backend, m, xb.data(), k, k, ex),
                                Catch::Matchers::ContainsSubstring("x[7][1065]"));
        }
}

TEST_CASE("gemm: fast preparation of a block range writes those tiles' rows and nothing else", "[gemm][prepare]") {
    std::mt19937_64 rng(29);
    const std::int64_t k = 37 * 32, b0 = 3, b1 = 20;
    const int valid = 5;
    auto x = amxmm_test::make_activations(valid, k, rng);
    x[2 * k + 5 * 32 + 7] = 1.0f + 0x1p-8f;  // a bf16 tie (to even)
    x[4 * k + 19 * 32 + 31] = -0.0f;
    for (isa backend : {isa::scalar, isa::avx512_vnni}) {
        if (backend != isa::scalar && !(isa_supported(backend) && detected_cpu_features().avx512_bf16)) continue;
        INFO("backend " << to_string(backend));
        std::vector<bf16> plane(std::size_t(32 * k));
        const bf16 sentinel{0xABCD};
        std::fill(plane.begin(), plane.end(), sentinel);
        prepared_fast p;
        p.m = p.m_padded = 32;
        p.k = k;
        p.x = plane.data();
        const float* rows[valid];
        for (int j = 0; j < valid; ++j) rows[j] = x.data() + j * k + b0 * 32;  // from block b0 on
        detail::prepare_fast_tiles(backend, p, 0, rows, valid, b0, b1);
        std::int64_t wrong = 0, touched = 0;
        for (std::int64_t b = 0; b < k / 32; ++b)
            for (int r = 0; r < 32; ++r)
                for (int c = 0; c < 32; ++c) {
                    const bf16 got = p.x_row(r, b)[c];
                    if (b >= b0 && b < b1 && r < valid)
                        wrong += got.bits != fp32_to_bf16(x[r * k + b * 32 + c]).bits;
                    else
                        touched += got.bits != sentinel.bits;
                }
        CHECK(wrong == 0);
        CHECK(touched == 0);
    }
    // An operand of streaming_prepare_bytes or more is written with non-temporal stores: same bytes.
    const std::int64_t big_k = 2048, big_m = std::int64_t(detail::streaming_prepare_bytes / (big_k * sizeof(bf16)));
    auto xb = amxmm_test::make_activations(40, big_k, rng);
    auto prepare_big = [&](isa backend) {
        aligned_buffer buf(std::size_t(big_m * big_k) * sizeof(bf16));
        prepared_fast p;
        p.m = p.m_padded = big_m;
        p.k = big_k;
        p.x = reinterpret_cast<bf16*>(buf.data());
        REQUIRE(p.x_bytes() >= detail::streaming_prepare_bytes);
        const float* rows[32];
        for (int j = 0; j < 32; ++j) rows[j] = xb.data() + (j + 8) * big_k + 5 * 32;
        detail::prepare_fast_tiles(backend, p, 3, rows, 32, 5, 61);  // group 3, blocks 5..60
        const auto* first = reinterpret_cast<const unsigned char*>(p.x_row(3 * 32, 5));
        return std::vector<unsigned char>(first, first + 56 * 32 * 32 * sizeof(bf16));
    };
    if (isa_supported(isa::avx512_vnni) && detected_cpu_features().avx512_bf16)
        CHECK(prepare_big(isa::avx512_vnni) == prepare_big(isa::scalar));
}

TEST_CASE("gemm: random shapes with padded row strides", "[gemm]") {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> dm(1, 70), dn(1, 100), dkb(1, 40), dpad(0, 9);
    for (int t = 0; t < 12; ++t) {
        const std::int64_t m = dm(rng), n = dn(rng), k = 32 * dkb(rng);
        const gemm_case c{m, n, k, k + dpad(rng), n + dpad(rng)};
        for (isa backend : kernel_backends()) check_gemm(c, backend, rng);
    }
}

TEST_CASE("gemm: results are bitwise identical for any thread count", "[gemm][threads]") {
    std::mt19937_64 rng(99);
    const std::int64_t m = 67, n = 300, k = 512;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    for (isa backend : kernel_backends()) {
        for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
            gemm_options opt;
            opt.force_isa = backend;
            opt.mode = mode;
            std::vector<float> serial(static_cast<std::size_t>(m * n));
            gemm_q4_0(packed.view(), m, x.data(), k, serial.data(), n, opt, serial_executor{});
            for (int threads : {1, 2, 3, 5}) {
                tbb_executor ex(threads);
                std::vector<float> y(static_cast<std::size_t>(m * n), 0.0f);
                gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, opt, ex);
                INFO("backend " << to_string(backend) << ", mode " << to_string(mode) << ", threads " << threads);
                CHECK(std::memcmp(y.data(), serial.data(), y.size() * sizeof(float)) == 0);
            }
        }
    }
}

TEST_CASE("gemm: a fast-mode row's result does not depend on the call's other rows (row-group pairs)", "[gemm]") {
    // 33-64 rows run the AMX micro-kernels on pairs of row groups (amx_fast_kernel_pair): each row must be
    // what a call on its own row group gives, bit for bit. N = 70 ends on a one-panel column block; K = 96
    // has an odd block count.
    std::mt19937_64 rng(23);
    for (const std::int64_t k : {96, 512}) {
        const std::int64_t n = 70;
        const auto w = amxmm_test::make_weight(n, k, rng);
        const auto packed = pack_q4_0_vnni(w.view());
        for (const std::int64_t m : {33, 47, 48, 64}) {
            const auto x = amxmm_test::make_activations(m, k, rng);
            for (isa backend : kernel_backends()) {
                gemm_options opt;
                opt.force_isa = backend;
                opt.mode = compute_mode::fast;
                std::vector<float> whole(static_cast<std::size_t>(m * n)), part(static_cast<std::size_t>(m * n));
                gemm_q4_0(packed.view(), m, x.data(), k, whole.data(), n, opt);
                for (std::int64_t r0 = 0; r0 < m; r0 += 32)  // each row group alone
                    gemm_q4_0(packed.view(), std::min<std::int64_t>(32, m - r0), x.data() + r0 * k, k, part.data() + r0 * n, n, opt);
                INFO("backend " << to_string(backend) << ", m " << m << ", k " << k);
                CHECK(std::memcmp(whole.data(), part.data(), whole.size() * sizeof(float)) == 0);
            }
        }
    }
}

/// y (m × n) of an exact-mode gemm_q4_0 call on `backend`, x of m rows of k.
static std::vector<float> exact_gemm(isa backend, const packed_q4_0_vnni& packed, std::int64_t m, const float* x, std::int64_t k,
                                     std::int64_t n) {
    gemm_options opt;
    opt.force_isa = backend;
    opt.mode = compute_mode::exact;
    std::vector<float> y(static_cast<std::size_t>(m * n));
    gemm_q4_0(packed.view(), m, x, k, y.data(), n, opt);
    return y;
}

TEST_CASE("gemm: exact mode is bitwise identical across back ends", "[gemm]") {
    std::mt19937_64 rng(5);
    const std::int64_t m = 45, n = 70, k = 320;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    std::vector<float> first;
    for (isa backend : kernel_backends()) {
        const std::vector<float> y = exact_gemm(backend, packed, m, x.data(), k, n);
        if (first.empty()) first = y;
        INFO("backend " << to_string(backend));
        CHECK(std::memcmp(y.data(), first.data(), y.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("gemm: exact mode at the integer sums' extremes (nibbles 0 and 15, Q8_0 values ±127), every back end", "[gemm]") {
    // The AVX2 kernel sums a block's u8·s8 pair products in 16 bits (up to 16 · 15 · 127 = 30480 per lane); these
    // weights and activations reach that bound, and its negative, on every row and column.
    const std::int64_t n = 48, k = 8 * 32;
    std::vector<block_q4_0> w(static_cast<std::size_t>(n * k / 32));
    for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t b = 0; b < k / 32; ++b) {
            block_q4_0& blk = w[static_cast<std::size_t>(r * (k / 32) + b)];
            blk.d = fp32_to_fp16(r % 3 == 2 ? -0.5f : 1.0f);
            // rows 0, 1 (mod 3): every nibble 15 (q - 8 = 7) or 0 (-8); row 2: alternating by block
            const std::uint8_t q = r % 3 == 0 ? 0xFF : r % 3 == 1 ? 0x00 : (b % 2 ? 0xFF : 0x0F);
            std::fill(std::begin(blk.qs), std::end(blk.qs), q);
        }
    const q4_0_matrix_view wv{w.data(), n, k};
    const auto packed = pack_q4_0_vnni(wv);
    for (std::int64_t m : {1, 2, 3, 5, 40}) {
        std::vector<float> x(static_cast<std::size_t>(m * k));
        for (std::int64_t i = 0; i < m; ++i)  // every Q8_0 value ±127: +1 everywhere, -1 everywhere, or by block
            for (std::int64_t kk = 0; kk < k; ++kk)
                x[static_cast<std::size_t>(i * k + kk)] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? -1.0f : ((kk / 32) % 2 ? 2.0f : -3.0f);
        std::vector<float> want(static_cast<std::size_t>(m * n));
        reference_gemm_exact(m, x.data(), k, wv, want.data(), n);
        for (isa backend : kernel_backends()) {
            const std::vector<float> y = exact_gemm(backend, packed, m, x.data(), k, n);
            INFO("backend " << to_string(backend) << ", m " << m);
            CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("gemm: micro-kernel contract — K split with accumulate", "[gemm][kernel]") {
    // Two calls over blocks [0, h) and [h, nb) with accumulate = true on the second must give the
    // one-call result: bitwise in exact mode (the block order is the same), to rounding in fast mode.
    std::mt19937_64 rng(11);
    const std::int64_t m = 29, n = 27, k = 256, nb = k / 32, h = 3;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    serial_executor ex;
    for (isa backend : kernel_backends()) {
        INFO("backend " << to_string(backend));
        for (bool exact : {true, false}) {
            // Prepared activations live in this thread's scratch: prepare the mode under test.
            const auto ae = exact ? detail::prepare_exact(backend, m, x.data(), k, k, ex) : prepared_exact{};
            const auto af = exact ? prepared_fast{} : detail::prepare_fast(backend, m, x.data(), k, k, ex);
            auto run = [&](std::int64_t b0, std::int64_t b1, bool acc, std::vector<float>& y) {
                kernel_block kb;
                kb.m0 = 0; kb.mr = int(m); kb.p0 = 0; kb.np = 2; kb.nr = int(n);
                kb.b0 = b0; kb.b1 = b1; kb.c = y.data(); kb.ldc = n; kb.accumulate = acc;
                if (exact) detail::run_kernel_blocks(backend, packed.view(), ae, &kb, 1);
                else detail::run_kernel_blocks(backend, packed.view(), af, &kb, 1);
            };
            std::vector<float> whole(m * n, 7.0f), split(m * n, 7.0f);
            run(0, nb, false, whole);
            run(0, h, false, split);
            run(h, nb, true, split);
            if (exact) {
                CHECK(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0);
            } else {
                for (std::size_t i = 0; i < whole.size(); ++i) CHECK(split[i] == Approx(whole[i]).margin(1e-3));
            }
        }
    }
}

TEST_CASE("gemm: bad arguments throw amxmm::error and leave y untouched", "[gemm][errors]") {
    std::mt19937_64 rng(3);
    const std::int64_t m = 3, n = 20, k = 64;
    const auto w = amxmm_test::make_weight(n, k, rng);
    auto x = amxmm_test::make_activations(m, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    std::vector<float> y(m * n, 42.0f);
    const auto untouched = [&] {
        for (float v : y)
            if (v != 42.0f) return false;
        return true;
    };
    using Catch::Matchers::ContainsSubstring;
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k - 1, y.data(), n), ContainsSubstring("ldx"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n - 1), ContainsSubstring("ldy"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, nullptr, k, y.data(), n), ContainsSubstring("x is null"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, nullptr, n), ContainsSubstring("y is null"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), -1, x.data(), k, y.data(), n), ContainsSubstring("m = -1"));
    auto misaligned = packed.view();
    misaligned.data += 2;
    REQUIRE_THROWS_WITH(gemm_q4_0(misaligned, m, x.data(), k, y.data(), n), ContainsSubstring("64-byte"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, reinterpret_cast<float*>(x.data()) + 1, n),
                        ContainsSubstring("overlaps"));
    // Strides whose rows would span more than the address space: refused, not wrapped around.
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), std::int64_t(1) << 62, y.data(), n),
                        ContainsSubstring("ldx = 4611686018427387904 with m = 3"));
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, y.data(), std::int64_t(1) << 61),
                        ContainsSubstring("ldy = 2305843009213693952 with m = 3"));
    gemm_options bad_mode;
    bad_mode.mode = compute_mode(7);
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, bad_mode),
                        ContainsSubstring("gemm_q4_0: options.mode = 7 is not a compute_mode"));
    x[k + 5] = std::nanf("");
    gemm_options exact;
    exact.mode = compute_mode::exact;
    REQUIRE_THROWS_WITH(gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, exact), ContainsSubstring("x[1][5]"));
    CHECK(untouched());
    try {
        gemm_q4_0(packed.view(), m, x.data(), k - 1, y.data(), n);
    } catch (const amxmm::error& e) {
        CHECK(e.code() == errc::invalid_argument);
    }
    // m == 0 is a valid no-op.
    CHECK_NOTHROW(gemm_q4_0(packed.view(), 0, nullptr, k, nullptr, n));
}

TEST_CASE("gemm: a kc_blocks past any K only sizes the chunks", "[gemm]") {
    std::mt19937_64 rng(5);
    for (std::int64_t kc : {std::int64_t(1) << 40, std::int64_t(1) << 53, std::numeric_limits<std::int64_t>::max()})
        check_gemm({65, 32, 64, 64, 32}, isa::amx_emulated, rng, kc);  // m >= 65: the chunked large-M path
}

TEST_CASE("gemm: automatic mode and plan reporting", "[gemm]") {
    gemm_options opt;
    opt.force_isa = isa::amx_emulated;
    CHECK(plan_gemm_q4_0(1, opt).mode == compute_mode::exact);
    CHECK(plan_gemm_q4_0(auto_fast_min_rows - 1, opt).mode == compute_mode::exact);
    CHECK(plan_gemm_q4_0(auto_fast_min_rows, opt).mode == compute_mode::fast);
    CHECK(plan_gemm_q4_0(512, opt).mode == compute_mode::fast);
    opt.force_isa = isa::scalar;
    CHECK(plan_gemm_q4_0(512, opt).mode == compute_mode::exact);
    CHECK_FALSE(plan_gemm_q4_0(512, opt).reason.empty());
    if (!isa_supported(isa::amx)) {
        opt.force_isa = isa::amx;
        REQUIRE_THROWS_AS(plan_gemm_q4_0(1, opt), amxmm::error);
    }
}
