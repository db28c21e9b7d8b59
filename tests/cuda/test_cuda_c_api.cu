// The C API's GPU functions (<amxmm/c/amxmm.h> implemented with AMXMM_C_WITH_CUDA, as an engine written in C
// links it) against the C++ CUDA API on the same inputs: the same bits, plans and workspace sizes, and C statuses
// for bad options. This file is that implementation's one translation unit in the test executable, so the CUDA
// half of the C API is compiled wherever the CUDA tests are.
#define AMXMM_C_IMPLEMENTATION
#define AMXMM_C_WITH_CUDA
#include <amxmm/c/amxmm.h>

#include "cuda_support.cuh"
#include "test_support.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>
#include <random>
#include <string>

using namespace amxmm;
using namespace amxmm_cuda_test;

namespace {

/// A C GPU weight uploaded from host Q4_0 blocks (experts × n rows of k), freed at scope exit.
struct c_weight {
    amxmm_gpu_weight* w = nullptr;
    c_weight(const std::vector<block_q4_0>& blocks, std::int64_t experts, std::int64_t n, std::int64_t k) {
        REQUIRE(amxmm_gpu_weight_upload_q4_0(blocks.data(), experts, n, k, nullptr, &w) == AMXMM_OK);
    }
    ~c_weight() { amxmm_gpu_weight_free(w); }
    c_weight(const c_weight&) = delete;
    c_weight& operator=(const c_weight&) = delete;
};

/// A C call's plan says what the C++ call's plan says: path, mode, tiles, K slices, workspace and reason.
void check_same_plan(const amxmm_gpu_plan& got, const cuda::gemm_plan& want) {
    CHECK(int(got.path) == int(want.path));
    CHECK(got.mode == (want.mode == compute_mode::fast ? AMXMM_MODE_FAST : AMXMM_MODE_EXACT));
    CHECK(got.tile_rows == want.tile_rows);
    CHECK(got.k_splits == want.k_splits);
    CHECK(got.workspace_bytes == want.workspace_bytes);
    CHECK(std::string(got.reason) == want.reason.substr(0, sizeof got.reason - 1));
}

/// The C++ call's plan, or the error code it threw.
struct gemm_plan_or_error {
    cuda::gemm_plan plan;
    std::optional<errc> code;
};

}  // namespace

TEST_CASE("cuda C API: gemm and moe_ffn give the C++ API's bits, plans and workspace sizes", "[cuda][c_api]") {
    AMXMM_REQUIRE_GPU();
    CHECK(amxmm_gpu_available() == 1);
    amxmm_gpu_context* cctx = nullptr;
    REQUIRE(amxmm_gpu_context_create(0, &cctx) == AMXMM_OK);
    cuda::context ctx;
    std::mt19937_64 rng(61);

    // dense: the automatic plan (exact gemv at m = 3) and a forced mma path
    const std::int64_t n = 200, k = 256, m = 3, ldx = k + 3, ldy = n + 1;
    const auto dense = amxmm_test::make_weight(n, k, rng);
    const c_weight cw(dense.blocks, 1, n, k);
    std::int64_t experts = 0, rows = 0, cols = 0;
    std::size_t bytes = 0;
    REQUIRE(amxmm_gpu_weight_info(cw.w, &experts, &rows, &cols, &bytes) == AMXMM_OK);
    CHECK((experts == 1 && rows == n && cols == k && bytes > 0));
    const auto gw = cuda::q4_0_weight::upload(dense.view());
    dev_vec<float> x(amxmm_test::make_activations(m, ldx, rng));
    for (const amxmm_gpu_path path : {AMXMM_GPU_PATH_AUTO, AMXMM_GPU_PATH_MMA}) {
        CAPTURE(int(path));
        amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
        opt.path = path;
        cuda::gemm_options copt;
        copt.path = path == AMXMM_GPU_PATH_MMA ? cuda::gemm_path::mma : cuda::gemm_path::automatic;
        std::size_t ws = 0;
        REQUIRE(amxmm_gpu_gemm_workspace_bytes(cw.w, m, &opt, &ws) == AMXMM_OK);
        CHECK(ws == cuda::gemm_workspace_bytes(m, gw.layout(), copt));
        REQUIRE(amxmm_gpu_context_reserve(cctx, ws) == AMXMM_OK);
        ctx.reserve(ws);
        dev_vec<float> yc(std::size_t(m * ldy)), yp(std::size_t(m * ldy));
        amxmm_gpu_plan plan;
        REQUIRE(amxmm_gpu_gemm_q4_0(cctx, cw.w, m, x.data(), ldx, yc.data(), ldy, &opt, nullptr, &plan) == AMXMM_OK);
        const cuda::gemm_plan want = cuda::gemm_q4_0(ctx, gw.view(), m, x.data(), ldx, yp.data(), ldy, copt, nullptr);
        check_same_plan(plan, want);
        const auto a = yc.download(), b = yp.download();
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
    {  // C statuses: exact mode on a bf16-only path, and options from another header version
        amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
        opt.path = AMXMM_GPU_PATH_DEQUANT_CUBLAS;
        opt.mode = AMXMM_MODE_EXACT;
        dev_vec<float> y(std::size_t(m * ldy));
        CHECK(amxmm_gpu_gemm_q4_0(cctx, cw.w, m, x.data(), ldx, y.data(), ldy, &opt, nullptr, nullptr) == AMXMM_UNSUPPORTED);
        CHECK(std::string(amxmm_last_error()).find("gemv and mma paths") != std::string::npos);
        opt = AMXMM_GPU_OPTIONS_INIT;
        opt.struct_size = sizeof opt + 8;
        CHECK(amxmm_gpu_gemm_q4_0(cctx, cw.w, m, x.data(), ldx, y.data(), ldy, &opt, nullptr, nullptr) ==
              AMXMM_INVALID_ARGUMENT);
        CHECK(std::string(amxmm_last_error()).find("struct_size") != std::string::npos);
    }
    if (ctx.features().wgmma) {  // the C path enum names the Hopper kernel; K = 1024 at 40 rows is cut into slices
        const std::int64_t kw = 1024, ldxw = kw + 1;
        const auto long_k = amxmm_test::make_weight(n, kw, rng);
        const c_weight cl(long_k.blocks, 1, n, kw);
        const auto gl = cuda::q4_0_weight::upload(long_k.view());
        amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
        opt.path = AMXMM_GPU_PATH_WGMMA;
        cuda::gemm_options copt;
        copt.path = cuda::gemm_path::wgmma;
        std::size_t ws = 0;
        REQUIRE(amxmm_gpu_gemm_workspace_bytes(cl.w, 40, &opt, &ws) == AMXMM_OK);
        CHECK(ws == cuda::gemm_workspace_bytes(40, gl.layout(), copt));
        REQUIRE(amxmm_gpu_context_reserve(cctx, ws) == AMXMM_OK);
        ctx.reserve(ws);
        dev_vec<float> xw(amxmm_test::make_activations(40, ldxw, rng)), yc(std::size_t(40 * ldy)), yp(std::size_t(40 * ldy));
        amxmm_gpu_plan plan;
        REQUIRE(amxmm_gpu_gemm_q4_0(cctx, cl.w, 40, xw.data(), ldxw, yc.data(), ldy, &opt, nullptr, &plan) == AMXMM_OK);
        const cuda::gemm_plan want = cuda::gemm_q4_0(ctx, gl.view(), 40, xw.data(), ldxw, yp.data(), ldy, copt, nullptr);
        CHECK(plan.path == AMXMM_GPU_PATH_WGMMA);
        CHECK(plan.mode == AMXMM_MODE_FAST);
        CHECK(plan.k_splits > 1);
        check_same_plan(plan, want);
        const auto a = yc.download(), b = yp.download();
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }

    // moe_ffn: exact at m = 1 and 6 (per pair, then grouped by expert: 12 pairs on 4 experts), fast on grouped mma
    const std::int64_t e = 4, f = 64, kk = 128, top_k = 2;
    const auto gate = amxmm_test::make_weight(e * f, kk, rng, 0.5f), up = amxmm_test::make_weight(e * f, kk, rng, 0.5f),
               down = amxmm_test::make_weight(e * kk, f, rng, 0.5f);
    const c_weight cg(gate.blocks, e, f, kk), cu(up.blocks, e, f, kk), cd(down.blocks, e, kk, f);
    const auto gg = cuda::q4_0_weight::upload_experts(gate.view(), e), gu = cuda::q4_0_weight::upload_experts(up.view(), e),
               gd = cuda::q4_0_weight::upload_experts(down.view(), e);
    for (const std::int64_t tokens : {1, 6}) {
        for (const amxmm_mode mode : {AMXMM_MODE_AUTO, AMXMM_MODE_FAST}) {
            CAPTURE(tokens, int(mode));
            std::vector<std::int32_t> ids_h(std::size_t(tokens * top_k));
            for (std::size_t i = 0; i < ids_h.size(); ++i) ids_h[i] = std::int32_t((i * 3 + i / 2) % e);  // distinct per token
            std::vector<float> wts_h(ids_h.size(), 0.5f);
            dev_vec<std::int32_t> ids(ids_h);
            dev_vec<float> wts(wts_h), xm(amxmm_test::make_activations(tokens, kk, rng));
            amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
            opt.mode = mode;
            opt.activation = AMXMM_ACTIVATION_GELU_TANH;
            cuda::moe_ffn_options copt;
            copt.mode = mode == AMXMM_MODE_FAST ? compute_mode::fast : compute_mode::automatic;
            copt.activation = ffn_activation::gelu_tanh;
            std::size_t ws = 0;
            REQUIRE(amxmm_gpu_moe_ffn_workspace_bytes(cg.w, tokens, top_k, &opt, &ws) == AMXMM_OK);
            CHECK(ws == cuda::moe_ffn_workspace_bytes(tokens, top_k, gg.layout(), copt));
            REQUIRE(amxmm_gpu_context_reserve(cctx, ws) == AMXMM_OK);
            ctx.reserve(ws);
            const amxmm_moe_routing r{tokens, top_k, ids.data(), top_k};
            dev_vec<float> yc(std::size_t(tokens * kk)), yp(std::size_t(tokens * kk));
            amxmm_gpu_plan plan;
            REQUIRE(amxmm_gpu_moe_ffn(cctx, cg.w, cu.w, cd.w, &r, wts.data(), top_k, xm.data(), kk, yc.data(), kk, &opt, nullptr,
                                      &plan) == AMXMM_OK);
            const cuda::gemm_plan want = cuda::moe_ffn(ctx, gg.view(), gu.view(), gd.view(), {tokens, top_k, ids.data(), top_k},
                                                       wts.data(), top_k, xm.data(), kk, yp.data(), kk, copt, nullptr);
            check_same_plan(plan, want);
            const auto a = yc.download(), b = yp.download();
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
    }
    amxmm_gpu_context_free(cctx);
}

TEST_CASE("cuda C API: moe_gemm, grouping, routing check and the first release's options", "[cuda][c_api]") {
    AMXMM_REQUIRE_GPU();
    amxmm_gpu_context* cctx = nullptr;
    REQUIRE(amxmm_gpu_context_create(0, &cctx) == AMXMM_OK);
    cuda::context ctx;
    std::mt19937_64 rng(67);
    const std::int64_t e = 4, n = 72, k = 160, top_k = 2;
    const auto w = amxmm_test::make_weight(e * n, k, rng, 0.5f);
    const c_weight cw(w.blocks, e, n, k);
    const auto gw = cuda::q4_0_weight::upload_experts(w.view(), e);
    const std::int64_t ldy_slot = n + 1, ldy_token = top_k * ldy_slot + 3;

    int compared = 0, refused = 0;
    for (const std::int64_t tokens : {1, 6, 40}) {
        std::vector<std::int32_t> ids_h(std::size_t(tokens * top_k));
        for (std::size_t i = 0; i < ids_h.size(); ++i) ids_h[i] = std::int32_t((i * 3 + i / 2) % e);  // distinct per token
        dev_vec<std::int32_t> ids(ids_h);
        const amxmm_moe_routing r{tokens, top_k, ids.data(), top_k};
        for (const amxmm_moe_input_rows rows : {AMXMM_MOE_ROWS_PER_TOKEN, AMXMM_MOE_ROWS_PER_SLOT}) {
            const bool per_slot = rows == AMXMM_MOE_ROWS_PER_SLOT;
            const std::int64_t ldx_slot = per_slot ? k + 1 : 0, ldx_token = per_slot ? top_k * ldx_slot : k + 5;
            dev_vec<float> x(amxmm_test::make_activations(tokens, ldx_token, rng));
            for (const amxmm_gpu_moe_grouping grouping :
                 {AMXMM_GPU_MOE_GROUPING_AUTO, AMXMM_GPU_MOE_GROUPING_PER_PAIR, AMXMM_GPU_MOE_GROUPING_BY_EXPERT}) {
                for (const amxmm_mode mode : {AMXMM_MODE_AUTO, AMXMM_MODE_EXACT, AMXMM_MODE_FAST}) {
                    CAPTURE(tokens, int(rows), int(grouping), int(mode));
                    amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
                    opt.moe_grouping = grouping;
                    opt.mode = mode;
                    cuda::gemm_options copt;
                    copt.moe_grouping = static_cast<cuda::moe_gemv_grouping>(int(grouping));
                    copt.mode = mode == AMXMM_MODE_FAST    ? compute_mode::fast
                                : mode == AMXMM_MODE_EXACT ? compute_mode::exact
                                                           : compute_mode::automatic;
                    const moe_input_rows crows = per_slot ? moe_input_rows::per_slot : moe_input_rows::per_token;
                    dev_vec<float> yc(std::size_t(tokens * ldy_token)), yp(std::size_t(tokens * ldy_token));
                    amxmm_gpu_plan plan;
                    gemm_plan_or_error want;
                    try {
                        std::size_t need = cuda::moe_gemm_workspace_bytes(tokens, top_k, gw.layout(), crows, copt);
                        ctx.reserve(need);
                        want.plan = cuda::moe_gemm(ctx, gw.view(), {tokens, top_k, ids.data(), top_k}, x.data(), crows,
                                                   ldx_token, ldx_slot, yp.data(), ldy_token, ldy_slot, copt, nullptr);
                    } catch (const amxmm::error& err) {
                        want.code = err.code();
                    }
                    std::size_t ws = 0;
                    const amxmm_status qs = amxmm_gpu_moe_gemm_workspace_bytes(cw.w, tokens, top_k, rows, &opt, &ws);
                    if (qs == AMXMM_OK) {
                        CHECK(ws == cuda::moe_gemm_workspace_bytes(tokens, top_k, gw.layout(), crows, copt));
                        REQUIRE(amxmm_gpu_context_reserve(cctx, ws) == AMXMM_OK);
                    }
                    const amxmm_status st = amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), rows, ldx_token, ldx_slot, yc.data(),
                                                               ldy_token, ldy_slot, &opt, nullptr, &plan);
                    if (want.code) {  // refused (e.g. by_expert with fast, exact off the gemv path): the same status
                        CHECK(st == (*want.code == errc::unsupported ? AMXMM_UNSUPPORTED : AMXMM_INVALID_ARGUMENT));
                        ++refused;
                        continue;
                    }
                    REQUIRE(st == AMXMM_OK);
                    check_same_plan(plan, want.plan);
                    const auto a = yc.download(), b = yp.download();
                    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
                    ++compared;
                }
            }
        }
    }
    // by_expert with fast is refused at every m, exact off the gemv path (40 tokens, auto / per pair) too
    CHECK(refused >= 6);
    CHECK(compared + refused == 54);
    CHECK(compared >= 40);

    // The forced grouping reaches the plan: 6 tokens × 2 slots on 4 experts, exact.
    std::vector<std::int32_t> ids_h(12);
    for (std::size_t i = 0; i < ids_h.size(); ++i) ids_h[i] = std::int32_t((i * 3 + i / 2) % e);
    dev_vec<std::int32_t> ids(ids_h);
    const amxmm_moe_routing r{6, top_k, ids.data(), top_k};
    dev_vec<float> x(amxmm_test::make_activations(6, k, rng)), y(std::size_t(6 * top_k * n));
    amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
    std::size_t ws = 0;
    opt.moe_grouping = AMXMM_GPU_MOE_GROUPING_BY_EXPERT;
    REQUIRE(amxmm_gpu_moe_gemm_workspace_bytes(cw.w, 6, top_k, AMXMM_MOE_ROWS_PER_TOKEN, &opt, &ws) == AMXMM_OK);
    REQUIRE(amxmm_gpu_context_reserve(cctx, ws) == AMXMM_OK);
    amxmm_gpu_plan by_expert, per_pair, first_release;
    REQUIRE(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &opt,
                               nullptr, &by_expert) == AMXMM_OK);
    opt.moe_grouping = AMXMM_GPU_MOE_GROUPING_PER_PAIR;
    REQUIRE(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &opt,
                               nullptr, &per_pair) == AMXMM_OK);
    CHECK(std::string(by_expert.reason) != std::string(per_pair.reason));
    CHECK(by_expert.tile_rows != per_pair.tile_rows);
    // A caller built against the first release passes a struct ending at `activation`: the members after it are
    // not read (here they hold values that would be refused), and grouping is automatic.
    opt.moe_grouping = static_cast<amxmm_gpu_moe_grouping>(77);
    opt.reserved = 5;
    opt.struct_size = (offsetof(amxmm_gpu_options, moe_grouping) + alignof(amxmm_gpu_options) - 1) /
                      alignof(amxmm_gpu_options) * alignof(amxmm_gpu_options);
    REQUIRE(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &opt,
                               nullptr, &first_release) == AMXMM_OK);
    amxmm_gpu_options auto_opt = AMXMM_GPU_OPTIONS_INIT;
    amxmm_gpu_plan automatic;
    REQUIRE(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &auto_opt,
                               nullptr, &automatic) == AMXMM_OK);
    CHECK(std::string(first_release.reason) == std::string(automatic.reason));
    // Values this version refuses, reported before anything is enqueued.
    opt = AMXMM_GPU_OPTIONS_INIT;
    opt.moe_grouping = static_cast<amxmm_gpu_moe_grouping>(3);
    CHECK(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &opt,
                             nullptr, nullptr) == AMXMM_INVALID_ARGUMENT);
    CHECK(std::string(amxmm_last_error()).find("moe_grouping") != std::string::npos);
    opt = AMXMM_GPU_OPTIONS_INIT;
    opt.reserved = 1;
    CHECK(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, &opt,
                             nullptr, nullptr) == AMXMM_INVALID_ARGUMENT);
    CHECK(std::string(amxmm_last_error()).find("reserved") != std::string::npos);
    CHECK(amxmm_gpu_moe_gemm(cctx, cw.w, &r, x.data(), static_cast<amxmm_moe_input_rows>(2), k, 0, y.data(), top_k * n, n,
                             nullptr, nullptr, nullptr) == AMXMM_INVALID_ARGUMENT);
    CHECK(amxmm_gpu_moe_gemm_workspace_bytes(cw.w, 1, e + 1, AMXMM_MOE_ROWS_PER_TOKEN, nullptr, &ws) ==
          AMXMM_INVALID_ARGUMENT);
    CHECK(amxmm_gpu_moe_gemm_workspace_bytes(cw.w, std::int64_t(1) << 62, top_k, AMXMM_MOE_ROWS_PER_TOKEN, nullptr, &ws) ==
          AMXMM_INVALID_ARGUMENT);

    // Routing check: clean so far; an id outside [0, E) gives NaN rows and AMXMM_OUT_OF_RANGE once.
    CHECK(amxmm_gpu_context_check_routing(cctx, nullptr) == AMXMM_OK);
    ids_h[3] = std::int32_t(e);
    dev_vec<std::int32_t> bad(ids_h);
    const amxmm_moe_routing rb{6, top_k, bad.data(), top_k};
    REQUIRE(amxmm_gpu_moe_gemm(cctx, cw.w, &rb, x.data(), AMXMM_MOE_ROWS_PER_TOKEN, k, 0, y.data(), top_k * n, n, nullptr,
                               nullptr, nullptr) == AMXMM_OK);
    CHECK(amxmm_gpu_context_check_routing(cctx, nullptr) == AMXMM_OUT_OF_RANGE);
    CHECK(std::string(amxmm_last_error()).find("outside [0, E)") != std::string::npos);
    const auto yh = y.download();
    CHECK(std::isnan(yh[std::size_t(1 * top_k * n + 1 * n)]));  // token 1, slot 1 (pair 3)
    CHECK(!std::isnan(yh[0]));
    CHECK(amxmm_gpu_context_check_routing(cctx, nullptr) == AMXMM_OK);  // the flag was cleared
    CHECK(amxmm_gpu_context_check_routing(nullptr, nullptr) == AMXMM_INVALID_ARGUMENT);
    amxmm_gpu_context_free(cctx);
}
