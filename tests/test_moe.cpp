// MoE: packed experts, moe_gemm (MUL_MAT_ID) and moe_ffn on every back end against oracles built from
// a plain loop over tokens and slots with the dense references (format/reference_gemm.hpp).
#include "catch_compat.hpp"
#include "error_capture.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using namespace amxmm;
using amxmm_test::kernel_backends;

namespace {

constexpr std::int64_t qk = 32;

/// E experts of N × K (GGUF 3-D tensor, expert after expert), packed, with each expert's
/// dequantized fp64 rows and `fast`-mode bf16(d·q) rows for the oracles.
struct expert_set {
    std::int64_t e, n, k;
    std::vector<block_q4_0> blocks;
    packed_q4_0_vnni_experts packed;
    std::vector<double> deq;  // (E, N, K) d·q
    std::vector<double> wbf;  // (E, N, K) bf16(d·q)

    q4_0_matrix_view view(std::int64_t ex) const { return {blocks.data() + ex * n * (k / qk), n, k}; }
    const double* deq_row(std::int64_t ex, std::int64_t row) const { return deq.data() + (ex * n + row) * k; }
    const double* wbf_row(std::int64_t ex, std::int64_t row) const { return wbf.data() + (ex * n + row) * k; }
};

expert_set make_experts(std::int64_t e, std::int64_t n, std::int64_t k, std::mt19937_64& rng, float scale = 1.0f) {
    expert_set s{e, n, k, amxmm_test::make_weight(e * n, k, rng, scale).blocks, {}, {}, {}};
    s.packed = pack_q4_0_vnni_experts(s.blocks.data(), e, n, k);
    s.deq.resize(static_cast<std::size_t>(e * n * k));
    s.wbf.resize(s.deq.size());
    for (std::int64_t r = 0; r < e * n; ++r)
        for (std::int64_t c = 0; c < k; ++c) {
            const block_q4_0& b = s.blocks[std::size_t(r * (k / qk) + c / qk)];
            const float v = fp16_to_fp32(b.d) * float(q4_0_element(b, int(c % qk)));
            s.deq[std::size_t(r * k + c)] = v;
            s.wbf[std::size_t(r * k + c)] = bf16_to_fp32(fp32_to_bf16(v));
        }
    return s;
}

enum class routing_kind { uniform, zipf, single, sparse };
const char* name(routing_kind r) {
    switch (r) {
        case routing_kind::uniform: return "uniform";
        case routing_kind::zipf: return "zipf";
        case routing_kind::single: return "single-expert";
        case routing_kind::sparse: return "sparse";
    }
    return "?";
}

/// ids[m][ld] for top_k slots. uniform / zipf (p(e) ∝ 1/(e+1)^1.2) / sparse (experts e % 3 == 0 only,
/// so the others stay empty): distinct experts per token, like a real top-k. single: every slot of
/// every token names expert E/2 (duplicates within a token when top_k > 1).
std::vector<std::int32_t> make_ids(routing_kind kind, std::int64_t m, std::int64_t top_k, std::int64_t e,
                                   std::int64_t ld, std::mt19937_64& rng) {
    std::vector<std::int32_t> ids(std::size_t(std::max<std::int64_t>(m, 1) * ld), -7);
    std::vector<double> base(static_cast<std::size_t>(e));
    for (std::int64_t i = 0; i < e; ++i) {
        switch (kind) {
            case routing_kind::zipf: base[i] = 1.0 / std::pow(double(i + 1), 1.2); break;
            case routing_kind::sparse: base[i] = i % 3 == 0 ? 1.0 : 0.0; break;
            default: base[i] = 1.0;
        }
    }
    const std::int64_t support = std::count_if(base.begin(), base.end(), [](double v) { return v > 0; });
    if (support < top_k) std::fill(base.begin(), base.end(), 1.0);
    for (std::int64_t t = 0; t < m; ++t) {
        std::vector<double> w = base;
        for (std::int64_t s = 0; s < top_k; ++s) {
            if (kind == routing_kind::single) {
                ids[t * ld + s] = std::int32_t(e / 2);
                continue;
            }
            std::discrete_distribution<int> dd(w.begin(), w.end());
            const int pick = dd(rng);
            ids[t * ld + s] = pick;
            w[pick] = 0.0;  // without replacement
        }
    }
    return ids;
}

struct gemm_layout {
    moe_input_rows rows;
    std::int64_t ldx_token, ldx_slot, ldy_token, ldy_slot, x_floats, y_floats;
};

/// Token-major strides with a little padding everywhere (slot-major for per_slot x when asked).
gemm_layout make_layout(moe_input_rows rows, std::int64_t m, std::int64_t top_k, std::int64_t n, std::int64_t k,
                        bool slot_major = false) {
    gemm_layout L{rows, 0, 0, 0, 0, 0, 0};
    if (rows == moe_input_rows::per_token) {
        L.ldx_token = k + 3;
        L.x_floats = m * L.ldx_token;
    } else if (!slot_major) {
        L.ldx_slot = k + 1;
        L.ldx_token = top_k * L.ldx_slot + 5;
        L.x_floats = m * L.ldx_token;
    } else {
        L.ldx_token = k + 2;
        L.ldx_slot = m * L.ldx_token + 1;
        L.x_floats = top_k * L.ldx_slot;
    }
    L.ldy_slot = n + 2;
    L.ldy_token = top_k * L.ldy_slot + 1;
    L.y_floats = m * L.ldy_token;
    return L;
}

/// Runs moe_gemm in both modes on one back end and checks every (token, slot) row against the oracle
/// loop: `exact` bitwise equal to reference_gemm_exact of that row with expert ids[t][s], `fast`
/// within fp32 rounding (fp32_sum_bound) of reference_gemm_fast; the padding of y stays untouched.
void check_moe_gemm(const expert_set& w, const std::vector<std::int32_t>& ids, std::int64_t m, std::int64_t top_k,
                    std::int64_t ld_ids, const gemm_layout& L, isa backend, std::mt19937_64& rng) {
    const std::int64_t n = w.n, k = w.k;
    const auto x = amxmm_test::make_activations(1, std::max<std::int64_t>(L.x_floats, 1), rng);
    auto x_row = [&](std::int64_t t, std::int64_t s) {
        return x.data() + t * L.ldx_token + (L.rows == moe_input_rows::per_slot ? s * L.ldx_slot : 0);
    };
    std::vector<float> want_exact(static_cast<std::size_t>(m * top_k * n));
    std::vector<double> want_fast(want_exact.size()), bound(want_exact.size());
    std::vector<double> xb(static_cast<std::size_t>(k));
    for (std::int64_t t = 0; t < m; ++t)
        for (std::int64_t s = 0; s < top_k; ++s) {
            const std::int64_t e = ids[t * ld_ids + s], o = (t * top_k + s) * n;
            reference_gemm_exact(1, x_row(t, s), k, w.view(e), &want_exact[o], n);
            reference_gemm_fast(1, x_row(t, s), k, w.view(e), &want_fast[o], n);
            for (std::int64_t c = 0; c < k; ++c) xb[c] = std::fabs(bf16_to_fp32(fp32_to_bf16(x_row(t, s)[c])));
            for (std::int64_t j = 0; j < n; ++j) {
                double abs_sum = 0;
                const double* wr = w.wbf_row(e, j);
                for (std::int64_t c = 0; c < k; ++c) abs_sum += xb[c] * std::fabs(wr[c]);
                bound[o + j] = amxmm_test::fp32_sum_bound(k, abs_sum);
            }
        }
    moe_routing r{m, top_k, ids.data(), ld_ids};
    for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
        const float sentinel = -12345.0f;
        std::vector<float> y(std::size_t(std::max<std::int64_t>(L.y_floats, 1)), sentinel);
        gemm_options opt;
        opt.force_isa = backend;
        opt.mode = mode;
        const gemm_plan plan = moe_gemm(w.packed.view(), r, x.data(), L.rows, L.ldx_token, L.ldx_slot, y.data(),
                                        L.ldy_token, L.ldy_slot, opt);
        REQUIRE(plan.backend == backend);
        REQUIRE(plan.mode == mode);
        INFO("backend " << to_string(backend) << ", mode " << to_string(mode) << ", m " << m << ", top_k " << top_k
                        << ", E " << w.e << ", N " << n << ", K " << k << ", rows "
                        << (L.rows == moe_input_rows::per_slot ? "per_slot" : "per_token"));
        std::int64_t mismatches = 0;
        std::vector<char> is_out(y.size(), 0);
        for (std::int64_t t = 0; t < m; ++t)
            for (std::int64_t s = 0; s < top_k; ++s)
                for (std::int64_t j = 0; j < n; ++j) {
                    const std::size_t at = std::size_t(t * L.ldy_token + s * L.ldy_slot + j);
                    const float got = y[at];
                    const std::size_t o = std::size_t((t * top_k + s) * n + j);
                    is_out[at] = 1;
                    if (mode == compute_mode::exact)
                        mismatches += std::memcmp(&got, &want_exact[o], sizeof got) != 0;
                    else
                        mismatches += !(std::fabs(got - want_fast[o]) <= bound[o]);
                }
        std::int64_t touched = 0;  // padding elements written
        for (std::size_t i = 0; i < y.size(); ++i) touched += !is_out[i] && y[i] != sentinel;
        CHECK(mismatches == 0);
        CHECK(touched == 0);
    }
}

bool emulated(isa b) { return b == isa::amx_emulated; }

}  // namespace

TEST_CASE("moe: packed experts round-trip and equal per-expert packing", "[moe][pack]") {
    std::mt19937_64 rng(1);
    for (auto [e, n, k] : {std::array<std::int64_t, 3>{1, 16, 32}, {5, 37, 96}, {3, 1, 64}, {7, 50, 320}}) {
        const auto w = make_experts(e, n, k, rng);
        const auto v = w.packed.view();
        REQUIRE(v.experts == e);
        CHECK(v.expert_stride % 64 == 0);
        CHECK(v.expert_stride == v.layout.total_bytes());
        CHECK(is_aligned(v.data, 64));
        const auto back = unpack_q4_0_vnni_experts(v);
        REQUIRE(back.size() == w.blocks.size());
        CHECK(std::memcmp(back.data(), w.blocks.data(), back.size() * sizeof(block_q4_0)) == 0);
        for (std::int64_t i = 0; i < e; ++i) {
            const auto one = pack_q4_0_vnni(w.view(i));
            CHECK(std::memcmp(one.data(), v.expert(i).data, one.size_bytes()) == 0);
        }
        tbb_executor ex(3);
        const auto par = pack_q4_0_vnni_experts(w.blocks.data(), e, n, k, ex);
        CHECK(std::memcmp(par.data(), w.packed.data(), w.packed.size_bytes()) == 0);
        // A caller-owned copy with a larger stride is a valid view of the same experts.
        const std::int64_t stride = v.expert_stride + 128;
        aligned_buffer copy(static_cast<std::size_t>(stride * e));
        for (std::int64_t i = 0; i < e; ++i)
            std::memcpy(copy.data() + i * stride, v.expert(i).data, std::size_t(v.layout.total_bytes()));
        const auto cv = make_packed_q4_0_vnni_experts_view(e, n, k, copy.data(), copy.size(), stride);
        CHECK(std::memcmp(unpack_q4_0_vnni_experts(cv).data(), back.data(), back.size() * sizeof(block_q4_0)) == 0);
    }
    using Catch::Matchers::ContainsSubstring;
    aligned_buffer small(4096);
    REQUIRE_THROWS_WITH(make_packed_q4_0_vnni_experts_view(4, 16, 64, small.data(), 100), ContainsSubstring("size_bytes"));
    REQUIRE_THROWS_WITH(make_packed_q4_0_vnni_experts_view(2, 16, 64, small.data(), 4096, 100),
                        ContainsSubstring("expert_stride"));
    REQUIRE_THROWS_WITH(make_packed_q4_0_vnni_experts_view(0, 16, 64, small.data(), 4096), ContainsSubstring("experts"));
    REQUIRE_THROWS_WITH(make_packed_q4_0_vnni_experts_view(2, 16, 64, small.data() + 8, 4000),
                        ContainsSubstring("64-byte"));
    REQUIRE_THROWS_AS(pack_q4_0_vnni_experts(nullptr, 2, 16, 64), amxmm::error);
}

TEST_CASE("moe_gemm: routings, top_k 1..8, E up to 256, M 1..300, both layouts, all back ends", "[moe]") {
    std::mt19937_64 rng(2026);
    const routing_kind kinds[] = {routing_kind::uniform, routing_kind::zipf, routing_kind::single, routing_kind::sparse};
    for (isa backend : kernel_backends()) {
        const bool emu = emulated(backend);
        std::uniform_int_distribution<std::int64_t> dm(1, emu ? 48 : 300), dk(1, 8);
        for (int c = 0; c < (emu ? 16 : 48); ++c) {
            const routing_kind kind = kinds[c % 4];
            const std::int64_t top_k = dk(rng), m = c < 4 ? c + 1 : dm(rng);  // M = 1..4 always
            const std::int64_t experts = std::array<std::int64_t, 6>{8, 16, 33, 64, 128, 256}[std::size_t(c) % 6];
            const std::int64_t n = emu ? 17 + 15 * (c % 3) : 7 + 29 * (c % 4), k = 32 * (1 + c % 3);
            const auto w = make_experts(experts, n, k, rng);
            const std::int64_t ld_ids = top_k + c % 2;
            const auto ids = make_ids(kind, m, top_k, experts, ld_ids, rng);
            const auto rows = c % 3 == 2 ? moe_input_rows::per_slot : moe_input_rows::per_token;
            INFO("routing " << name(kind));
            check_moe_gemm(w, ids, m, top_k, ld_ids, make_layout(rows, m, top_k, n, k, c % 6 == 5), backend, rng);
        }
    }
}

TEST_CASE("moe_gemm: hot experts take the blocked AMX path (>= 65 rows), all back ends", "[moe]") {
    std::mt19937_64 rng(65);
    for (isa backend : kernel_backends()) {
        // One expert with 80 rows (single routing), and a Zipf routing whose first experts exceed 65 rows.
        const auto w = make_experts(4, 40, 64, rng);
        const auto ids = make_ids(routing_kind::single, 80, 1, 4, 1, rng);
        check_moe_gemm(w, ids, 80, 1, 1, make_layout(moe_input_rows::per_token, 80, 1, 40, 64), backend, rng);
        const std::int64_t m = emulated(backend) ? 70 : 150;
        const auto w2 = make_experts(6, 33, 96, rng);
        const auto ids2 = make_ids(routing_kind::zipf, m, 2, 6, 2, rng);
        check_moe_gemm(w2, ids2, m, 2, 2, make_layout(moe_input_rows::per_slot, m, 2, 33, 96), backend, rng);
    }
}

TEST_CASE("moe_gemm: M = 2048 with small N and K", "[moe]") {
    std::mt19937_64 rng(2048);
    for (isa backend : kernel_backends()) {
        const std::int64_t top_k = emulated(backend) ? 2 : 8, experts = emulated(backend) ? 16 : 128;
        const auto w = make_experts(experts, 16, 32, rng);
        const auto ids = make_ids(routing_kind::zipf, 2048, top_k, experts, top_k, rng);
        check_moe_gemm(w, ids, 2048, top_k, top_k, make_layout(moe_input_rows::per_token, 2048, top_k, 16, 32), backend,
                       rng);
    }
}

TEST_CASE("moe_gemm: duplicated experts in one token's slots contribute independently", "[moe]") {
    std::mt19937_64 rng(3);
    const auto w = make_experts(4, 20, 64, rng);
    const std::int64_t m = 5, top_k = 3;
    // Token t uses expert t % 4 in slots 0 and 2, and another in slot 1.
    std::vector<std::int32_t> ids;
    for (std::int64_t t = 0; t < m; ++t) ids.insert(ids.end(), {std::int32_t(t % 4), std::int32_t((t + 1) % 4), std::int32_t(t % 4)});
    for (isa backend : kernel_backends()) {
        check_moe_gemm(w, ids, m, top_k, top_k, make_layout(moe_input_rows::per_token, m, top_k, 20, 64), backend, rng);
        check_moe_gemm(w, ids, m, top_k, top_k, make_layout(moe_input_rows::per_slot, m, top_k, 20, 64), backend, rng);
        // per_token: both slots of the duplicated expert get the same row, bit for bit.
        const auto x = amxmm_test::make_activations(m, 64, rng);
        std::vector<float> y(static_cast<std::size_t>(m * top_k * 20));
        gemm_options opt;
        opt.force_isa = backend;
        opt.mode = compute_mode::fast;
        moe_gemm(w.packed.view(), {m, top_k, ids.data(), top_k}, x.data(), moe_input_rows::per_token, 64, 0, y.data(),
                 top_k * 20, 20, opt);
        for (std::int64_t t = 0; t < m; ++t)
            CHECK(std::memcmp(&y[std::size_t(t * top_k * 20)], &y[std::size_t((t * top_k + 2) * 20)], 20 * sizeof(float)) == 0);
    }
}

TEST_CASE("moe: the parallel counting sort equals a stable sort by expert, for any executor", "[moe][threads]") {
    std::mt19937_64 rng(7);
    for (const std::int64_t m : {1, 255, 256, 777, 2048, 5000}) {
        for (const routing_kind kind : {routing_kind::uniform, routing_kind::zipf, routing_kind::single}) {
            const std::int64_t top_k = 6, experts = 40, ld_ids = 7;
            const auto ids = make_ids(kind, m, top_k, experts, ld_ids, rng);
            const moe_routing r{m, top_k, ids.data(), ld_ids};
            // The oracle: (token, slot) pairs, stable-sorted by expert.
            std::vector<std::int64_t> want(static_cast<std::size_t>(m * top_k));
            std::iota(want.begin(), want.end(), std::int64_t(0));
            auto expert_of = [&](std::int64_t p) { return ids[static_cast<std::size_t>(p / top_k * ld_ids + p % top_k)]; };
            std::stable_sort(want.begin(), want.end(),
                             [&](std::int64_t a, std::int64_t b) { return expert_of(a) < expert_of(b); });
            for (int threads : {1, 3}) {
                INFO("m " << m << ", routing " << int(kind) << ", threads " << threads);
                tbb_executor ex(threads);
                detail::moe_groups g;
                detail::group_by_expert(r, experts, true, g, ex);
                CHECK(g.pair == want);
                for (std::size_t row = 0; row < want.size(); ++row)
                    CHECK(g.row_of[static_cast<std::size_t>(want[row])] == static_cast<std::int64_t>(row));
                std::int64_t groups = 0;
                for (std::int64_t e = 0; e < experts; ++e) {
                    const auto rows = std::count_if(want.begin(), want.end(), [&](std::int64_t p) { return expert_of(p) == e; });
                    CHECK(g.rows(e) == rows);
                    CHECK(g.groups(e) == (rows + 31) / 32);
                    groups += (rows + 31) / 32;
                }
                CHECK(g.total_groups() == groups);
            }
        }
    }
}

TEST_CASE("moe: the queued preparation comes before every expert task that reads it", "[moe][threads]") {
    // run_task_queue hands out entries in order: an expert task placed before one of its rows' preparation
    // tasks could wait forever (on one thread, always). So: every entry once, and each expert task after
    // all of the preparation tasks of the groups it reads (per token rows: one-row experts share groups).
    std::mt19937_64 rng(11);
    for (const std::int64_t m : {1, 3, 40, 300, 2048}) {
        for (const routing_kind kind : {routing_kind::uniform, routing_kind::zipf, routing_kind::single}) {
            for (const bool per_token : {true, false}) {
                INFO("m " << m << ", routing " << int(kind) << ", per_token " << per_token);
                const std::int64_t top_k = 4, experts = 24, nb = 64;
                const auto ids = make_ids(kind, m, top_k, experts, top_k, rng);
                detail::moe_groups g;
                serial_executor ex;
                detail::group_by_expert(moe_routing{m, top_k, ids.data(), top_k}, experts, true, g, ex);
                detail::x_row_groups xg;
                detail::plan_x_row_groups(g, m, per_token, xg);
                std::vector<detail::moe_task> tasks;
                detail::plan_moe_tasks(g, 24, tasks);
                for (const bool all_first : {false, true}) {  // all_first: exact moe_gemm's order
                    INFO("all_first " << all_first);
                    detail::queued_preparation q;
                    detail::plan_queued_preparation(g, xg, nb, tasks, q, all_first);
                    const std::int64_t n_prep = q.prep.count(), n_tasks = std::int64_t(tasks.size());
                    CHECK(q.prep.groups == xg.groups());
                    REQUIRE(std::int64_t(q.order.size()) == n_prep + n_tasks);
                    std::vector<std::int64_t> position(q.order.size(), -1);
                    for (std::size_t i = 0; i < q.order.size(); ++i) {
                        const std::int64_t j = q.order[i];
                        REQUIRE((j >= 0 && j < n_prep + n_tasks));
                        CHECK(position[std::size_t(j)] == -1);
                        position[std::size_t(j)] = std::int64_t(i);
                    }
                    std::int64_t misplaced = 0;
                    for (std::int64_t t = 0; t < n_tasks; ++t) {
                        const std::int64_t e = tasks[std::size_t(t)].expert, g0 = xg.of_expert[std::size_t(e)];
                        for (std::int64_t gg = g0; gg < g0 + detail::x_groups_of_expert(g, e); ++gg) {
                            // the group holds the expert's rows (a shared group: its token's row)
                            const std::int64_t r0 = xg.row0[std::size_t(gg)];
                            if (per_token && g.rows(e) == 1)
                                CHECK(g.pair[std::size_t(r0)] / top_k == g.pair[std::size_t(g.row_begin[std::size_t(e)])] / top_k);
                            else
                                CHECK((r0 >= g.row_begin[std::size_t(e)] && r0 < g.row_begin[std::size_t(e) + 1]));
                            for (std::int64_t c = 0; c < q.prep.chunks; ++c)
                                misplaced += position[std::size_t(gg * q.prep.chunks + c)] > position[std::size_t(n_prep + t)];
                        }
                    }
                    CHECK(misplaced == 0);
                    if (all_first)
                        for (std::size_t i = 0; i < q.order.size(); ++i) CHECK((q.order[i] < n_prep) == (std::int64_t(i) < n_prep));
                }
            }
        }
    }
}

TEST_CASE("moe_gemm: bitwise identical for any executor and thread count", "[moe][threads]") {
    std::mt19937_64 rng(99);
    for (isa backend : kernel_backends()) {
        const bool emu = emulated(backend);
        const std::int64_t m = emu ? 90 : 300, top_k = 4, experts = 16, n = emu ? 40 : 80, k = 128;
        const auto w = make_experts(experts, n, k, rng);
        const auto ids = make_ids(routing_kind::zipf, m, top_k, experts, top_k, rng);
        const auto x = amxmm_test::make_activations(m, k, rng);
        const moe_routing r{m, top_k, ids.data(), top_k};
        for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
            gemm_options opt;
            opt.force_isa = backend;
            opt.mode = mode;
            std::vector<float> serial(static_cast<std::size_t>(m * top_k * n));
            moe_gemm(w.packed.view(), r, x.data(), moe_input_rows::per_token, k, 0, serial.data(), top_k * n, n, opt,
                     serial_executor{});
            INFO("backend " << to_string(backend) << ", mode " << to_string(mode));
            for (int threads : {1, 2, 3}) {
                tbb_executor ex(threads);
                std::vector<float> y(serial.size(), 0.0f);
                moe_gemm(w.packed.view(), r, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n, n, opt, ex);
                CHECK(std::memcmp(y.data(), serial.data(), y.size() * sizeof(float)) == 0);
            }
            // The engine's own threads, with a shared workspace.
            const int nth = 3;
            aligned_buffer ws(moe_gemm_workspace_bytes(m, top_k, experts, k));
            gemm_options shared = opt;
            shared.workspace = ws.data();
            shared.workspace_bytes = ws.size();
            caller_threads_sync sync(nth);
            std::vector<float> y(serial.size(), 0.0f);
            for (const auto& e : amxmm_test::on_threads(nth, [&](int ith) {
                     moe_gemm(w.packed.view(), r, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n, n,
                              shared, caller_threads_executor{ith, nth, &sync});
                 }))
                CHECK(e.empty());
            CHECK(std::memcmp(y.data(), serial.data(), y.size() * sizeof(float)) == 0);
        }
    }
}

namespace {

// ---- moe_ffn oracles ---------------------------------------------------------------------------------

double act64(ffn_activation a, double g) {
    if (a == ffn_activation::silu) return g / (1.0 + std::exp(-g));
    return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * g * (1.0 + 0.044715 * g * g)));
}

/// The fp32 activations as moe.hpp documents them: kernel/activation.hpp's definitions (their accuracy
/// against fp64 and their vector forms' bits are tested in test_activation.cpp).
float act32(ffn_activation a, float g) {
    return a == ffn_activation::silu ? detail::silu(g) : detail::gelu_tanh(g);
}

/// moe_ffn's `exact` arithmetic spelled with the dense oracle: reference_gemm_exact for gate, up and
/// down, h = act(g)·u in fp32, slots summed in order with each product rounded. Equal to moe_ffn
/// exact bit for bit.
std::vector<float> ffn_exact_oracle(const expert_set& gate, const expert_set& up, const expert_set& down,
                                    const std::vector<std::int32_t>& ids, const float* wts, std::int64_t m,
                                    std::int64_t top_k, const std::vector<float>& x, ffn_activation act) {
    const std::int64_t k = gate.k, f = gate.n;
    std::vector<float> y(static_cast<std::size_t>(m * k)), g(static_cast<std::size_t>(f)), u(static_cast<std::size_t>(f)), o(static_cast<std::size_t>(k));
    for (std::int64_t t = 0; t < m; ++t)
        for (std::int64_t s = 0; s < top_k; ++s) {
            const std::int64_t e = ids[t * top_k + s];
            reference_gemm_exact(1, &x[t * k], k, gate.view(e), g.data(), f);
            reference_gemm_exact(1, &x[t * k], k, up.view(e), u.data(), f);
            for (std::int64_t j = 0; j < f; ++j) g[j] = act32(act, g[j]) * u[j];
            reference_gemm_exact(1, g.data(), f, down.view(e), o.data(), k);
            const float wt = wts ? wts[t * top_k + s] : 1.0f;
            for (std::int64_t c = 0; c < k; ++c) {
                const float term = detail::rounded(wt * o[c]);
                y[t * k + c] = s == 0 ? term : y[t * k + c] + term;
            }
        }
    return y;
}

/// The fp64 oracle of moe_ffn (dequantized weights, act in fp64) and a rigorous bound on how far
/// moe_ffn in `mode` may be from it. Derivation, per linear layer z = Σ_k a_k·w_k (a: its input):
///   operand errors  e_a(k): exact — Q8_0 of a's 32-block B: |fp16(d)·q − a| <= d/2 + 127·|fp16(d) − d|
///                           <= 0.6·d + 127·2^-25 (d = max_B|a|/127; fp16 rounding 2^-11 relative,
///                           2^-25 absolute when subnormal);  fast — bf16 RNE, 2^-8·|a_k|;
///                   e_w(k): exact — 0 (d·q is exact in fp32);  fast — 2^-8·|w_k| (bf16 of d·q);
///   |ẑ − z| <= Σ_k (|w_k|·e_a + |a_k|·e_w + e_a·e_w) + (K + 2)·2^-24·Σ_k (|a_k| + e_a)(|w_k| + e_w)
///   (the last term: fp32 accumulation in any order, as fp32_sum_bound).
/// h = act(g)·u with |act'| <= 1.2 (SiLU 1.0998, GELU-tanh 1.129):
///   |ĥ − h| <= 1.2·E_g·(|u| + E_u) + |act(g)|·E_u + 2^-20·(|act(g)| + 1.2·E_g)(|u| + E_u)
///   (the last term: fp32 evaluation of act and the product, a few ulps). ĥ is then the input `a` of
///   down, whose operand error adds to it (with max_B taken over |h| + E_h).
/// y = Σ_s w_s·o_s:  |ŷ − y| <= Σ_s w_s·E_o,s + (top_k + 1)·2^-24·Σ_s w_s·(|o_s| + E_o,s).
struct ffn_fp64 {
    std::vector<double> y, bound;
};

ffn_fp64 ffn_oracle(const expert_set& gate, const expert_set& up, const expert_set& down,
                    const std::vector<std::int32_t>& ids, const float* wts, std::int64_t m, std::int64_t top_k,
                    const std::vector<float>& x, ffn_activation act, compute_mode mode) {
    const bool exact = mode == compute_mode::exact;
    const double u24 = 0x1p-24, bf = 0x1p-8;
    const std::int64_t k = gate.k, f = gate.n;
    // Operand error of a (n values) for its quantization in this mode, given |a| + E_a upper bounds.
    auto operand_error = [&](const std::vector<double>& a_hi, std::vector<double>& e) {
        for (std::size_t b = 0; b < a_hi.size(); b += qk) {
            double amax = 0;
            for (std::size_t j = b; j < b + qk; ++j) amax = std::max(amax, a_hi[j]);
            for (std::size_t j = b; j < b + qk; ++j)
                e[j] += exact ? 0.6 * amax / 127.0 + 127.0 * 0x1p-25 : bf * a_hi[j];
        }
    };
    // z = a · Wᵀ in fp64 and its bound; `ea` the operand error of a (already including its own error).
    auto layer = [&](const expert_set& w, std::int64_t e, const std::vector<double>& a, const std::vector<double>& ea,
                     std::vector<double>& z, std::vector<double>& ez) {
        for (std::int64_t j = 0; j < w.n; ++j) {
            const double* wr = w.deq_row(e, j);
            double acc = 0, err = 0, mag = 0;
            for (std::int64_t c = 0; c < w.k; ++c) {
                const double ew = exact ? 0.0 : bf * std::fabs(wr[c]);
                acc += a[c] * wr[c];
                err += std::fabs(wr[c]) * ea[c] + std::fabs(a[c]) * ew + ea[c] * ew;
                mag += (std::fabs(a[c]) + ea[c]) * (std::fabs(wr[c]) + ew);
            }
            z[j] = acc;
            ez[j] = err + double(w.k + 2) * u24 * mag;
        }
    };
    ffn_fp64 out{std::vector<double>(std::size_t(m * k)), std::vector<double>(std::size_t(m * k))};
    std::vector<double> a(static_cast<std::size_t>(k)), ea(static_cast<std::size_t>(k)), g(static_cast<std::size_t>(f)), eg(g.size()), u(g.size()),
        eu(g.size()), h(g.size()), eh(g.size()), o(static_cast<std::size_t>(k)), eo(o.size()), hi;
    std::vector<double> ymag(static_cast<std::size_t>(k));
    for (std::int64_t t = 0; t < m; ++t) {
        std::fill(ymag.begin(), ymag.end(), 0.0);
        for (std::int64_t s = 0; s < top_k; ++s) {
            const std::int64_t e = ids[t * top_k + s];
            for (std::int64_t c = 0; c < k; ++c) a[c] = x[t * k + c];
            hi.assign(a.size(), 0.0);
            for (std::size_t c = 0; c < a.size(); ++c) hi[c] = std::fabs(a[c]);
            std::fill(ea.begin(), ea.end(), 0.0);
            operand_error(hi, ea);
            layer(gate, e, a, ea, g, eg);
            layer(up, e, a, ea, u, eu);
            for (std::int64_t j = 0; j < f; ++j) {
                const double ag = act64(ffn_activation(act), g[j]), uu = std::fabs(u[j]) + eu[j];
                h[j] = ag * u[j];
                eh[j] = 1.2 * eg[j] * uu + std::fabs(ag) * eu[j] + 0x1p-20 * (std::fabs(ag) + 1.2 * eg[j]) * uu;
            }
            hi.assign(h.size(), 0.0);
            for (std::size_t j = 0; j < h.size(); ++j) hi[j] = std::fabs(h[j]) + eh[j];
            operand_error(hi, eh);
            layer(down, e, h, eh, o, eo);
            const double wt = wts ? wts[t * top_k + s] : 1.0;
            for (std::int64_t c = 0; c < k; ++c) {
                out.y[t * k + c] += wt * o[c];
                out.bound[t * k + c] += wt * eo[c];
                ymag[c] += wt * (std::fabs(o[c]) + eo[c]);
            }
        }
        for (std::int64_t c = 0; c < k; ++c) out.bound[t * k + c] += double(top_k + 1) * u24 * ymag[c] + 1e-30;
    }
    return out;
}

struct ffn_case {
    std::int64_t m, top_k, e, k, f;
    routing_kind kind;
    bool weighted;
    ffn_activation act;
};

void check_moe_ffn(const ffn_case& c, isa backend, std::mt19937_64& rng) {
    const auto gate = make_experts(c.e, c.f, c.k, rng, 0.5f);
    const auto up = make_experts(c.e, c.f, c.k, rng, 0.5f);
    const auto down = make_experts(c.e, c.k, c.f, rng, 0.5f);
    const auto ids = make_ids(c.kind, c.m, c.top_k, c.e, c.top_k, rng);
    const auto x = amxmm_test::make_activations(c.m, c.k, rng);
    std::vector<float> wts(static_cast<std::size_t>(c.m * c.top_k));
    std::uniform_real_distribution<float> dw(0.0f, 1.0f);
    for (auto& v : wts) v = dw(rng);
    const float* wp = c.weighted ? wts.data() : nullptr;
    const moe_routing r{c.m, c.top_k, ids.data(), c.top_k};
    for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
        moe_ffn_options opt;
        opt.force_isa = backend;
        opt.mode = mode;
        opt.activation = c.act;
        const std::int64_t ldy = c.k + 3;
        const float sentinel = -999.0f;
        std::vector<float> y(std::size_t(c.m * ldy), sentinel);
        const gemm_plan plan = moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r, wp, c.top_k,
                                       x.data(), c.k, y.data(), ldy, opt);
        REQUIRE(plan.mode == mode);
        INFO("backend " << to_string(backend) << ", mode " << to_string(mode) << ", m " << c.m << ", top_k " << c.top_k
                        << ", E " << c.e << ", K " << c.k << ", F " << c.f << ", routing " << name(c.kind)
                        << (c.weighted ? ", weighted" : "") << (c.act == ffn_activation::silu ? ", silu" : ", gelu"));
        const auto ref = ffn_oracle(gate, up, down, ids, wp, c.m, c.top_k, x, c.act, mode);
        std::int64_t outside = 0, pad = 0;
        double worst = 0;  // largest |error| / bound
        for (std::int64_t t = 0; t < c.m; ++t) {
            for (std::int64_t j = 0; j < c.k; ++j) {
                const double err = std::fabs(y[t * ldy + j] - ref.y[t * c.k + j]);
                outside += !(err <= ref.bound[t * c.k + j]);
                worst = std::max(worst, err / ref.bound[t * c.k + j]);
            }
            for (std::int64_t j = c.k; j < ldy; ++j) pad += y[t * ldy + j] != sentinel;
        }
        CAPTURE(worst);
        CHECK(outside == 0);
        CHECK(pad == 0);
        if (mode == compute_mode::exact) {
            const auto want = ffn_exact_oracle(gate, up, down, ids, wp, c.m, c.top_k, x, c.act);
            std::int64_t diff = 0;
            for (std::int64_t t = 0; t < c.m; ++t)
                diff += std::memcmp(&y[t * ldy], &want[t * c.k], std::size_t(c.k) * sizeof(float)) != 0;
            CHECK(diff == 0);
        }
    }
}

}  // namespace

TEST_CASE("moe_ffn: against the fp64 oracle (derived bound) and, exact, the dense-reference loop bitwise", "[moe][ffn]") {
    std::mt19937_64 rng(7);
    for (isa backend : kernel_backends()) {
        const bool emu = emulated(backend);
        std::vector<ffn_case> cases = {
            {1, 1, 4, 64, 32, routing_kind::uniform, true, ffn_activation::silu},
            {1, 8, 16, 64, 96, routing_kind::uniform, true, ffn_activation::silu},  // m = 1: one row for 8 experts
            {1, 3, 8, 32, 64, routing_kind::single, true, ffn_activation::gelu_tanh},  // m = 1, one expert 3 times
            {7, 2, 8, 64, 96, routing_kind::zipf, false, ffn_activation::silu},
            {4, 8, 64, 64, 96, routing_kind::uniform, true, ffn_activation::silu},  // one-row experts share token rows
            {12, 3, 5, 32, 64, routing_kind::single, true, ffn_activation::gelu_tanh},
            {70, 2, 4, 64, 64, routing_kind::single, true, ffn_activation::silu},  // one expert with 140 rows
        };
        if (!emu) {
            cases.push_back({150, 8, 64, 64, 64, routing_kind::zipf, true, ffn_activation::silu});
            cases.push_back({33, 4, 16, 128, 32, routing_kind::sparse, true, ffn_activation::gelu_tanh});
        }
        for (const auto& c : cases) check_moe_ffn(c, backend, rng);
    }
}

TEST_CASE("moe_ffn: 8 MiB of slot rows (streaming stores in the down phase) against the oracles", "[moe][ffn]") {
    // 2048 tokens × 8 slots × K = 128 floats of down outputs: 8 MiB, from which the blocked path's down tasks
    // write them with non-temporal stores (moe_ffn_run). Every token routes to all 8 experts, so each has
    // 2048 rows and takes the blocked path (AMX and its emulator only).
    std::mt19937_64 rng(11);
    for (isa backend : kernel_backends())
        if (backend == isa::amx || backend == isa::amx_emulated)
            check_moe_ffn({2048, 8, 8, 128, 32, routing_kind::uniform, true, ffn_activation::silu}, backend, rng);
}

TEST_CASE("moe: gate and up packed together round-trip and reject F not a multiple of 32", "[moe][pack]") {
    std::mt19937_64 rng(31);
    for (const auto& [e, f, k] : std::vector<std::array<std::int64_t, 3>>{{1, 32, 32}, {3, 96, 64}, {5, 64, 160}}) {
        const auto gate = make_experts(e, f, k, rng), up = make_experts(e, f, k, rng);
        const auto both = pack_q4_0_vnni_gate_up(gate.blocks.data(), up.blocks.data(), e, f, k, tbb_executor(2));
        CHECK(both.f() == f);
        CHECK(both.size_bytes() == gate.packed.size_bytes() + up.packed.size_bytes());
        std::vector<block_q4_0> g(gate.blocks.size()), u(up.blocks.size());
        unpack_q4_0_vnni_gate_up(both.view(), g.data(), u.data(), g.size());
        CHECK(std::memcmp(g.data(), gate.blocks.data(), g.size() * sizeof(block_q4_0)) == 0);
        CHECK(std::memcmp(u.data(), up.blocks.data(), u.size() * sizeof(block_q4_0)) == 0);
        // Panel 2j is gate's panel j, panel 2j + 1 up's, byte for byte.
        for (std::int64_t ex = 0; ex < e; ++ex)
            for (std::int64_t j = 0; j < f / 16; ++j) {
                const auto panel_bytes = static_cast<std::size_t>(gate.packed.layout().panel_bytes());
                CHECK(std::memcmp(both.view().fused.expert(ex).panel(2 * j), gate.packed.expert(ex).panel(j), panel_bytes) == 0);
                CHECK(std::memcmp(both.view().fused.expert(ex).panel(2 * j + 1), up.packed.expert(ex).panel(j), panel_bytes) == 0);
            }
    }
    const auto w = make_experts(2, 48, 32, rng);
    REQUIRE_THROWS_WITH(pack_q4_0_vnni_gate_up(w.blocks.data(), w.blocks.data(), 2, 48, 32),
                        Catch::Matchers::ContainsSubstring("F = 48 is not a positive multiple of 32"));
}

TEST_CASE("moe_ffn: gate and up packed together give the separate weights' results bit for bit", "[moe][ffn]") {
    std::mt19937_64 rng(32);
    for (isa backend : kernel_backends()) {
        const bool emu = emulated(backend);
        // One hot expert (>= 65 rows: the blocked AMX path) and cold ones (the micro-kernel path); F wide
        // enough that a task may hold more than 16 packed-together column blocks.
        const std::int64_t m = emu ? 40 : 120, top_k = 2, experts = 6, k = 64, f = emu ? 64 : 512;
        const auto gate = make_experts(experts, f, k, rng, 0.5f), up = make_experts(experts, f, k, rng, 0.5f);
        const auto down = make_experts(experts, k, f, rng, 0.5f);
        const auto both = pack_q4_0_vnni_gate_up(gate.blocks.data(), up.blocks.data(), experts, f, k);
        std::vector<std::int32_t> ids(static_cast<std::size_t>(m * top_k));
        for (std::int64_t t = 0; t < m; ++t) {
            ids[std::size_t(t * top_k)] = 0;  // expert 0 takes every token
            ids[std::size_t(t * top_k + 1)] = static_cast<std::int32_t>(1 + t % (experts - 1));
        }
        const auto x = amxmm_test::make_activations(m, k, rng);
        std::vector<float> wts(std::size_t(m * top_k), 0.5f);
        const moe_routing r{m, top_k, ids.data(), top_k};
        for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
            INFO("backend " << to_string(backend) << ", mode " << to_string(mode));
            moe_ffn_options opt;
            opt.force_isa = backend;
            opt.mode = mode;
            std::vector<float> separate(static_cast<std::size_t>(m * k)), fused(separate.size(), -1.0f);
            moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r, wts.data(), top_k, x.data(), k,
                    separate.data(), k, opt, tbb_executor(2));
            moe_ffn(both.view(), down.packed.view(), r, wts.data(), top_k, x.data(), k, fused.data(), k, opt,
                    tbb_executor(3));
            CHECK(std::memcmp(fused.data(), separate.data(), fused.size() * sizeof(float)) == 0);
        }
        // Shapes are checked against down.
        const auto wrong_down = make_experts(experts, k, f + 32, rng);
        REQUIRE_THROWS_WITH(moe_ffn(both.view(), wrong_down.packed.view(), r, wts.data(), top_k, x.data(), k,
                                    wts.data(), k),
                            Catch::Matchers::ContainsSubstring("must be K x F"));
    }
}

TEST_CASE("moe_ffn: bitwise identical for any executor and thread count", "[moe][ffn][threads]") {
    std::mt19937_64 rng(8);
    // m = 3: every expert has one row group, so on the queue (oneTBB, serial) the down tasks also sum
    // the slots, while caller threads keep the separate sum phase.
    const std::int64_t m = GENERATE(100, 3), top_k = 4, experts = 8, k = 96, f = 96;
    const auto gate = make_experts(experts, f, k, rng, 0.5f), up = make_experts(experts, f, k, rng, 0.5f);
    const auto down = make_experts(experts, k, f, rng, 0.5f);
    const auto ids = make_ids(routing_kind::zipf, m, top_k, experts, top_k, rng);
    INFO("m = " << m);
    const auto x = amxmm_test::make_activations(m, k, rng);
    std::vector<float> wts(std::size_t(m * top_k), 0.25f);
    const moe_routing r{m, top_k, ids.data(), top_k};
    for (isa backend : kernel_backends()) {
        for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
            moe_ffn_options opt;
            opt.force_isa = backend;
            opt.mode = mode;
            std::vector<float> serial(static_cast<std::size_t>(m * k));
            moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r, wts.data(), top_k, x.data(), k,
                    serial.data(), k, opt, serial_executor{});
            INFO("backend " << to_string(backend) << ", mode " << to_string(mode));
            for (int threads : {1, 2, 3}) {
                tbb_executor ex(threads);
                std::vector<float> y(serial.size(), 0.0f);
                moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r, wts.data(), top_k, x.data(), k,
                        y.data(), k, opt, ex);
                CHECK(std::memcmp(y.data(), serial.data(), y.size() * sizeof(float)) == 0);
            }
            const int nth = 2;
            aligned_buffer ws(moe_ffn_workspace_bytes(m, top_k, experts, k, f));
            moe_ffn_options shared = opt;
            shared.workspace = ws.data();
            shared.workspace_bytes = ws.size();
            caller_threads_sync sync(nth);
            std::vector<float> y(serial.size(), 0.0f);
            for (const auto& e : amxmm_test::on_threads(nth, [&](int ith) {
                     moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r, wts.data(), top_k, x.data(), k,
                             y.data(), k, shared, caller_threads_executor{ith, nth, &sync});
                 }))
                CHECK(e.empty());
            CHECK(std::memcmp(y.data(), serial.data(), y.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("moe_gemm exact: a non-finite x row that the queue prepares last still leaves y untouched", "[moe][errors]") {
    // Exact moe_gemm's expert tasks write y, so its queue prepares all of x before any of them runs. Here the
    // bad row's token alone routes to the last two experts, whose rows an interleaved queue (fast mode's)
    // would prepare after most expert tasks had written their rows.
    std::mt19937_64 rng(12);
    const std::int64_t m = 512, top_k = 2, experts = 64, n = 64, k = 64, bad_token = 200;
    const auto w = make_experts(experts, n, k, rng);
    std::vector<std::int32_t> ids(std::size_t(m * top_k));
    for (std::int64_t t = 0; t < m; ++t) {
        ids[std::size_t(t * top_k)] = std::int32_t(t % (experts - 2));
        ids[std::size_t(t * top_k + 1)] = std::int32_t((t + 1) % (experts - 2));
    }
    ids[std::size_t(bad_token * top_k)] = experts - 2;
    ids[std::size_t(bad_token * top_k + 1)] = experts - 1;
    auto x = amxmm_test::make_activations(m, k, rng);
    x[std::size_t(bad_token * k + 5)] = std::numeric_limits<float>::infinity();
    gemm_options opt;
    opt.mode = compute_mode::exact;
    for (int threads : {1, 2, 3}) {
        INFO("threads " << threads);
        tbb_executor pool(threads);
        std::vector<float> y(std::size_t(m * top_k * n), 42.0f);
        const auto e = amxmm_test::catch_error([&] {
            moe_gemm(w.packed.view(), moe_routing{m, top_k, ids.data(), top_k}, x.data(), moe_input_rows::per_token, k, 0,
                     y.data(), top_k * n, n, opt, pool);
        });
        CHECK(amxmm_test::contains(e.what, "token 200, slot 0 has element 5 = inf"));
        CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 42.0f; }));
    }
}

TEST_CASE("moe: bad input throws amxmm::error and writes nothing", "[moe][errors]") {
    std::mt19937_64 rng(4);
    const std::int64_t m = 3, top_k = 2, experts = 4, n = 16, k = 64, f = 32;
    const auto w = make_experts(experts, n, k, rng);
    const auto gate = make_experts(experts, f, k, rng), up = make_experts(experts, f, k, rng);
    const auto down = make_experts(experts, k, f, rng);
    std::vector<std::int32_t> ids = {0, 1, 2, 3, 1, 1};  // token 2 names expert 1 twice: allowed
    auto x = amxmm_test::make_activations(m * top_k, k, rng);
    std::vector<float> wts(std::size_t(m * top_k), 0.5f);
    std::vector<float> y(std::size_t(m * top_k * n), 42.0f), yf(std::size_t(m * k), 42.0f);
    const auto untouched = [&] {
        return std::all_of(y.begin(), y.end(), [](float v) { return v == 42.0f; }) &&
               std::all_of(yf.begin(), yf.end(), [](float v) { return v == 42.0f; });
    };
    using amxmm_test::catch_error;
    using amxmm_test::contains;
    gemm_options opt;
    opt.mode = compute_mode::exact;
    moe_ffn_options fopt;
    fopt.mode = compute_mode::exact;
    auto gemm = [&](moe_routing r, const float* xp = nullptr, std::int64_t ldy_token = -1, std::int64_t ldy_slot = -1,
                    moe_input_rows rows = moe_input_rows::per_token, float* yp = nullptr,
                    const gemm_options* options = nullptr, std::int64_t ldx_token = -1) {
        if (ldy_token == -1) ldy_token = top_k * n;  // defaults: ggml's [M][top_k][N]
        if (ldy_slot == -1) ldy_slot = n;
        if (ldx_token == -1) ldx_token = rows == moe_input_rows::per_slot ? top_k * k : k;
        return catch_error([&] {
            moe_gemm(w.packed.view(), r, xp ? xp : x.data(), rows, ldx_token, k, yp ? yp : y.data(), ldy_token, ldy_slot,
                     options ? *options : opt);
        });
    };
    auto ffn = [&](moe_routing r, const float* wp, const packed_q4_0_vnni_experts_view& dn, const float* xp = nullptr,
                   std::int64_t ld_weights = -1, std::int64_t ldy = -1, const moe_ffn_options* options = nullptr) {
        return catch_error([&] {
            moe_ffn(gate.packed.view(), up.packed.view(), dn, r, wp, ld_weights == -1 ? top_k : ld_weights,
                    xp ? xp : x.data(), k, yf.data(), ldy == -1 ? k : ldy, options ? *options : fopt);
        });
    };
    const moe_routing good{m, top_k, ids.data(), top_k};

    auto bad_ids = ids;
    bad_ids[3] = 4;
    auto e = gemm({m, top_k, bad_ids.data(), top_k});
    CHECK(e.thrown);
    CHECK(e.code == errc::out_of_range);
    CHECK(contains(e.what, "routing.ids[1][1] = 4"));
    bad_ids[3] = -1;
    CHECK(contains(ffn({m, top_k, bad_ids.data(), top_k}, wts.data(), down.packed.view()).what, "ids[1][1] = -1"));
    CHECK(contains(gemm({m, 5, ids.data(), 5}).what, "top_k = 5"));
    CHECK(contains(gemm({m, 0, ids.data(), 1}).what, "top_k = 0"));
    CHECK(contains(gemm({m, top_k, ids.data(), 1}).what, "ld_ids"));
    CHECK(contains(gemm({m, top_k, nullptr, top_k}).what, "ids is null"));
    CHECK(contains(gemm({-1, top_k, ids.data(), top_k}).what, "routing.m = -1"));
    CHECK_FALSE(gemm(good).thrown);  // the good call writes
    CHECK_FALSE(untouched());
    std::fill(y.begin(), y.end(), 42.0f);
    CHECK(contains(gemm(good, nullptr, top_k * n, n - 1).what, "overlap"));
    CHECK(contains(gemm(good, nullptr, n, n).what, "overlap"));
    CHECK(contains(gemm(good, nullptr, top_k * n, n, moe_input_rows::per_slot, reinterpret_cast<float*>(x.data()) + 5).what,
                   "y overlaps x"));
    CHECK(contains(gemm(good, nullptr, top_k * n, n, moe_input_rows(7)).what, "moe_input_rows"));
    auto xbad = x;
    xbad[std::size_t(2 * k + 9)] = std::nanf("");
    CHECK(contains(gemm(good, xbad.data()).what, "token 2, slot "));
    CHECK(contains(gemm(good, xbad.data()).what, "not finite"));
    auto misaligned = w.packed.view();
    misaligned.data += 4;
    CHECK(contains(catch_error([&] {
                       moe_gemm(misaligned, good, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n, n);
                   }).what,
                   "64-byte"));
    // Workspace: required with the engine's threads, and checked when given.
    caller_threads_sync sync(1);
    CHECK(contains(catch_error([&] {
                       moe_gemm(w.packed.view(), good, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n,
                                n, opt, caller_threads_executor{0, 1, &sync});
                   }).what,
                   "workspace"));
    aligned_buffer tiny(64);
    gemm_options small = opt;
    small.workspace = tiny.data();
    small.workspace_bytes = tiny.size();
    const auto ws_err = catch_error([&] {
        moe_gemm(w.packed.view(), good, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n, n, small);
    });
    CHECK(ws_err.code == errc::buffer_too_small);

    // moe_ffn: weights, shapes.
    auto bad_w = wts;
    bad_w[4] = -0.1f;
    CHECK(contains(ffn(good, bad_w.data(), down.packed.view()).what, "weights[2][0] = -0.1"));
    bad_w[4] = std::numeric_limits<float>::infinity();
    CHECK(contains(ffn(good, bad_w.data(), down.packed.view()).what, "weights[2][0] = inf"));
    bad_w[4] = std::nanf("");
    CHECK(contains(ffn(good, bad_w.data(), down.packed.view()).what, "must be finite"));
    CHECK(contains(ffn(good, wts.data(), w.packed.view()).what, "down is 16 x 64"));  // wrong down shape
    const auto other = make_experts(3, k, f, rng);
    CHECK(contains(ffn(good, wts.data(), other.packed.view()).what, "expert counts differ"));
    CHECK(contains(ffn(good, wts.data(), down.packed.view(), xbad.data()).what, "x[2][9] = nan"));
    // act(gate) ⊙ up overflows (exact mode must quantize it): the error comes from inside the gate/up
    // tasks, on one thread or several, ends the call (no task left waiting) and writes nothing.
    const std::vector<float> xhuge(x.size(), 1e30f);
    CHECK(contains(ffn(good, wts.data(), down.packed.view(), xhuge.data()).what, "act(gate) * up of token"));
    // The same, and a non-finite x, from the preparation that decode calls queue before their expert tasks.
    const std::vector<float> x_one(xbad.begin() + 2 * k, xbad.begin() + 3 * k);  // token 2's row: nan at 9
    const moe_routing one{1, top_k, ids.data() + 2 * top_k, top_k};  // token 2's experts (one twice)
    const moe_routing one_distinct{1, top_k, ids.data(), top_k};      // token 0's experts: one row for both
    for (int threads : {2, 3}) {
        tbb_executor pool(threads);
        CHECK(contains(catch_error([&] {
                           moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), good, wts.data(), top_k,
                                   xhuge.data(), k, yf.data(), k, fopt, pool);
                       }).what,
                       "is not finite (exact mode quantizes it to Q8_0)"));
        for (const moe_routing& r1 : {good, one, one_distinct}) {
            const float* xr = r1.m == 1 ? x_one.data() : xbad.data();
            CHECK(contains(catch_error([&] {
                               moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), r1, wts.data(), top_k, xr,
                                       k, yf.data(), k, fopt, pool);
                           }).what,
                           "][9] = nan"));
            CHECK(contains(catch_error([&] {
                               moe_gemm(w.packed.view(), r1, xr, moe_input_rows::per_token, k, 0, y.data(), top_k * n, n,
                                        opt, pool);
                           }).what,
                           "has element 9 = nan"));
        }
    }
    CHECK(contains(catch_error([&] {
                       moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), good, wts.data(), top_k,
                               x.data(), k, yf.data(), k - 1, fopt);
                   }).what,
                   "ldy"));
    CHECK(contains(catch_error([&] {
                       moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), good, wts.data(), 1, x.data(),
                               k, yf.data(), k, fopt);
                   }).what,
                   "ld_weights"));
    // Strides whose rows would span more than the address space (they used to wrap around onto the first
    // rows and pass the overlap checks), an unknown mode, and errors naming the function that was called.
    constexpr std::int64_t huge = std::int64_t(1) << 62;
    CHECK(contains(gemm(good, nullptr, huge, n).what, "y (ldy_token, ldy_slot) strides 4611686018427387904, 16"));
    CHECK(contains(gemm(good, nullptr, top_k * n, huge / 2).what, "span more than the address space"));
    CHECK(contains(gemm({m, top_k, ids.data(), huge}).what, "routing.ids (ld_ids) strides"));
    CHECK(contains(gemm(good, nullptr, -1, -1, moe_input_rows::per_slot, nullptr, nullptr, huge).what,
                   "x (ldx_token, ldx_slot) strides"));
    const packed_q4_0_vnni_experts_view dn = down.packed.view();
    CHECK(contains(ffn(good, wts.data(), dn, nullptr, -1, huge).what,
                   "ldy = 4611686018427387904 with m = 3 rows spans more than the address space"));
    CHECK(contains(ffn(good, wts.data(), dn, nullptr, huge).what, "ld_weights = 4611686018427387904"));
    gemm_options bad_mode = opt;
    bad_mode.mode = compute_mode(7);
    CHECK(contains(gemm(good, nullptr, -1, -1, moe_input_rows::per_token, nullptr, &bad_mode).what,
                   "moe_gemm: options.mode = 7 is not a compute_mode"));
    moe_ffn_options bad_ffn_mode = fopt;
    bad_ffn_mode.mode = compute_mode(7);
    CHECK(contains(ffn(good, wts.data(), dn, nullptr, -1, -1, &bad_ffn_mode).what, "moe_ffn: options.mode = 7"));
    gemm_options unknown_isa = opt;
    unknown_isa.force_isa = isa(17);
    CHECK(contains(gemm(good, nullptr, -1, -1, moe_input_rows::per_token, nullptr, &unknown_isa).what,
                   "moe_gemm: options.force_isa"));
    CHECK(untouched());

    // Duplicates (token 2: expert 1 twice) are accepted; m == 0 is a no-op with null pointers.
    CHECK_FALSE(ffn(good, wts.data(), down.packed.view()).thrown);
    CHECK_NOTHROW(moe_gemm(w.packed.view(), {0, top_k, nullptr, 0}, nullptr, moe_input_rows::per_token, 0, 0, nullptr,
                           0, 0));
    CHECK_NOTHROW(moe_ffn(gate.packed.view(), up.packed.view(), down.packed.view(), {0, top_k, nullptr, 0}, nullptr, 0,
                          nullptr, 0, nullptr, 0));
}

TEST_CASE("moe: plan and workspace sizes", "[moe]") {
    gemm_options opt;
    opt.force_isa = isa::amx_emulated;
    CHECK(plan_moe_q4_0(1, 8, 128, opt).mode == compute_mode::exact);      // 1 row per expert
    CHECK(plan_moe_q4_0(512, 8, 128, opt).mode == compute_mode::fast);     // 32 rows per expert
    // MoE keeps its own threshold (dense calls take fast from auto_fast_min_rows = 16 rows)
    CHECK(plan_moe_q4_0(16 * (moe_auto_fast_min_rows - 1), 8, 128, opt).mode == compute_mode::exact);
    CHECK(plan_moe_q4_0(16 * moe_auto_fast_min_rows, 8, 128, opt).mode == compute_mode::fast);
    CHECK(plan_moe_q4_0(2048, 1, 8, opt).mode == compute_mode::fast);
    // The bound covers the worst case: every row its own expert.
    CHECK(moe_padded_rows(4, 2, 256) == 8 * 32);
    CHECK(moe_padded_rows(100, 1, 1) == 128);
    CHECK(moe_gemm_workspace_bytes(4, 2, 256, 64) >= gemm_workspace_bytes(8 * 32, 64));
}

TEST_CASE("moe: automatic mode runs what plan_moe_q4_0 says", "[moe]") {
    std::mt19937_64 rng(12);
    const std::int64_t experts = 8, n = 40, k = 64;
    const auto w = make_experts(experts, n, k, rng);
    for (isa backend : kernel_backends()) {
        for (std::int64_t m : {1, 40}) {
            const std::int64_t top_k = 2;
            const auto ids = make_ids(routing_kind::uniform, m, top_k, experts, top_k, rng);
            const auto x = amxmm_test::make_activations(m, k, rng);
            gemm_options opt;
            opt.force_isa = backend;
            const gemm_plan want = plan_moe_q4_0(m, top_k, experts, opt);
            std::vector<float> y(std::size_t(m * top_k * n)), forced(y.size());
            const moe_routing r{m, top_k, ids.data(), top_k};
            const gemm_plan got = moe_gemm(w.packed.view(), r, x.data(), moe_input_rows::per_token, k, 0, y.data(),
                                           top_k * n, n, opt);
            CHECK(got.mode == want.mode);
            CHECK(got.backend == backend);
            opt.mode = want.mode;
            moe_gemm(w.packed.view(), r, x.data(), moe_input_rows::per_token, k, 0, forced.data(), top_k * n, n, opt);
            CHECK(std::memcmp(y.data(), forced.data(), y.size() * sizeof(float)) == 0);
        }
    }
}
