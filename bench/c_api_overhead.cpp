// What the C API (include/amxmm/c/amxmm.h) costs over the C++ call it wraps (issue 7 target: < 2%
// of the kernels' own time per layer, packing excluded).
//
// Both sides run on the same packed bytes (the C handles' own weights, viewed from C++), the same
// activations and outputs, and the same oneTBB executor (the one inside the C executor handle), so
// the only difference is the API layer: handle and option checks, exception-to-status translation.
// Weights are hot (one copy): the kernels are at their fastest, so the overhead's share is largest.
//
//   c_api_overhead/<case>/cpp          the C++ call alone
//   c_api_overhead/<case>/c            the C call alone
//   c_api_overhead/<case>/interleaved  one C++ and one C call per iteration (order alternating), each
//                                      timed: counters cpp_us, c_us, overhead_ns and overhead_pct =
//                                      100 · (c − cpp) / cpp. The number to read: drift and cache state
//                                      hit both sides alike.
// Cases: dense K4096_N4096 at M = 1 and M = 512; moe_ffn of a Qwen3-30B-A3B layer (E = 128, K = 2048,
// F = 768, top-8, gate and up packed together) at M = 1; and M = 0 dense calls (the fixed cost of
// a call: argument checks and the plan, no kernel).
//
// Environment as every amxmm benchmark (bench_common.hpp): AMXMM_BENCH_THREADS, AMXMM_BENCH_MIN_TIME,
// AMXMM_BENCH_PROBES=0 skips the startup probes (not used here), AMXMM_ISA.
#define AMXMM_C_IMPLEMENTATION
#include <amxmm/c/amxmm.h>

#include "bench_common.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace amxmm_bench;

/// The C executor handle every case uses (and whose oneTBB executor the C++ calls use).
amxmm_executor* c_executor() {
    static amxmm_executor* ex = [] {
        amxmm_executor* e = nullptr;
        if (amxmm_executor_create(bench_threads(), &e) != AMXMM_OK)
            std::fprintf(stderr, "c_api_overhead: %s\n", amxmm_last_error());
        return e;
    }();
    return ex;
}

/// One case: a C++ call and the equivalent C call, both writing to the same output.
struct api_pair {
    std::string name;
    std::function<void()> cpp;
    std::function<amxmm_status()> c;
    std::size_t out_floats = 0;
    float* out = nullptr;
};

// ---- dense ------------------------------------------------------------------------------------------

struct dense_case {
    shape s;
    std::unique_ptr<amxmm_packed_weight, decltype(&amxmm_packed_weight_free)> w{nullptr, amxmm_packed_weight_free};
};

api_pair make_dense(std::int64_t m, const shape& s) {
    static std::vector<std::shared_ptr<dense_case>> keep;  // weights live for the process
    auto dc = std::make_shared<dense_case>();
    dc->s = s;
    for (const auto& other : keep)  // one packed copy per shape
        if (other->s.k == s.k && other->s.n == s.n) {
            dc = other;
            break;
        }
    if (!dc->w) {
        const std::vector<amxmm::block_q4_0> blocks = random_q4_0(s, 11);
        amxmm_packed_weight* w = nullptr;
        if (amxmm_pack_q4_0_vnni(blocks.data(), s.n, s.k, c_executor(), &w) != AMXMM_OK)
            std::fprintf(stderr, "c_api_overhead: %s\n", amxmm_last_error());
        dc->w.reset(w);
        keep.push_back(dc);
    }
    api_pair p;
    p.name = "gemm/" + s.name() + "/M" + std::to_string(m);
    const float* x = activations(std::size_t(std::max<std::int64_t>(m, 1) * s.k));
    p.out_floats = std::size_t(std::max<std::int64_t>(m, 1) * s.n);
    p.out = outputs(p.out_floats);
    amxmm_packed_weight* w = dc->w.get();
    float* y = p.out;
    const std::int64_t k = s.k, n = s.n;
    p.cpp = [w, m, x, y, k, n] {
        if (!w) return;
        amxmm::gemm_q4_0(w->packed.view(), m, x, k, y, n, {}, c_executor()->tbb);
    };
    p.c = [w, m, x, y, k, n] { return amxmm_gemm_q4_0(w, m, x, k, y, n, nullptr, c_executor(), nullptr); };
    return p;
}

// ---- MoE FFN ------------------------------------------------------------------------------------------

struct moe_weights {
    std::unique_ptr<amxmm_packed_experts, decltype(&amxmm_packed_experts_free)> gate_up{nullptr, amxmm_packed_experts_free};
    std::unique_ptr<amxmm_packed_experts, decltype(&amxmm_packed_experts_free)> down{nullptr, amxmm_packed_experts_free};
};

api_pair make_moe_ffn(std::int64_t m) {
    constexpr std::int64_t E = 128, K = 2048, F = 768, top_k = 8;  // Qwen3-30B-A3B
    static moe_weights mw = [] {
        moe_weights r;
        const std::vector<amxmm::block_q4_0> gate = random_q4_0({K, E * F}, 21), up = random_q4_0({K, E * F}, 22),
                                             down = random_q4_0({F, E * K}, 23);
        amxmm_packed_experts *gu = nullptr, *d = nullptr;
        if (amxmm_pack_q4_0_vnni_gate_up(gate.data(), up.data(), E, F, K, c_executor(), &gu) != AMXMM_OK ||
            amxmm_pack_q4_0_vnni_experts(down.data(), E, K, F, c_executor(), &d) != AMXMM_OK)
            std::fprintf(stderr, "c_api_overhead: %s\n", amxmm_last_error());
        r.gate_up.reset(gu);
        r.down.reset(d);
        return r;
    }();
    // Routing of this case (kept alive by the calls): top_k distinct experts per token, weights 1/top_k.
    auto ids = std::make_shared<std::vector<std::int32_t>>(std::size_t(m * top_k));
    auto rw = std::make_shared<std::vector<float>>(ids->size(), 1.0f / float(top_k));
    for (std::size_t i = 0; i < ids->size(); ++i) (*ids)[i] = std::int32_t((i * 37 + 5) % E);

    api_pair p;
    p.name = "moe_ffn/qwen3_30b_a3b/M" + std::to_string(m);
    const float* x = activations(std::size_t(m * K));
    p.out_floats = std::size_t(m * K);
    p.out = outputs(p.out_floats);
    float* y = p.out;
    amxmm_packed_experts* gu = mw.gate_up.get();
    amxmm_packed_experts* down = mw.down.get();
    p.cpp = [=] {
        if (!gu || !down) return;
        amxmm::moe_ffn(gu->gate_up.view(), down->experts.view(), amxmm::moe_routing{m, top_k, ids->data(), top_k},
                       rw->data(), top_k, x, K, y, K, {}, c_executor()->tbb);
    };
    p.c = [=] {
        const amxmm_moe_routing r{m, top_k, ids->data(), top_k};
        return amxmm_moe_ffn(gu, nullptr, down, &r, rw->data(), top_k, x, K, y, K, nullptr, c_executor(), nullptr);
    };
    return p;
}

// ---- the benchmarks ------------------------------------------------------------------------------------

enum class which { cpp, c, interleaved };

void bm_api(benchmark::State& st, const api_pair& p, which w) {
    if (!c_executor()) {
        st.SkipWithError("no executor");
        return;
    }
    // The two APIs must agree bit for bit (and the C call must succeed) before timing anything.
    std::vector<float> from_cpp(p.out_floats);
    p.cpp();
    std::memcpy(from_cpp.data(), p.out, p.out_floats * sizeof(float));
    if (p.c() != AMXMM_OK) {
        st.SkipWithError(amxmm_last_error());
        return;
    }
    if (std::memcmp(from_cpp.data(), p.out, p.out_floats * sizeof(float)) != 0) {
        st.SkipWithError("the C and C++ calls differ");
        return;
    }
    using clock = std::chrono::steady_clock;
    double cpp_s = 0, c_s = 0;
    std::int64_t i = 0;
    for (auto _ : st) {
        if (w == which::cpp) {
            p.cpp();
        } else if (w == which::c) {
            benchmark::DoNotOptimize(p.c());
        } else {
            const bool c_first = (i++ & 1) != 0;
            const auto t0 = clock::now();
            if (c_first) benchmark::DoNotOptimize(p.c()); else p.cpp();
            const auto t1 = clock::now();
            if (c_first) p.cpp(); else benchmark::DoNotOptimize(p.c());
            const auto t2 = clock::now();
            const double a = std::chrono::duration<double>(t1 - t0).count(), b = std::chrono::duration<double>(t2 - t1).count();
            (c_first ? c_s : cpp_s) += a;
            (c_first ? cpp_s : c_s) += b;
        }
        benchmark::ClobberMemory();
    }
    if (w == which::interleaved && st.iterations() > 0) {
        const double n = double(st.iterations());
        st.counters["cpp_us"] = 1e6 * cpp_s / n;
        st.counters["c_us"] = 1e6 * c_s / n;
        st.counters["overhead_ns"] = 1e9 * (c_s - cpp_s) / n;
        st.counters["overhead_pct"] = cpp_s > 0 ? 100.0 * (c_s - cpp_s) / cpp_s : 0.0;
    }
    st.SetLabel(std::string(amxmm::default_isa().reason.substr(0, amxmm::default_isa().reason.find(':'))) + ", " +
                std::to_string(amxmm_executor_threads(c_executor())) + " threads");
}

void register_all() {
    static std::vector<api_pair> pairs;  // registered benchmarks refer to these
    pairs.reserve(8);
    // The shared activation and output buffers grow on demand (and move): size them for the largest
    // case first, so that every case's pointers stay valid.
    activations(std::size_t(512) * 4096);
    outputs(std::size_t(512) * 4096);
    pairs.push_back(make_dense(0, {4096, 4096}));
    pairs.push_back(make_dense(1, {4096, 4096}));
    pairs.push_back(make_dense(512, {4096, 4096}));
    pairs.push_back(make_moe_ffn(0));
    pairs.push_back(make_moe_ffn(1));
    for (const api_pair& p : pairs)
        for (which w : {which::cpp, which::c, which::interleaved}) {
            const char* suffix = w == which::cpp ? "/cpp" : w == which::c ? "/c" : "/interleaved";
            benchmark::RegisterBenchmark(("c_api_overhead/" + p.name + suffix).c_str(), bm_api, std::cref(p), w)
                ->UseRealTime()
                ->MinTime(min_time())
                ->Unit(benchmark::kMicrosecond);
        }
}

}  // namespace

int main(int argc, char** argv) { return amxmm_bench::bench_main(argc, argv, register_all); }
