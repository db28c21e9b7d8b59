// GPU weight types: a CPU VNNI-packed weight cannot reach a CUDA function (compile time); upload /
// download round trips bit for bit; path planning and mode checks (these run without a GPU).
#include "cuda_support.cuh"

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

TEST_CASE("cuda: plans pick a path by m and refuse exact mode (no GPU needed)", "[cuda]") {
    const cuda::q4_0_device_layout L{1, 4096, 4096};
    CHECK(cuda::plan_gemm_q4_0(1, L).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_gemm_q4_0(1, L).workspace_bytes == 0);
    CHECK(cuda::plan_gemm_q4_0(4, L).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_gemm_q4_0(5, L).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(16, L).path == cuda::gemm_path::dequant_cublas);
    CHECK(cuda::plan_gemm_q4_0(16, L).workspace_bytes >= std::size_t(4096) * 4096 * 2);
    // m = 2 rows of K = 14336 floats do not fit the gemv's shared memory: dequant_cublas, not mma
    CHECK(cuda::plan_gemm_q4_0(2, cuda::q4_0_device_layout{1, 4096, 14336}).path == cuda::gemm_path::dequant_cublas);
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
    o.mode = compute_mode::exact;
    try {
        cuda::plan_gemm_q4_0(4, L, o);
        FAIL("exact mode was accepted");
    } catch (const amxmm::error& e) {
        CHECK(e.code() == errc::unsupported);
        CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("exact"));
    }
    const cuda::q4_0_device_layout X{128, 768, 2048};
    CHECK(cuda::plan_moe_q4_0(1, 8, 128, 2048).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_moe_q4_0(16, 8, 128, 2048).path == cuda::gemm_path::gemv);
    CHECK(cuda::plan_moe_q4_0(17, 8, 128, 2048).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048).path == cuda::gemm_path::mma);
    CHECK(cuda::plan_moe_q4_0(512, 8, 128, 2048).tile_rows == 32);
    CHECK(cuda::plan_moe_q4_0(2048, 8, 128, 2048).tile_rows == 128);
    CHECK(cuda::moe_gemm_workspace_bytes(512, 8, X) > 0);
    o.mode = compute_mode::automatic;
    o.path = cuda::gemm_path::dequant_cublas;
    CHECK_THROWS_AS(cuda::plan_moe_q4_0(512, 8, 128, 2048, o), amxmm::error);
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
