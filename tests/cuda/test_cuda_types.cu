// GPU weight types: a CPU VNNI-packed weight cannot reach a CUDA function (compile time); upload /
// download round trips bit for bit; path planning and mode checks (these run without a GPU).
#include "cuda_support.cuh"
#include "error_capture.hpp"

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace amxmm;
using namespace amxmm_cuda_test;

namespace {

// ---- compile-time: VNNI-packed CPU weights are not GPU weights ---------------------------------------------

template <class W, class = void>
struct gemm_accepts : std::false_type {};
template <class W>
struct gemm_accepts<W, std::void_t<decltype(cuda::gemm_q4_0(std::declval<cuda::context&>(), std::declval<const W&>(),
                                                            std::int64_t(1), static_cast<const float*>(nullptr),
                                                            std::int64_t(1), static_cast<float*>(nullptr), std::int64_t(1),
                                                            cuda::gemm_options{}, cudaStream_t{}))>> : std::true_type {};

template <class W, class = void>
struct moe_gemm_accepts : std::false_type {};
template <class W>
struct moe_gemm_accepts<W, std::void_t<decltype(cuda::moe_gemm(std::declval<cuda::context&>(), std::declval<const W&>(),
                                                               moe_routing{}, static_cast<const float*>(nullptr),
                                                               moe_input_rows::per_token, 0, 0, static_cast<float*>(nullptr),
                                                               0, 0, cuda::gemm_options{}, cudaStream_t{}))>>
    : std::true_type {};

template <class W, class = void>
struct moe_ffn_accepts : std::false_type {};
template <class W>
struct moe_ffn_accepts<W, std::void_t<decltype(cuda::moe_ffn(std::declval<cuda::context&>(), std::declval<const W&>(),
                                                             std::declval<const W&>(), std::declval<const W&>(),
                                                             moe_routing{}, static_cast<const float*>(nullptr), 0,
                                                             static_cast<const float*>(nullptr), 0,
                                                             static_cast<float*>(nullptr), 0, cuda::moe_ffn_options{},
                                                             cudaStream_t{}))>> : std::true_type {};

static_assert(gemm_accepts<cuda::q4_0_device_view>::value, "the GPU view is what gemm_q4_0 takes");
static_assert(!gemm_accepts<packed_q4_0_vnni_view>::value, "a VNNI-packed CPU weight must not reach cuda::gemm_q4_0");
static_assert(!gemm_accepts<packed_q4_0_vnni>::value, "a VNNI-packed CPU weight must not reach cuda::gemm_q4_0");
static_assert(!gemm_accepts<packed_q4_0_vnni_experts_view>::value, "CPU experts must not reach cuda::gemm_q4_0");
static_assert(moe_gemm_accepts<cuda::q4_0_device_view>::value, "the GPU view is what moe_gemm takes");
static_assert(!moe_gemm_accepts<packed_q4_0_vnni_experts_view>::value, "CPU experts must not reach cuda::moe_gemm");
static_assert(!moe_gemm_accepts<packed_q4_0_vnni_view>::value, "a VNNI-packed CPU weight must not reach cuda::moe_gemm");
static_assert(moe_ffn_accepts<cuda::q4_0_device_view>::value, "the GPU view is what moe_ffn takes");
static_assert(!moe_ffn_accepts<packed_q4_0_vnni_experts_view>::value, "CPU experts must not reach cuda::moe_ffn");
static_assert(!std::is_constructible_v<cuda::q4_0_device_view, packed_q4_0_vnni_view>, "no conversion");
static_assert(!std::is_constructible_v<cuda::q4_0_device_view, packed_q4_0_vnni_experts_view>, "no conversion");
static_assert(!std::is_convertible_v<packed_q4_0_vnni_view, cuda::q4_0_device_view>, "no conversion");
static_assert(!std::is_convertible_v<q4_0_matrix_view, cuda::q4_0_device_view>,
              "host GGUF blocks are uploaded, never passed as a device weight");

std::vector<block_q4_0> random_blocks(std::int64_t rows, std::int64_t k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<block_q4_0> b(std::size_t(rows * (k / 32)));
    for (auto& blk : b) {
        blk.d.bits = std::uint16_t(rng());
        for (auto& q : blk.qs) q = std::uint8_t(rng());
    }
    return b;
}

}  // namespace

TEST_CASE("cuda: device layout pads each row to an even block count", "[cuda]") {
    cuda::q4_0_device_layout L{1, 10, 96};
    CHECK(L.blocks_per_row() == 3);
    CHECK(L.row_blocks() == 4);
    CHECK(L.qs_bytes() == 10 * 4 * 16);
    CHECK(L.d_bytes() == 10 * 4 * 2);
    cuda::q4_0_device_layout E{8, 768, 2048};
    CHECK(E.row_blocks() == 64);
    CHECK(E.total_bytes() == std::size_t(8) * 768 * 64 * 18);
}

TEST_CASE("cuda: plans pick a path and mode by m; exact runs on the gemv and the exact mma (no GPU needed)", "[cuda]") {
    const cuda::q4_0_device_layout L{1, 4096, 4096};
    CHECK(cuda::plan_gemm_q4_0(1, L).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_gemm_q4_0(1, L).mode == compute_mode::exact);  // automatic: exact on the gemv path
    CHECK_THAT(cuda::plan_gemm_q4_0(1, L).reason, Catch::Matchers::ContainsSubstring("mode exact"));
    CHECK(cuda::plan_gemm_q4_0(1, L).workspace_bytes >= std::size_t(128) * 40);  // one row, quantized once
    CHECK(cuda::plan_gemm_q4_0(4, L).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_gemm_q4_0(4, L).mode == compute_mode::exact);
    CHECK(cuda::plan_gemm_q4_0(8, L).path == cuda::gemm_path::gemv);  // gemv_auto_max_rows
    CHECK(cuda::plan_gemm_q4_0(8, L).mode == compute_mode::exact);
    CHECK(cuda::plan_gemm_q4_0(8, L).workspace_bytes >= std::size_t(8) * 128 * 40);  // quantized once
    CHECK(cuda::plan_gemm_q4_0(9, L).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(9, L).mode == compute_mode::fast);
    CHECK_THAT(cuda::plan_gemm_q4_0(9, L).reason, Catch::Matchers::ContainsSubstring("mode fast"));
    CHECK(cuda::plan_gemm_q4_0(16, L).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(16, L).workspace_bytes >= std::size_t(4096) * 4096 * 2);
    // m = 2 rows of K = 14336: the exact gemv's int8 staging fits (the fp32 one would not)
    const cuda::q4_0_device_layout L14{1, 4096, 14336};
    CHECK(cuda::plan_gemm_q4_0(2, L14).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_gemm_q4_0(2, L14).mode == compute_mode::exact);
    CHECK(cuda::plan_gemm_q4_0(1, L14).workspace_bytes >= std::size_t(448) * 40);  // K >= 8192: quantized once
    {
        cuda::gemm_options f;
        f.mode = compute_mode::fast;  // fast: the fp32 gemv's m·K·4 bytes do not fit: dequant_cublas, not mma
        CHECK(cuda::plan_gemm_q4_0(2, L14, f).path == cuda::gemm_path::dequant_cublas);
        CHECK(cuda::plan_gemm_q4_0(2, L14, f).mode == compute_mode::fast);
        CHECK(cuda::plan_gemm_q4_0(1, L, f).path == cuda::gemm_path::gemv);
        CHECK(cuda::plan_gemm_q4_0(1, L, f).mode == compute_mode::fast);
        CHECK(cuda::plan_gemm_q4_0(5, L, f).path == cuda::gemm_path::dequant_cublas);  // gemv_fast_auto_max_rows
        f.path = cuda::gemm_path::gemv;
        CHECK(cuda::plan_gemm_q4_0(4, L, f).mode == compute_mode::fast);
        CHECK_THROWS_AS(cuda::plan_gemm_q4_0(8, L, f), amxmm::error);  // fp32: 8·4096·4 bytes exceed 96 KiB
        CHECK_THROWS_AS(cuda::plan_gemm_q4_0(2, L14, f), amxmm::error);  // forced fp32 gemv does not fit
        // exact: m = 8 up to K = 16384 (gemv_exact_max_smem_bytes); forced gemv with mode automatic is exact
        f.mode = compute_mode::automatic;
        CHECK(cuda::plan_gemm_q4_0(8, L14, f).mode == compute_mode::exact);
        CHECK(cuda::plan_gemm_q4_0(8, cuda::q4_0_device_layout{1, 64, 16384}, f).path == cuda::gemm_path::gemv);
        CHECK_THROWS_AS(cuda::plan_gemm_q4_0(8, cuda::q4_0_device_layout{1, 64, 16416}, f), amxmm::error);
        CHECK_THROWS_AS(cuda::plan_gemm_q4_0(9, L, f), amxmm::error);
        f.mode = compute_mode::exact;
        f.path = cuda::gemm_path::automatic;
        CHECK(cuda::plan_gemm_q4_0(8, L, f).path == cuda::gemm_path::gemv);  // exact: the gemv at any m <= 8
        CHECK(cuda::plan_gemm_q4_0(8, L, f).mode == compute_mode::exact);
        CHECK_THAT(cuda::plan_gemm_q4_0(8, L, f).reason, Catch::Matchers::ContainsSubstring("mode exact requested"));
        // m = 9, or staged activations over the gemv's limit: the exact mma kernel; forced mma: the same
        CHECK(cuda::plan_gemm_q4_0(9, L, f).path == cuda::gemm_path::mma);
        CHECK(cuda::plan_gemm_q4_0(9, L, f).mode == compute_mode::exact);
        CHECK(cuda::plan_gemm_q4_0(9, L, f).tile_rows == 32);
        CHECK(cuda::plan_gemm_q4_0(9, L, f).workspace_bytes >= std::size_t(9) * (4096 / 32) * 40);  // x quantized
        CHECK(cuda::plan_gemm_q4_0(300, L, f).tile_rows == 64);  // the exact kernel's tiles stop at 64 rows
        CHECK(cuda::plan_gemm_q4_0(8, cuda::q4_0_device_layout{1, 64, 16416}, f).path == cuda::gemm_path::mma);
        f.path = cuda::gemm_path::mma;
        CHECK(cuda::plan_gemm_q4_0(4, L, f).path == cuda::gemm_path::mma);
        CHECK(cuda::plan_gemm_q4_0(4, L, f).mode == compute_mode::exact);
        for (cuda::gemm_path p : {cuda::gemm_path::dequant_cublas, cuda::gemm_path::wgmma}) {
            f.path = p;
            try {  // dequant_cublas / wgmma forced: exact has no kernel there
                cuda::plan_gemm_q4_0(4, L, f, cuda::gpu_features{true});
                FAIL("exact mode was accepted on a bf16-only path");
            } catch (const amxmm::error& e) {
                CHECK(e.code() == errc::unsupported);
                CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("gemv and mma paths"));
            }
        }
        f.path = cuda::gemm_path::mma;
        f.mode = compute_mode::automatic;
        CHECK(cuda::plan_gemm_q4_0(4, L, f).mode == compute_mode::fast);
        f.mode = static_cast<compute_mode>(77);
        CHECK_THROWS_AS(cuda::plan_gemm_q4_0(4, L, f), amxmm::error);
    }
    CHECK(cuda::plan_gemm_q4_0(512, L).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(4096, L).path == cuda::gemm_path::dequant_cublas);
    cuda::gemm_options o;
    o.path = cuda::gemm_path::mma;
    CHECK(cuda::plan_gemm_q4_0(4096, L, o).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_gemm_q4_0(16, L, o).tile_rows == 32);
    CHECK(cuda::plan_gemm_q4_0(300, L, o).tile_rows == 128);
    CHECK(cuda::gemm_workspace_bytes(100, L, o) >= std::size_t(100) * 4096 * 2);
    o.path = cuda::gemm_path::gemv;
    CHECK_THROWS_AS(cuda::plan_gemm_q4_0(9, L, o), amxmm::error);
    o = {};
    const cuda::q4_0_device_layout X{128, 768, 2048};
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048).mode == compute_mode::exact);
    CHECK(cuda::plan_moe_q4_0(16, 8, 128, 2048).path == cuda::gemm_path::gemv);
    // up to 4 pairs per active expert: the exact gemv grouped by expert; above, grouped mma
    CHECK(cuda::plan_moe_q4_0(48, 8, 128, 2048).path == cuda::gemm_path::gemv);  // 384 pairs, 3.14 per expert
    CHECK(cuda::plan_moe_q4_0(48, 8, 128, 2048).tile_rows == cuda::detail::moe_by_expert_pairs);
    CHECK(cuda::plan_moe_q4_0(64, 8, 128, 2048).path == cuda::gemm_path::mma);   // 4.06 per expert
    CHECK(cuda::plan_moe_q4_0(64, 8, 128, 2048).mode == compute_mode::fast);
    CHECK(cuda::plan_moe_q4_0(8, 2, 8, 4096).path == cuda::gemm_path::gemv);   // 16 pairs on 8 experts
    CHECK(cuda::plan_moe_q4_0(12, 2, 8, 4096).path == cuda::gemm_path::gemv);  // 24: 3.1 per expert
    CHECK(cuda::plan_moe_q4_0(16, 2, 8, 4096).path == cuda::gemm_path::mma);   // 32: 4.04 per expert
    {  // per pair forced: the gemv up to m·top_k <= min(128, 2·E) (moe_gemv_auto_max_pairs*), grouped mma above
        cuda::gemm_options pp;
        pp.moe_grouping = cuda::moe_gemv_grouping::per_pair;
        CHECK(cuda::plan_moe_q4_0(16, 8, 128, 2048, pp).path == cuda::gemm_path::gemv);
        CHECK(cuda::plan_moe_q4_0(16, 8, 128, 2048, pp).tile_rows == 1);
        CHECK(cuda::plan_moe_q4_0(17, 8, 128, 2048, pp).path == cuda::gemm_path::mma);
        CHECK(cuda::plan_moe_q4_0(9, 2, 8, 4096, pp).path == cuda::gemm_path::mma);  // 18 pairs: more than 2 per expert
    }
    // K = 32768: the fp32 gemv's K·4 bytes do not fit its 96 KiB, the exact gemv's (K/32)·40 do
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 32768).path == cuda::gemm_path::gemv);
    o.mode = compute_mode::fast;
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 32768, o).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048, o).mode == compute_mode::fast);
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048, o).path == cuda::gemm_path::gemv);
    o.mode = compute_mode::exact;  // exact: the gemv below 6 pairs per expert, the exact grouped mma from 6 up
    CHECK(cuda::plan_moe_q4_0(64, 8, 128, 2048, o).path == cuda::gemm_path::gemv);  // 4.06
    CHECK(cuda::plan_moe_q4_0(64, 8, 128, 2048, o).tile_rows == cuda::detail::moe_by_expert_pairs);
    CHECK(cuda::plan_moe_q4_0(96, 8, 128, 2048, o).path == cuda::gemm_path::mma);   // 6.05
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048, o).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048, o).mode == compute_mode::exact);
    CHECK(cuda::plan_moe_q4_0(20, 2, 8, 4096, o).path == cuda::gemm_path::gemv);   // 5.02
    CHECK(cuda::plan_moe_q4_0(24, 2, 8, 4096, o).path == cuda::gemm_path::mma);    // 6.0
    o.moe_grouping = cuda::moe_gemv_grouping::by_expert;  // a forced grouping keeps the gemv at any pair count
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048, o).path == cuda::gemm_path::gemv);
    o.moe_grouping = cuda::moe_gemv_grouping::per_pair;
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048, o).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048, o).tile_rows == 1);
    o.moe_grouping = cuda::moe_gemv_grouping::automatic;
    // ... where the gemv can stage x; K = 163840 cannot ((K/32)·40 > 160 KiB): the exact grouped mma
    CHECK(cuda::plan_moe_q4_0(4, 8, 128, 163840, o).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(4, 8, 128, 163840, o).mode == compute_mode::exact);
    o.path = cuda::gemm_path::mma;  // forced: the exact grouped mma, tiles as in mode fast
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048, o).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048, o).mode == compute_mode::exact);
    CHECK(cuda::plan_moe_q4_0(2048, 8, 128, 2048, o, cuda::gpu_features{true}).path == cuda::gemm_path::mma);  // not wgmma
    CHECK(cuda::plan_moe_q4_0(2048, 8, 128, 2048, o).tile_rows == 64);
    CHECK(cuda::moe_gemm_workspace_bytes(64, 8, X, moe_input_rows::per_token, o) >= std::size_t(64) * (2048 / 32) * 40);
    o.path = cuda::gemm_path::wgmma;
    try {
        cuda::plan_moe_q4_0(1, 8, 128, 2048, o, cuda::gpu_features{true});
        FAIL("exact mode was accepted on the wgmma path");
    } catch (const amxmm::error& e) {
        CHECK(e.code() == errc::unsupported);
        CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("gemv and mma paths"));
    }
    o = {};
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048).tile_rows == 32);
    CHECK(cuda::plan_moe_q4_0(2048, 8, 128, 2048).tile_rows == 128);
    CHECK(cuda::moe_gemm_workspace_bytes(512, 8, X) > 0);
    o.mode = compute_mode::automatic;
    o.path = cuda::gemm_path::dequant_cublas;
    CHECK_THROWS_AS(cuda::plan_moe_q4_0(512, 8, 128, 2048, o), amxmm::error);
}

TEST_CASE("cuda: MoE plans group the exact gemv by expert where pairs share experts (no GPU needed)", "[cuda]") {
    using cuda::moe_gemv_grouping;
    // Uniform routing: 1 pair per active expert at m = 1; Qwen3-30B-A3B (E 128, top-8) at m = 4: 32 pairs on
    // ~29 experts (1.10); at m = 16: 128 on ~82 (1.55); Mixtral-8x7B (E 8, top-2) at m = 4: 8 pairs on ~5.5 (1.46).
    CHECK(cuda::moe_expected_pairs_per_expert(1, 8, 128) == Catch::Approx(1.0));
    CHECK(cuda::moe_expected_pairs_per_expert(4, 8, 128) == Catch::Approx(32.0 / (128.0 * (1.0 - std::pow(0.9375, 4)))));
    CHECK(cuda::moe_expected_pairs_per_expert(16, 8, 128) == Catch::Approx(1.555).margin(0.01));
    CHECK(cuda::moe_expected_pairs_per_expert(4, 2, 8) == Catch::Approx(1.462).margin(0.01));
    CHECK(cuda::moe_expected_pairs_per_expert(1000, 8, 8) == Catch::Approx(1000.0));  // every token uses every expert
    const auto plan = [](std::int64_t m, std::int64_t top_k, std::int64_t e, std::int64_t k, moe_gemv_grouping g,
                         compute_mode mode = compute_mode::automatic) {
        cuda::gemm_options o;
        o.moe_grouping = g;
        o.mode = mode;
        return cuda::plan_moe_q4_0(m, top_k, e, k, o);
    };
    const auto by_expert = [](const cuda::gemm_plan& p) {
        return p.path == cuda::gemm_path::gemv && p.mode == compute_mode::exact && p.tile_rows == cuda::detail::moe_by_expert_pairs;
    };
    CHECK(plan(1, 8, 128, 2048, moe_gemv_grouping::automatic).tile_rows == 1);  // per pair
    CHECK_THAT(plan(1, 8, 128, 2048, moe_gemv_grouping::automatic).reason, Catch::Matchers::ContainsSubstring("per (token, slot) pair"));
    CHECK(by_expert(plan(16, 8, 128, 2048, moe_gemv_grouping::automatic)));
    CHECK_THAT(plan(16, 8, 128, 2048, moe_gemv_grouping::automatic).reason, Catch::Matchers::ContainsSubstring("by expert (auto"));
    CHECK(by_expert(plan(4, 2, 8, 4096, moe_gemv_grouping::automatic)));
    CHECK(plan(16, 8, 128, 2048, moe_gemv_grouping::per_pair).tile_rows == 1);
    CHECK(by_expert(plan(1, 8, 128, 2048, moe_gemv_grouping::by_expert)));
    // by_expert forces the exact gemv, past the automatic gemv range too
    CHECK(by_expert(plan(512, 8, 128, 2048, moe_gemv_grouping::by_expert)));
    CHECK(plan(512, 8, 128, 2048, moe_gemv_grouping::automatic).path == cuda::gemm_path::mma);
    // fast mode: the gemv per pair (fp32); by_expert refused there and on the tensor-core paths
    CHECK(plan(4, 2, 8, 4096, moe_gemv_grouping::automatic, compute_mode::fast).tile_rows == 1);
    for (int refused = 0; refused < 2; ++refused) {
        cuda::gemm_options o;
        o.moe_grouping = moe_gemv_grouping::by_expert;
        if (refused == 0) o.mode = compute_mode::fast;
        else o.path = cuda::gemm_path::mma;
        try {
            cuda::plan_moe_q4_0(4, 2, 8, 4096, o);
            FAIL("by_expert was accepted off the exact gemv");
        } catch (const amxmm::error& e) {
            CHECK(e.code() == errc::unsupported);
            CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("by_expert"));
        }
    }
    CHECK_THROWS_AS(plan(4, 2, 8, 4096, static_cast<moe_gemv_grouping>(9)), amxmm::error);
    // the workspace holds the quantized rows and the grouping (by expert), more than per pair
    const cuda::q4_0_device_layout X{128, 768, 2048};
    cuda::gemm_options pp, be;
    pp.moe_grouping = moe_gemv_grouping::per_pair;
    be.moe_grouping = moe_gemv_grouping::by_expert;
    CHECK(cuda::moe_gemm_workspace_bytes(16, 8, X, moe_input_rows::per_token, be) >=
          std::size_t(16) * 64 * 40 + std::size_t(128) * 3 * 4);
    CHECK(cuda::moe_ffn_workspace_bytes(16, 8, X, be) > cuda::moe_ffn_workspace_bytes(16, 8, X, pp));
}

TEST_CASE("cuda: a workspace reserved for m rows serves every call with fewer (no GPU needed)", "[cuda]") {
    // A call's own need can fall as m grows: the wgmma path's K-slice partial sums at small m, moe_ffn's fp32 h when
    // grouped by expert or in fast mode on the gemv path. The queries return the most over 1 .. m.
    const cuda::q4_0_device_layout L{1, 4096, 4096};
    for (cuda::gemm_path path : {cuda::gemm_path::automatic, cuda::gemm_path::wgmma}) {
        cuda::gemm_options o;
        o.path = path;
        const std::size_t reserved = cuda::gemm_workspace_bytes(300, L, o);
        std::int64_t short_of = 0, falls = 0;
        std::size_t before = 0;
        for (std::int64_t m = 1; m <= 300; ++m) {
            const std::size_t need = cuda::plan_gemm_q4_0(m, L, o, cuda::gpu_features{path == cuda::gemm_path::wgmma}).workspace_bytes;
            short_of += need > reserved;
            falls += need < before;
            before = need;
        }
        CAPTURE(cuda::to_string(path));
        CHECK(short_of == 0);
        if (path == cuda::gemm_path::wgmma) CHECK(falls > 0);  // the case this guards against exists
    }
    const cuda::q4_0_device_layout X{128, 768, 2048};  // Qwen3-30B-A3B gate: E × F × K
    for (compute_mode mode : {compute_mode::automatic, compute_mode::fast}) {
        cuda::gemm_options o;
        o.mode = mode;
        const std::size_t reserved = cuda::moe_ffn_workspace_bytes(100, 8, X, o);
        std::int64_t short_of = 0, falls = 0;
        std::size_t before = 0;
        for (std::int64_t m = 1; m <= 100; ++m) {
            const std::size_t need = cuda::detail::moe_ffn_ws(cuda::plan_moe_q4_0(m, 8, 128, 2048, o), m, 8, 128, 2048, 768);
            short_of += need > reserved;
            falls += need < before;
            before = need;
        }
        CAPTURE(amxmm::to_string(mode));
        CHECK(short_of == 0);
        CHECK(falls > 0);
        CHECK(cuda::moe_gemm_workspace_bytes(100, 8, X, moe_input_rows::per_slot, o) >=
              cuda::detail::moe_gemm_ws(cuda::plan_moe_q4_0(40, 8, 128, 2048, o), 40, 8, 128, 2048, moe_input_rows::per_slot));
    }
}

TEST_CASE("cuda: the MoE workspace queries cover every m up to the maximum, also where the tiles grow above 65536 (no GPU needed)",
          "[cuda]") {
    // The grouped tiles grow from 32 to 64 to 128 rows at 32·E and 64·E pairs, and the tile list shrinks then: with
    // E = 1536 and top_k = 1, m = 98304 runs on 64-row tiles and needs more than m = 98305 on 128-row tiles.
    {
        const cuda::q4_0_device_layout W{1536, 512, 512};
        const std::int64_t m_max = 98305;
        const std::size_t reserved = cuda::moe_gemm_workspace_bytes(m_max, 1, W);
        const auto need = [&](std::int64_t m) {
            return cuda::detail::moe_gemm_ws(cuda::plan_moe_q4_0(m, 1, W.experts, W.k), m, 1, W.experts, W.k, moe_input_rows::per_token);
        };
        CHECK(cuda::plan_moe_q4_0(98304, 1, W.experts, W.k).tile_rows == 64);
        CHECK(cuda::plan_moe_q4_0(98305, 1, W.experts, W.k).tile_rows == 128);
        CHECK(need(98304) > need(98305));  // the case this guards against
        std::int64_t short_of = 0;
        for (std::int64_t m = 1; m <= m_max; ++m) short_of += need(m) > reserved;
        CHECK(short_of == 0);
    }
    // Both tile changes above 65536 (E = 4096, top_k = 1: at m = 131072 and 262144), moe_gemm and moe_ffn, modes
    // automatic (grouped mma: 32, 64, 128 rows) and exact (exact mma: 32, 64 rows).
    const cuda::q4_0_device_layout G{4096, 256, 512};  // gate: E × F × K
    const std::int64_t m_max = 300000;
    for (compute_mode mode : {compute_mode::automatic, compute_mode::exact}) {
        CAPTURE(amxmm::to_string(mode));
        cuda::gemm_options o;
        o.mode = mode;
        const std::size_t gemm_reserved = cuda::moe_gemm_workspace_bytes(m_max, 1, G, moe_input_rows::per_token, o);
        const std::size_t ffn_reserved = cuda::moe_ffn_workspace_bytes(m_max, 1, G, o);
        std::int64_t short_of = 0, changes = 0;
        int tile_rows = 0;
        for (std::int64_t m = 60000; m <= m_max; ++m) {
            const cuda::gemm_plan gp = cuda::plan_moe_q4_0(m, 1, G.experts, G.k, o);
            const cuda::gemm_plan fp = cuda::plan_moe_q4_0(m, 1, G.experts, std::max(G.k, G.n), o);
            changes += gp.tile_rows != tile_rows;
            tile_rows = gp.tile_rows;
            short_of += cuda::detail::moe_gemm_ws(gp, m, 1, G.experts, G.k, moe_input_rows::per_token) > gemm_reserved;
            short_of += cuda::detail::moe_ffn_ws(fp, m, 1, G.experts, G.k, G.n) > ffn_reserved;
        }
        CHECK(changes == (mode == compute_mode::exact ? 2 : 3));  // (the first count is the start)
        CHECK(short_of == 0);
    }
}

TEST_CASE("cuda: plans whose tiles exceed one launch's grid are refused (no GPU needed)", "[cuda]") {
    using amxmm_test::catch_error;
    // Dense: 65535 row tiles at most (mma exact: 64 rows, mma fast and wgmma: 128).
    const cuda::q4_0_device_layout L{1, 64, 32};
    cuda::gemm_options exact;
    exact.mode = compute_mode::exact;
    CHECK_NOTHROW(cuda::plan_gemm_q4_0(65535 * 64, L, exact));
    auto e = catch_error([&] { cuda::plan_gemm_q4_0(65535 * 64 + 1, L, exact); });
    CHECK((e.thrown && e.code == errc::unsupported));
    e = catch_error([&] { cuda::gemm_workspace_bytes(65535 * 64 + 1, L, exact); });
    CHECK((e.thrown && e.code == errc::unsupported));
    // MoE: E = top_k = 64 makes up to (pairs + 64·127) / 128 tiles of 128 rows: 65535 at m = 130944, 65536 at 130945;
    // forced exact mma (64-row tiles): 65535 at m = 65472.
    for (const cuda::gpu_features f : {cuda::gpu_features{false}, cuda::gpu_features{true}}) {
        CAPTURE(f.wgmma);
        const cuda::gemm_plan ok = cuda::plan_moe_q4_0(130944, 64, 64, 32, {}, f);
        CHECK(ok.tile_rows == 128);
        CHECK(ok.path == (f.wgmma ? cuda::gemm_path::wgmma : cuda::gemm_path::mma));
        e = catch_error([&] { cuda::plan_moe_q4_0(130945, 64, 64, 32, {}, f); });
        CHECK((e.thrown && e.code == errc::unsupported));
        CHECK_THAT(e.what, Catch::Matchers::ContainsSubstring("65536 expert tiles"));
    }
    cuda::gemm_options exact_mma = exact;
    exact_mma.path = cuda::gemm_path::mma;
    CHECK(cuda::plan_moe_q4_0(65472, 64, 64, 32, exact_mma).tile_rows == 64);
    e = catch_error([&] { cuda::plan_moe_q4_0(65473, 64, 64, 32, exact_mma); });
    CHECK((e.thrown && e.code == errc::unsupported));
    e = catch_error([&] { cuda::moe_gemm_workspace_bytes(130945, 64, cuda::q4_0_device_layout{64, 32, 32}); });
    CHECK((e.thrown && e.code == errc::unsupported));
}

TEST_CASE("cuda: upload / download round trips bit for bit", "[cuda]") {
    AMXMM_REQUIRE_GPU();
    for (auto [experts, n, k] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 1, 32}, {1, 7, 96}, {1, 130, 256},
                                 {5, 24, 160}, {3, 17, 2048}}) {
        CAPTURE(experts, n, k);
        const auto blocks = random_blocks(experts * n, k, std::uint64_t(experts * 1000 + n * 10 + k));
        const auto w = cuda::q4_0_weight::upload_experts({blocks.data(), experts * n, k}, experts);
        CHECK(w.layout().experts == experts);
        CHECK(w.layout().n == n);
        CHECK(w.layout().k == k);
        const auto back = w.download();
        REQUIRE(back.size() == blocks.size());
        CHECK(std::memcmp(back.data(), blocks.data(), blocks.size() * sizeof(block_q4_0)) == 0);
    }
}

TEST_CASE("cuda: upload refuses malformed shapes", "[cuda]") {
    AMXMM_REQUIRE_GPU();
    std::vector<block_q4_0> b(8);
    CHECK_THROWS_AS(cuda::q4_0_weight::upload({b.data(), 2, 48}), amxmm::error);       // K % 32
    CHECK_THROWS_AS(cuda::q4_0_weight::upload({nullptr, 2, 64}), amxmm::error);        // null
    CHECK_THROWS_AS(cuda::q4_0_weight::upload_experts({b.data(), 3, 32}, 2), amxmm::error);  // rows % E
}

TEST_CASE("cuda: upload from a GGUF tensor (2-D and 3-D)", "[cuda]") {
    AMXMM_REQUIRE_GPU();
    const auto blocks = random_blocks(2 * 24, 64, 99);
    gguf_tensor_info t;
    t.name = "blk.0.ffn_up_exps.weight";
    t.type = ggml_type::q4_0;
    t.n_dims = 3;
    t.dims = {64, 24, 2, 1};
    t.data = reinterpret_cast<const std::byte*>(blocks.data());
    t.size_bytes = blocks.size() * sizeof(block_q4_0);
    const auto w = cuda::q4_0_weight::upload(t);
    CHECK(w.layout().experts == 2);
    CHECK(w.layout().n == 24);
    const auto back = w.download();
    CHECK(std::memcmp(back.data(), blocks.data(), blocks.size() * sizeof(block_q4_0)) == 0);
    t.type = ggml_type::f32;
    CHECK_THROWS_AS(cuda::q4_0_weight::upload(t), amxmm::error);
}
