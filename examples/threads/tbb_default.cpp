// amxmm's default threading: an amxmm::tbb_executor (oneTBB, with its own task arenas — one per NUMA
// node where there are several) runs each call's tasks. Nothing else to set up: no sync, no
// workspace (amxmm keeps per-thread scratch that steady-state calls reuse).
//
//   amxmm_threads_tbb_default [threads]     (default: every CPU of the process)
//
// Runs a dense projection and a MoE FFN at M = 1 and M = 96 and checks the results against the
// serial call, bit for bit.
#include <amxmm/amxmm.hpp>

#include "example_data.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

int main(int argc, char** argv) try {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
    const std::int64_t K = 512, N = 768, E = 8, F = 256, top_k = 2;

    amxmm::tbb_executor ex(threads);  // once, for the whole program
    const auto w_q4 = example::random_q4_0(N, K, 1);
    const amxmm::packed_q4_0_vnni w = amxmm::pack_q4_0_vnni({w_q4.data(), N, K}, ex);  // packs in parallel too
    const auto gate_q4 = example::random_q4_0(E * F, K, 2), up_q4 = example::random_q4_0(E * F, K, 3);
    const auto down_q4 = example::random_q4_0(E * K, F, 4);
    const auto gate = amxmm::pack_q4_0_vnni_experts(gate_q4.data(), E, F, K, ex);
    const auto up = amxmm::pack_q4_0_vnni_experts(up_q4.data(), E, F, K, ex);
    const auto down = amxmm::pack_q4_0_vnni_experts(down_q4.data(), E, K, F, ex);
    std::printf("oneTBB executor: %d threads, %d partition(s); amxmm back end: %s\n", ex.concurrency(),
                ex.partitions(), amxmm::default_isa().reason.c_str());

    bool all_same = true;
    for (const std::int64_t M : {std::int64_t(1), std::int64_t(96)}) {
        const std::vector<float> x = example::random_activations(M, K, 10 + std::uint64_t(M));
        std::vector<std::int32_t> ids(static_cast<std::size_t>(M * top_k));
        for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 5 + i / 2) % std::size_t(E));
        const amxmm::moe_routing route{M, top_k, ids.data(), top_k};

        std::vector<float> y(static_cast<std::size_t>(M * N)), y_serial(y.size());
        std::vector<float> h(static_cast<std::size_t>(M * K)), h_serial(h.size());
        const amxmm::gemm_plan plan = amxmm::gemm_q4_0(w.view(), M, x.data(), K, y.data(), N, {}, ex);
        amxmm::moe_ffn(gate.view(), up.view(), down.view(), route, nullptr, 0, x.data(), K, h.data(), K, {}, ex);

        amxmm::gemm_q4_0(w.view(), M, x.data(), K, y_serial.data(), N);
        amxmm::moe_ffn(gate.view(), up.view(), down.view(), route, nullptr, 0, x.data(), K, h_serial.data(), K);
        std::printf("M = %lld (mode %s)\n", static_cast<long long>(M), amxmm::to_string(plan.mode));
        all_same &= example::report_bitwise("dense projection, tbb_executor:", y, y_serial);
        all_same &= example::report_bitwise("MoE FFN, tbb_executor:", h, h_serial);
    }
    return all_same ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
