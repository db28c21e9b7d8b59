// Dense GEMM / GEMV on the GPU against the CPU oracles on the same inputs: fp64 (reference_gemm_fp64,
// bound from bf16 / fp32 rounding), the `fast`-mode operands in fp64 (reference_gemm_fast, fp32 bound),
// and the CPU fast path itself; every path, m = 1..300 and 2048, N not a multiple of the tiles; bad input.
#include "cuda_support.cuh"
#include "error_capture.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace amxmm;
using namespace amxmm_cuda_test;

namespace {

struct dense_case {
    std::int64_t n, k;
    amxmm_test::random_weight w;
    dequantized deq;
    cuda::q4_0_weight gpu;
    packed_q4_0_vnni cpu;
};

dense_case make_case(std::int64_t n, std::int64_t k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    dense_case c{n, k, amxmm_test::make_weight(n, k, rng), {}, {}, {}};
    c.deq = dequantize(c.w.blocks, n, k);
    c.gpu = cuda::q4_0_weight::upload(c.w.view());
    c.cpu = pack_q4_0_vnni(c.w.view());
    return c;
}

/// Runs one GPU product (path forced or automatic) and checks it against every oracle.
void check_dense(cuda::context& ctx, const dense_case& c, std::int64_t m, cuda::gemm_path path, std::int64_t ldx_pad,
                 std::int64_t ldy_pad, std::uint64_t seed) {
    const std::int64_t n = c.n, k = c.k, ldx = k + ldx_pad, ldy = n + ldy_pad;
    std::mt19937_64 rng(seed);
    const std::vector<float> x = amxmm_test::make_activations(m, ldx, rng);
    cuda::gemm_options opt;
    opt.path = path;
    opt.mode = compute_mode::fast;  // the fp32 gemv / bf16 numerics (exact: the exact gemv tests below)
    const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(m, c.gpu.layout(), opt, ctx.features());
    CAPTURE(m, n, k, ldx, ldy, cuda::to_string(plan.path), plan.reason);
    ctx.reserve(plan.workspace_bytes);
    dev_vec<float> xd(x), yd(std::size_t(m * ldy));
    yd.fill_bytes(0x7f);  // a sentinel in the padding columns
    const cuda::gemm_plan ran = cuda::gemm_q4_0(ctx, c.gpu.view(), m, xd.data(), ldx, yd.data(), ldy, opt, nullptr);
    CHECK(ran.path == plan.path);
    const std::vector<float> y = yd.download();

    // determinism: the same call again gives the same bits
    dev_vec<float> y2d(std::size_t(m * ldy));
    y2d.fill_bytes(0x7f);
    cuda::gemm_q4_0(ctx, c.gpu.view(), m, xd.data(), ldx, y2d.data(), ldy, opt, nullptr);
    const std::vector<float> y2 = y2d.download();
    CHECK(std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) == 0);

    const bool bf16_ops = plan.path != cuda::gemm_path::gemv;
    std::vector<double> fast(std::size_t(m * n));
    reference_gemm_fast(m, x.data(), ldx, c.w.view(), fast.data(), n);
    std::vector<float> cpu(std::size_t(m * n));
    gemm_options copt;
    copt.mode = compute_mode::fast;
    gemm_q4_0(c.cpu.view(), m, x.data(), ldx, cpu.data(), n, copt);

    std::int64_t bad = 0, pad_touched = 0;
    for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = ldy - ldy_pad; j < ldy; ++j) {
            std::uint32_t bits;
            std::memcpy(&bits, &y[std::size_t(i * ldy + j)], 4);
            pad_touched += bits != 0x7f7f7f7fu;
        }
        for (std::int64_t j = 0; j < n; ++j) {
            double exact = 0, abs_sum = 0, abs_sum_bf = 0;
            const double* wr = c.deq.row(j);
            const double* wb = c.deq.row_bf(j);
            for (std::int64_t kk = 0; kk < k; ++kk) {
                const double xv = x[std::size_t(i * ldx + kk)];
                exact += xv * wr[kk];
                abs_sum += std::fabs(xv * wr[kk]);
                abs_sum_bf += std::fabs(bf16_round(xv) * wb[kk]);
            }
            const double got = y[std::size_t(i * ldy + j)];
            const double fp32_bound = tolerance(false, k, abs_sum_bf);
            bool ok = std::isfinite(got) && std::fabs(got - exact) <= tolerance(bf16_ops, k, abs_sum);
            if (bf16_ops) {
                ok = ok && std::fabs(got - fast[std::size_t(i * n + j)]) <= fp32_bound;
                ok = ok && std::fabs(got - double(cpu[std::size_t(i * n + j)])) <= 2 * fp32_bound;
            }
            if (!ok && bad++ < 5) {
                UNSCOPED_INFO("y[" << i << "][" << j << "] = " << got << ", fp64 " << exact << ", fast-operand fp64 "
                                   << fast[std::size_t(i * n + j)] << ", CPU fast " << cpu[std::size_t(i * n + j)]
                                   << ", bound " << tolerance(bf16_ops, k, abs_sum));
            }
        }
    }
    CHECK(bad == 0);
    CHECK(pad_touched == 0);
}

}  // namespace

TEST_CASE("cuda gemm: every path against the CPU oracles, m = 1..300", "[cuda][gemm]") {
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    // N not a multiple of the tiles (16 for gemv, 128 for mma); K with an odd block count (96, 160).
    for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{40, 96}, {200, 160}, {130, 64}, {264, 512}}) {
        const dense_case c = make_case(n, k, std::uint64_t(n * 7 + k));
        for (std::int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 31, 33, 64, 65, 100, 129, 300}) {
            if (m <= cuda::gemv_max_rows) check_dense(ctx, c, m, cuda::gemm_path::gemv, 0, 0, std::uint64_t(m));
            check_dense(ctx, c, m, cuda::gemm_path::mma, m % 3, m % 2, std::uint64_t(m + 1));
            if (m % 4 == 1 || m == 300) check_dense(ctx, c, m, cuda::gemm_path::dequant_cublas, 0, 3, std::uint64_t(m + 2));
            if (ctx.features().wgmma) check_dense(ctx, c, m, cuda::gemm_path::wgmma, m % 2, m % 3, std::uint64_t(m + 4));
            check_dense(ctx, c, m, cuda::gemm_path::automatic, 5, 0, std::uint64_t(m + 3));
        }
    }
}

TEST_CASE("cuda gemm: the wgmma kernel with K split into slices (uneven, K % 64 == 32)", "[cuda][gemm][wgmma]") {
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    if (!ctx.features().wgmma) {
        WARN("SKIPPED (no wgmma kernel on this device/build: needs sm_90 and CMAKE_CUDA_ARCHITECTURES 90a)");
        return;
    }
    // K = 2080: 33 steps of 64, the last half empty; few row tiles, so the call splits K (9, 9, 9, 6 steps).
    const dense_case c = make_case(200, 2080, 21);
    for (std::int64_t m : {9, 100, 129, 256}) {  // up to wgmma_split_max_rows
        cuda::gemm_options o;
        o.path = cuda::gemm_path::wgmma;
        const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(m, c.gpu.layout(), o, ctx.features());
        CAPTURE(m, plan.k_splits);
        CHECK(plan.k_splits > 1);
        check_dense(ctx, c, m, cuda::gemm_path::wgmma, 3, 1, std::uint64_t(m + 30));
    }
}

TEST_CASE("cuda gemm plan: automatic picks wgmma only where the device has it, by m and weight size", "[cuda][gemm][plan]") {
    // Host-only: runs without a GPU.
    const cuda::q4_0_device_layout small{1, 4096, 2048}, square{1, 4096, 4096}, large{1, 14336, 4096};
    const cuda::gpu_features hopper{true}, other{};
    CHECK(cuda::plan_gemm_q4_0(64, square, {}, hopper).path == cuda::gemm_path::wgmma);  // N·K = 2^24
    CHECK(cuda::plan_gemm_q4_0(64, square, {}, other).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(9, square, {}, hopper).path == cuda::gemm_path::wgmma);
    CHECK(cuda::plan_gemm_q4_0(256, square, {}, hopper).path == cuda::gemm_path::wgmma);
    CHECK(cuda::plan_gemm_q4_0(257, square, {}, hopper).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(256, large, {}, hopper).path == cuda::gemm_path::wgmma);
    CHECK(cuda::plan_gemm_q4_0(512, large, {}, hopper).path == cuda::gemm_path::dequant_cublas);
    // a weight under 2^24 elements: dequant_cublas above the gemv, wgmma or not
    for (std::int64_t m : {9, 64, 128, 256}) CHECK(cuda::plan_gemm_q4_0(m, small, {}, hopper).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(64, small, {}, hopper).reason.find("N·K < 2^24") != std::string::npos);
    CHECK(cuda::plan_gemm_q4_0(4, small, {}, hopper).path == cuda::gemm_path::gemv);
    // the workspace query without a context is an upper bound (planned as without wgmma)
    CHECK(cuda::gemm_workspace_bytes(64, small) == cuda::plan_gemm_q4_0(64, small, {}, other).workspace_bytes);
    CHECK(cuda::gemm_workspace_bytes(64, small) >= cuda::plan_gemm_q4_0(64, small, {}, hopper).workspace_bytes);
    // split K: few row tiles and long K split; the slices are never empty
    const cuda::gemm_plan p = cuda::plan_gemm_q4_0(16, large, {}, hopper);
    CHECK(p.k_splits == 2);
    CHECK(cuda::plan_gemm_q4_0(16, cuda::q4_0_device_layout{1, 4096, 14336}, {}, hopper).k_splits == 8);
    cuda::gemm_options forced;
    forced.path = cuda::gemm_path::wgmma;
    CHECK(cuda::plan_gemm_q4_0(256, small, forced, hopper).k_splits == 4);
    CHECK(cuda::plan_gemm_q4_0(512, small, forced, hopper).k_splits == 1);  // no split above 256 rows
    // forcing wgmma without it is refused, as is mode exact on it
    cuda::gemm_options o;
    o.path = cuda::gemm_path::wgmma;
    auto e = amxmm_test::catch_error([&] { cuda::plan_gemm_q4_0(64, small, o, other); });
    CHECK((e.thrown && e.code == errc::unsupported));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("90a"));
    o.mode = compute_mode::exact;
    e = amxmm_test::catch_error([&] { cuda::plan_gemm_q4_0(64, small, o, hopper); });
    CHECK((e.thrown && e.code == errc::unsupported));
}

TEST_CASE("cuda gemm: m = 2048 and a large tile-filling shape", "[cuda][gemm]") {
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    const dense_case c = make_case(136, 256, 5);
    check_dense(ctx, c, 2048, cuda::gemm_path::mma, 0, 0, 11);
    check_dense(ctx, c, 2048, cuda::gemm_path::dequant_cublas, 0, 0, 12);
    if (ctx.features().wgmma) check_dense(ctx, c, 2048, cuda::gemm_path::wgmma, 0, 0, 17);
    check_dense(ctx, c, 2048, cuda::gemm_path::automatic, 8, 8, 13);
    const dense_case big = make_case(1024, 2048, 6);
    check_dense(ctx, big, 1, cuda::gemm_path::gemv, 0, 0, 14);
    check_dense(ctx, big, 4, cuda::gemm_path::gemv, 0, 0, 15);
    check_dense(ctx, big, 200, cuda::gemm_path::mma, 0, 0, 16);
    if (ctx.features().wgmma) check_dense(ctx, big, 200, cuda::gemm_path::wgmma, 0, 0, 18);
}

TEST_CASE("cuda gemv: row groups, K split and persistent tiles; the same bits for any grid", "[cuda][gemm][gemv]") {
    AMXMM_REQUIRE_GPU();
    // The shapes cover G = 4, 2, 1 rows per warp and K split over S = 1, 2, 4 warps (gemv_split; checked
    // below), m = 1..3, aligned and unaligned activation rows. Each runs on the device's persistent grid
    // and on 1 and 3 CTAs (every CTA then walks many rounds, and the split-K partial buffers alternate).
    struct shape {
        std::int64_t n, k;
    };
    std::vector<std::pair<int, int>> seen;  // (G, S)
    for (const shape sh : {shape{130, 64}, shape{100, 2048}, shape{50, 4096}, shape{72, 4096}, shape{40, 8192},
                           shape{24, 14336}}) {
        const std::int64_t n = sh.n, k = sh.k;
        std::mt19937_64 rng(std::uint64_t(n * 31 + k));
        const auto w = amxmm_test::make_weight(n, k, rng);
        const dequantized deq = dequantize(w.blocks, n, k);
        const auto gpu = cuda::q4_0_weight::upload(w.view());
        for (std::int64_t m : {1, 2, 3}) {
            if (cuda::detail::gemv_act_smem_bytes(int(m), k) > cuda::gemv_max_smem_bytes) continue;
            const cuda::detail::gemv_split_info split = cuda::detail::gemv_split(int(m), n, k, 1);
            seen.emplace_back(split.groups, split.ksplit);
            const std::int64_t ldx = k + (m == 2 ? 1 : 0), ldy = n + 2;
            const std::vector<float> x = amxmm_test::make_activations(m, ldx, rng);
            dev_vec<float> xd(x);
            std::vector<float> first;
            for (std::int64_t cap : {0, 1, 3}) {
                CAPTURE(n, k, m, cap, split.groups, split.ksplit, split.sets);
                dev_vec<float> yd(std::size_t(m * ldy));
                yd.fill_bytes(0x7f);
                cuda::detail::launch_gemv(int(m), 1, cuda::detail::dense_gemv_params(gpu.view(), xd.data(), ldx, yd.data(), ldy),
                                          nullptr, "test", cap);
                const std::vector<float> y = yd.download();
                if (first.empty())
                    first = y;
                else
                    CHECK(std::memcmp(first.data(), y.data(), y.size() * sizeof(float)) == 0);
                std::int64_t bad = 0, pad_touched = 0;
                for (std::int64_t i = 0; i < m; ++i) {
                    for (std::int64_t j = n; j < ldy; ++j) {
                        std::uint32_t bits;
                        std::memcpy(&bits, &y[std::size_t(i * ldy + j)], 4);
                        pad_touched += bits != 0x7f7f7f7fu;
                    }
                    for (std::int64_t j = 0; j < n; ++j) {
                        double exact = 0, abs_sum = 0;
                        const double* wr = deq.row(j);
                        for (std::int64_t kk = 0; kk < k; ++kk) {
                            const double xv = x[std::size_t(i * ldx + kk)];
                            exact += xv * wr[kk];
                            abs_sum += std::fabs(xv * wr[kk]);
                        }
                        const double got = y[std::size_t(i * ldy + j)];
                        if (!(std::isfinite(got) && std::fabs(got - exact) <= tolerance(false, k, abs_sum)) && bad++ < 5)
                            UNSCOPED_INFO("y[" << i << "][" << j << "] = " << got << ", fp64 " << exact);
                    }
                }
                CHECK(bad == 0);
                CHECK(pad_touched == 0);
            }
        }
    }
    for (const auto& gs : {std::pair<int, int>{4, 1}, {2, 1}, {1, 1}, {1, 2}, {1, 4}})
        CHECK(std::find(seen.begin(), seen.end(), gs) != seen.end());
}

TEST_CASE("cuda gemv exact: against reference_gemm_exact, m = 1..8", "[cuda][gemm][gemv][exact]") {
    AMXMM_REQUIRE_GPU();
    // K = 32 (one block: the GPU's result is the CPU's single term, bit for bit, so every Q8_0 quant and
    // scale is checked exactly, with ties, zeros, fp16-subnormal and fp16-overflowing scales), 96 (odd
    // block count), 2048, 4096 and 14336 (m = 8: 140 KiB of quantized rows); N not a multiple of the
    // 8 rows of a CTA.
    cuda::context ctx;
    struct shape {
        std::int64_t n, k;
    };
    for (const shape sh : {shape{37, 32}, shape{50, 96}, shape{45, 2048}, shape{130, 4096}, shape{21, 14336}}) {
        const std::int64_t n = sh.n, k = sh.k, nb = k / 32;
        std::mt19937_64 rng(std::uint64_t(n * 131 + k));
        const auto w = amxmm_test::make_weight(n, k, rng);
        const auto gpu = cuda::q4_0_weight::upload(w.view());
        for (std::int64_t m = 1; m <= 8; ++m) {
            const std::int64_t ldx = k + (m % 2 ? 0 : 3), ldy = n + 1;  // even m: rows not 16-byte aligned
            std::vector<float> x = amxmm_test::make_activations(m, ldx, rng);
            if (k == 32) {
                std::uniform_real_distribution<float> u(-1.0f, 1.0f);
                for (std::int64_t i = 1; i < m; ++i) {
                    float* xr = x.data() + i * ldx;
                    for (int j = 0; j < 32; ++j) {
                        switch (i) {
                            case 1: xr[j] = j == 31 ? 127.0f : float(j - 15) + 0.5f; break;  // d = 1: ties away from 0
                            case 2: xr[j] = 0.0f; break;
                            case 3: xr[j] = 1e-6f * u(rng); break;          // d_x an fp16 subnormal
                            case 4: xr[j] = 1e30f * u(rng); break;          // d_x overflows fp16 (inf / NaN outputs)
                            case 5: xr[j] = j == 7 ? -3.0f : 1.5f; break;  // the largest magnitude negative
                            default: xr[j] = std::ldexp(u(rng), int(i) * 9 - 40); break;
                        }
                    }
                }
            }
            cuda::gemm_options opt;
            opt.path = cuda::gemm_path::gemv;
            opt.mode = compute_mode::exact;
            const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(m, gpu.layout(), opt);
            CAPTURE(n, k, m, plan.reason);
            REQUIRE(plan.mode == compute_mode::exact);
            dev_vec<float> xd(x), yd(std::size_t(m * ldy));
            yd.fill_bytes(0x7f);
            // gemm_q4_0 quantizes once into the workspace and runs q4_0_gemv_row_exact_kernel
            CHECK(plan.workspace_bytes >= std::size_t(m * nb * 40));  // the quantized activations
            ctx.reserve(plan.workspace_bytes);
            cuda::gemm_q4_0(ctx, gpu.view(), m, xd.data(), ldx, yd.data(), ldy, opt, nullptr);
            const std::vector<float> yr = yd.download();
            std::vector<float> ref(std::size_t(m * n));
            reference_gemm_exact(m, x.data(), ldx, w.view(), ref.data(), n);
            {
                std::int64_t bad = 0, pad_touched = 0;
                std::vector<block_q8_0> xq(static_cast<std::size_t>(nb));
                for (std::int64_t i = 0; i < m; ++i) {
                    quantize_row_q8_0_ref(x.data() + i * ldx, xq.data(), k);
                    std::uint32_t bits;
                    std::memcpy(&bits, &yr[std::size_t(i * ldy + n)], 4);
                    pad_touched += bits != 0x7f7f7f7fu;
                    for (std::int64_t j = 0; j < n; ++j) {
                        const float got = yr[std::size_t(i * ldy + j)], want = ref[std::size_t(i * n + j)];
                        const double bound = exact_tolerance(nb, exact_term_abs_sum(xq, w.view().row(j), nb));
                        const bool ok = nb == 1 ? same_float(got, want)
                                                : std::isfinite(got) && std::fabs(double(got) - double(want)) <= bound;
                        if (!ok && bad++ < 5)
                            UNSCOPED_INFO("y[" << i << "][" << j << "] = " << got << ", reference_gemm_exact " << want
                                               << ", bound " << bound);
                    }
                }
                CHECK(bad == 0);
                CHECK(pad_touched == 0);
            }
        }
    }
}

TEST_CASE("cuda gemm exact on the tensor cores: reference_gemm_exact bit for bit, m = 1..2048", "[cuda][gemm][exact]") {
    // K = 32 (one block, with the gemv test's special rows: ties, zeros, fp16-subnormal and overflowing scales),
    // 96 (odd block count: the padded block is skipped), 2048, 4160; N not a multiple of the 128-column tiles; m
    // across the 32-, 64- and 128-row tiles and their tails; rows not 16-byte aligned where ldx is odd.
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    struct shape {
        std::int64_t n, k;
        std::vector<std::int64_t> ms;
    };
    const shape shapes[] = {{37, 32, {6, 9, 33}}, {200, 96, {1, 9, 31, 64, 65, 300}}, {130, 2048, {8, 17, 128, 129}},
                            {72, 4160, {40}}, {136, 256, {2048}}};
    std::int64_t compared = 0;
    for (const shape& sh : shapes) {
        const std::int64_t n = sh.n, k = sh.k;
        std::mt19937_64 rng(std::uint64_t(n * 7 + k));
        const auto w = amxmm_test::make_weight(n, k, rng);
        const auto gpu = cuda::q4_0_weight::upload(w.view());
        for (const std::int64_t m : sh.ms) {
            const std::int64_t ldx = k + (m % 2), ldy = n + 3;
            std::vector<float> x = amxmm_test::make_activations(m, ldx, rng);
            if (k == 32) {
                std::uniform_real_distribution<float> u(-1.0f, 1.0f);
                for (std::int64_t i = 1; i < std::min<std::int64_t>(m, 6); ++i)
                    for (int j = 0; j < 32; ++j) {
                        float& v = x[std::size_t(i * ldx + j)];
                        v = i == 1 ? (j == 31 ? 127.0f : float(j - 15) + 0.5f) : i == 2 ? 0.0f : i == 3 ? 1e-6f * u(rng)
                                    : i == 4 ? 1e30f * u(rng) : (j == 7 ? -3.0f : 1.5f);
                    }
            }
            for (const cuda::gemm_path path : {cuda::gemm_path::mma, cuda::gemm_path::automatic}) {
                cuda::gemm_options opt;
                opt.path = path;
                opt.mode = compute_mode::exact;
                const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(m, gpu.layout(), opt);
                CAPTURE(n, k, m, plan.reason);
                if (path == cuda::gemm_path::automatic && plan.path != cuda::gemm_path::mma) continue;  // m <= 8: the gemv
                REQUIRE(plan.path == cuda::gemm_path::mma);
                REQUIRE(plan.mode == compute_mode::exact);
                ctx.reserve(plan.workspace_bytes);
                dev_vec<float> xd(x), yd(std::size_t(m * ldy));
                yd.fill_bytes(0x7f);
                const cuda::gemm_plan ran = cuda::gemm_q4_0(ctx, gpu.view(), m, xd.data(), ldx, yd.data(), ldy, opt, nullptr);
                CHECK(ran.mode == compute_mode::exact);
                const std::vector<float> y = yd.download();
                std::vector<float> ref(std::size_t(m * n));
                reference_gemm_exact(m, x.data(), ldx, w.view(), ref.data(), n);
                std::int64_t bad = 0, pad_touched = 0;
                for (std::int64_t i = 0; i < m; ++i) {
                    std::uint32_t bits;
                    std::memcpy(&bits, &y[std::size_t(i * ldy + n)], 4);
                    pad_touched += bits != 0x7f7f7f7fu;
                    for (std::int64_t j = 0; j < n; ++j) {
                        const float got = y[std::size_t(i * ldy + j)], want = ref[std::size_t(i * n + j)];
                        if (!same_float(got, want) && bad++ < 5)
                            UNSCOPED_INFO("y[" << i << "][" << j << "] = " << got << ", reference_gemm_exact " << want);
                        ++compared;
                    }
                }
                CHECK(bad == 0);
                CHECK(pad_touched == 0);
            }
        }
    }
    CHECK(compared > 500000);
}

TEST_CASE("cuda gemm: automatic mode runs the exact gemv at small m, as the CPU's exact mode computes", "[cuda][gemm][gemv][exact]") {
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    const dense_case c = make_case(72, 4096, 9);
    for (std::int64_t m : {1, 2, 4}) {
        std::mt19937_64 rng{std::uint64_t(m)};
        const std::vector<float> x = amxmm_test::make_activations(m, c.k, rng);
        const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(m, c.gpu.layout());
        REQUIRE(plan.path == cuda::gemm_path::gemv);
        REQUIRE(plan.mode == compute_mode::exact);
        dev_vec<float> xd(x), yd(std::size_t(m * c.n));
        ctx.reserve(plan.workspace_bytes);
        const cuda::gemm_plan ran = cuda::gemm_q4_0(ctx, c.gpu.view(), m, xd.data(), c.k, yd.data(), c.n, nullptr);
        CHECK(ran.mode == compute_mode::exact);
        const std::vector<float> y = yd.download();
        std::vector<float> cpu(std::size_t(m * c.n));  // the CPU library's own exact mode on the same inputs
        gemm_options copt;
        copt.mode = compute_mode::exact;
        gemm_q4_0(c.cpu.view(), m, x.data(), c.k, cpu.data(), c.n, copt);
        std::vector<block_q8_0> xq(std::size_t(c.k / 32));
        std::int64_t bad = 0;
        for (std::int64_t i = 0; i < m; ++i) {
            quantize_row_q8_0_ref(x.data() + i * c.k, xq.data(), c.k);
            for (std::int64_t j = 0; j < c.n; ++j) {
                const double bound = exact_tolerance(c.k / 32, exact_term_abs_sum(xq, c.w.view().row(j), c.k / 32));
                const float got = y[std::size_t(i * c.n + j)], want = cpu[std::size_t(i * c.n + j)];
                if (!(std::fabs(double(got) - double(want)) <= bound) && bad++ < 5)
                    UNSCOPED_INFO("m " << m << " y[" << i << "][" << j << "] = " << got << ", CPU exact " << want);
            }
        }
        CHECK(bad == 0);
    }
}

TEST_CASE("cuda gemm: bad arguments are refused before any work", "[cuda][gemm][errors]") {
    AMXMM_REQUIRE_GPU();
    using amxmm_test::catch_error;
    cuda::context ctx;
    const dense_case c = make_case(64, 64, 3);
    dev_vec<float> x(64 * 64), y(64 * 64);
    const auto w = c.gpu.view();
    const auto call = [&](std::int64_t m, const float* xp, std::int64_t ldx, float* yp, std::int64_t ldy,
                          cuda::gemm_options o = {}) { return cuda::gemm_q4_0(ctx, w, m, xp, ldx, yp, ldy, o, nullptr); };
    auto e = catch_error([&] { call(4, nullptr, 64, y.data(), 64); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("x is null"));
    e = catch_error([&] { call(4, x.data(), 32, y.data(), 64); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("ldx = 32"));
    e = catch_error([&] { call(4, x.data(), 64, y.data(), 63); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    e = catch_error([&] { call(4, x.data(), std::int64_t(1) << 62, y.data(), 64); });  // rows past the address space
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("spans more than the address space"));
    e = catch_error([&] { call(4, x.data(), 64, x.data() + 64, 64); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("overlaps"));
    cuda::gemm_options o;
    o.mode = compute_mode::exact;
    o.path = cuda::gemm_path::dequant_cublas;  // exact runs on the gemv and mma paths
    e = catch_error([&] { call(4, x.data(), 64, y.data(), 64, o); });
    CHECK((e.thrown && e.code == errc::unsupported));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("gemv and mma paths"));
    o = {};
    o.path = cuda::gemm_path::mma;  // needs a workspace; the context has none reserved
    e = catch_error([&] { call(40, x.data(), 64, y.data(), 64, o); });
    CHECK((e.thrown && e.code == errc::buffer_too_small));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("reserve"));
    dev_vec<float> small_ws(64);
    o.workspace = small_ws.data();
    o.workspace_bytes = small_ws.size() * sizeof(float);
    e = catch_error([&] { call(40, x.data(), 64, y.data(), 64, o); });
    CHECK((e.thrown && e.code == errc::buffer_too_small));
    // experts view in the dense call
    std::mt19937_64 rng(1);
    const auto ew = amxmm_test::make_weight(2 * 32, 64, rng);
    const auto gw = cuda::q4_0_weight::upload_experts(ew.view(), 2);
    e = catch_error([&] { cuda::gemm_q4_0(ctx, gw.view(), 1, x.data(), 64, y.data(), 64, {}, nullptr); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("experts"));
    // m = 0 does nothing and needs no pointers
    CHECK_NOTHROW(call(0, nullptr, 64, nullptr, 64));
    device_sync();
}

TEST_CASE("cuda gemm: an earlier failed runtime call of the caller's is neither blamed on the call nor cleared", "[cuda][gemm][errors]") {
    AMXMM_REQUIRE_GPU();
    cuda::context ctx;
    const dense_case c = make_case(264, 4096, 17);  // wgmma at m = 40: K in 8 slices (split_k_sum_kernel)
    struct call_case {
        std::int64_t m;
        cuda::gemm_path path;
        compute_mode mode;
    };
    // (not dequant_cublas: cuBLAS's own launches may read the thread's last error)
    for (const call_case cc :
         {call_case{3, cuda::gemm_path::gemv, compute_mode::fast}, call_case{3, cuda::gemm_path::gemv, compute_mode::exact},
          call_case{40, cuda::gemm_path::mma, compute_mode::fast}, call_case{40, cuda::gemm_path::mma, compute_mode::exact},
          call_case{40, cuda::gemm_path::wgmma, compute_mode::fast}}) {
        if (cc.path == cuda::gemm_path::wgmma && !ctx.features().wgmma) continue;
        CAPTURE(cc.m, cuda::to_string(cc.path), amxmm::to_string(cc.mode));
        std::mt19937_64 rng(std::uint64_t(cc.m) + std::uint64_t(cc.path));
        const auto x = amxmm_test::make_activations(cc.m, c.k, rng);
        cuda::gemm_options opt;
        opt.path = cc.path;
        opt.mode = cc.mode;
        const cuda::gemm_plan plan = cuda::plan_gemm_q4_0(cc.m, c.gpu.layout(), opt, ctx.features());
        if (cc.path == cuda::gemm_path::wgmma) CHECK(plan.k_splits > 1);
        ctx.reserve(plan.workspace_bytes);
        dev_vec<float> xd(x), want(std::size_t(cc.m * c.n)), got(std::size_t(cc.m * c.n));
        cuda::gemm_q4_0(ctx, c.gpu.view(), cc.m, xd.data(), c.k, want.data(), c.n, opt, nullptr);
        device_sync();
        const cudaError_t failed = leave_failed_malloc_pending();
        if (failed == cudaSuccess) {
            WARN("SKIPPED (a 1 PiB cudaMalloc succeeded)");
            return;
        }
        CHECK_NOTHROW(cuda::gemm_q4_0(ctx, c.gpu.view(), cc.m, xd.data(), c.k, got.data(), c.n, opt, nullptr));
        CHECK(cudaGetLastError() == failed);  // still the caller's to see (and now cleared)
        const auto yw = want.download(), yg = got.download();
        CHECK(std::memcmp(yw.data(), yg.data(), yw.size() * sizeof(float)) == 0);
    }
    // A context made while the error is pending sees the device as one made without it (its wgmma probe is a launch).
    if (leave_failed_malloc_pending() != cudaSuccess) {
        const auto made = amxmm_test::catch_error([&] {
            cuda::context after;
            CHECK(after.features().wgmma == ctx.features().wgmma);
        });
        if (made.thrown) WARN("context construction after a failed cudaMalloc threw: " << made.what);  // (cuBLAS's, if any)
        (void)cudaGetLastError();
    }
}

TEST_CASE("cuda gemm: a product with more row tiles than a launch takes is refused before any work", "[cuda][gemm][errors]") {
    // The planner refuses it, so every call and workspace query does before anything is enqueued (no GPU needed).
    using amxmm_test::catch_error;
    const cuda::q4_0_device_layout L{1, 64, 32};
    cuda::gemm_options exact, mma, wgmma;
    exact.mode = compute_mode::exact;  // automatic path: the exact mma kernel above m = 8, 64-row tiles
    mma.path = cuda::gemm_path::mma;
    mma.mode = compute_mode::fast;  // 128-row tiles
    wgmma.path = cuda::gemm_path::wgmma;
    const cuda::gpu_features hopper{true};
    for (const auto& [opt, most] :
         {std::pair<cuda::gemm_options, std::int64_t>{exact, 65535 * 64}, {mma, 65535 * 128}, {wgmma, 65535 * 128}}) {
        CAPTURE(cuda::to_string(opt.path), amxmm::to_string(opt.mode));
        CHECK_NOTHROW(cuda::plan_gemm_q4_0(most, L, opt, hopper));
        const std::int64_t over = most + 1;
        const cuda::gemm_options& o = opt;
        const auto e = catch_error([&] { cuda::plan_gemm_q4_0(over, L, o, hopper); });
        CHECK((e.thrown && e.code == errc::unsupported));
        CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("split the rows"));
    }
    CHECK(cuda::plan_gemm_q4_0(65535 * 128 + 1, L, {}, hopper).path == cuda::gemm_path::dequant_cublas);  // automatic runs
    AMXMM_REQUIRE_GPU();
    // The call: refused with errc::unsupported (a context without workspace would say buffer_too_small if the refusal
    // came later). Nothing is read or written: one-row buffers stand in for the m rows.
    cuda::context ctx;
    const dense_case c = make_case(64, 32, 5);
    dev_vec<float> x(32), y(64);
    const auto e =
        catch_error([&] { cuda::gemm_q4_0(ctx, c.gpu.view(), 65535 * 64 + 1, x.data(), 32, y.data(), 64, exact, nullptr); });
    CHECK((e.thrown && e.code == errc::unsupported));
    device_sync();
}

TEST_CASE("cuda: calls on a device other than the context's are refused", "[cuda][errors]") {
    AMXMM_REQUIRE_GPU();
    using amxmm_test::catch_error;
    int devices = 0;
    cuda::detail::check_cuda(cudaGetDeviceCount(&devices), "test", "cudaGetDeviceCount");
    if (devices < 2) {
        WARN("SKIPPED (needs two GPUs; this machine has " << devices << ")");
        return;
    }
    cuda::detail::check_cuda(cudaSetDevice(0), "test", "cudaSetDevice");
    cuda::context ctx(std::size_t(1) << 20);
    const dense_case c = make_case(64, 64, 9);
    dev_vec<float> x(64), y(64);
    dev_vec<std::int32_t> ids(2);
    cuda::detail::check_cuda(cudaSetDevice(1), "test", "cudaSetDevice");
    auto e = catch_error([&] { cuda::gemm_q4_0(ctx, c.gpu.view(), 1, x.data(), 64, y.data(), 64, nullptr); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("the current device is 1, the context's is 0"));
    const moe_routing r{1, 1, ids.data(), 1};
    e = catch_error(
        [&] { cuda::moe_gemm(ctx, c.gpu.view(), r, x.data(), moe_input_rows::per_token, 64, 0, y.data(), 64, 64, {}, nullptr); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    e = catch_error([&] { ctx.reserve(std::size_t(2) << 20); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    e = catch_error([&] { ctx.check_routing(nullptr); });
    CHECK((e.thrown && e.code == errc::invalid_argument));
    cuda::detail::check_cuda(cudaSetDevice(0), "test", "cudaSetDevice");
    CHECK_NOTHROW(cuda::gemm_q4_0(ctx, c.gpu.view(), 1, x.data(), 64, y.data(), 64, nullptr));
    device_sync();
}
