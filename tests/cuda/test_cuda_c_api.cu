// The C API's GPU functions (<amxmm/c/amxmm.h> implemented with AMXMM_C_WITH_CUDA, as an engine written in C
// links it) against the C++ CUDA API on the same inputs: the same bits, plans and workspace sizes, and C statuses
// for bad options. This file is that implementation's one translation unit in the test executable, so the CUDA
// half of the C API is compiled wherever the CUDA tests are.
#define AMXMM_C_IMPLEMENTATION
#define AMXMM_C_WITH_CUDA
#include <amxmm/c/amxmm.h>

#include "cuda_support.cuh"
#include "test_support.hpp"

#include <cstring>
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
        CHECK(int(plan.path) == int(want.path));
        CHECK(plan.workspace_bytes == want.workspace_bytes);
        CHECK(std::string(plan.reason) == want.reason.substr(0, sizeof plan.reason - 1));
        const auto a = yc.download(), b = yp.download();
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
    {  // C statuses: exact mode off the gemv path, and options from another header version
        amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT;
        opt.path = AMXMM_GPU_PATH_MMA;
        opt.mode = AMXMM_MODE_EXACT;
        dev_vec<float> y(std::size_t(m * ldy));
        CHECK(amxmm_gpu_gemm_q4_0(cctx, cw.w, m, x.data(), ldx, y.data(), ldy, &opt, nullptr, nullptr) == AMXMM_UNSUPPORTED);
        CHECK(std::string(amxmm_last_error()).find("gemv path only") != std::string::npos);
        opt = AMXMM_GPU_OPTIONS_INIT;
        opt.struct_size = sizeof opt - 8;
        CHECK(amxmm_gpu_gemm_q4_0(cctx, cw.w, m, x.data(), ldx, y.data(), ldy, &opt, nullptr, nullptr) ==
              AMXMM_INVALID_ARGUMENT);
        CHECK(std::string(amxmm_last_error()).find("struct_size") != std::string::npos);
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
            CHECK(int(plan.path) == int(want.path));
            CHECK(plan.tile_rows == want.tile_rows);
            const auto a = yc.download(), b = yp.download();
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
    }
    amxmm_gpu_context_free(cctx);
}
