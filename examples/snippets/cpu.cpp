// README "Using amxmm from an engine" — the CPU snippet. The part between snippet-begin and
// snippet-end is quoted verbatim in README.md (the snippets_in_readme test checks that); the rest
// is a harness that runs it on a small model written here and checks the results.
#include <amxmm/amxmm.hpp>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

// snippet-begin
#include <amxmm/amxmm.hpp>

// Load time, once per tensor: GGUF Q4_0 -> the CPU kernels' packed layout (a CPU-only type).
amxmm::packed_q4_0_vnni load_weight(const amxmm::gguf_file& model, const std::string& name,
                                    amxmm::tbb_executor& ex) {
    return amxmm::pack_q4_0_vnni(model.q4_0_matrix(name), ex);
}

// Each batch of M tokens: y (M × N) = x (M × K) · Wᵀ, on amxmm's oneTBB pool.
void project(const amxmm::packed_q4_0_vnni& w, std::int64_t M, const float* x, float* y,
             amxmm::tbb_executor& ex) {
    amxmm::gemm_q4_0(w.view(), M, x, w.cols(), y, w.rows(), {}, ex);
}

// The same on the engine's own pool: each of its nth threads calls this with its ith, one shared
// sync (amxmm::caller_threads_sync sync(nth)) and one shared workspace.
void project_ith(const amxmm::packed_q4_0_vnni& w, std::int64_t M, const float* x, float* y, int ith, int nth,
                 amxmm::caller_threads_sync& sync, amxmm::aligned_buffer& workspace) {
    amxmm::gemm_options opt;
    opt.workspace = workspace.data();  // amxmm::gemm_workspace_bytes(M, K) bytes, 64-byte aligned
    opt.workspace_bytes = workspace.size();
    amxmm::gemm_q4_0(w.view(), M, x, w.cols(), y, w.rows(), opt, amxmm::caller_threads_executor{ith, nth, &sync});
}

// A MoE layer: the experts' gate and up packed together (one pass over x feeds both), down apart.
struct moe_layer {
    amxmm::packed_q4_0_vnni_gate_up gate_up;
    amxmm::packed_q4_0_vnni_experts down;
};
moe_layer load_moe(const amxmm::gguf_file& model, const std::string& blk, amxmm::tbb_executor& ex) {
    const amxmm::gguf_tensor_info& gate = model.tensor(blk + ".ffn_gate_exps.weight");  // ne {K, F, E}
    const std::int64_t K = gate.dims[0], F = gate.dims[1], E = gate.dims[2];
    return {amxmm::pack_q4_0_vnni_gate_up(amxmm::q4_0_matrix_of(gate).blocks,
                                          model.q4_0_matrix(blk + ".ffn_up_exps.weight").blocks, E, F, K, ex),
            amxmm::pack_q4_0_vnni_experts(model.q4_0_matrix(blk + ".ffn_down_exps.weight").blocks, E, K, F, ex)};
}

// h[t] = Σ_s weights[t][s] · down_e(SiLU(gate_e(x[t])) ⊙ up_e(x[t])),  e = ids[t][s],  s < top_k.
void run_moe(const moe_layer& l, std::int64_t M, std::int64_t top_k, const std::int32_t* ids,
             const float* weights, const float* x, float* h, amxmm::tbb_executor& ex) {
    const std::int64_t K = l.gate_up.cols();
    amxmm::moe_ffn(l.gate_up.view(), l.down.view(), {M, top_k, ids, top_k}, weights, top_k, x, K, h, K, {}, ex);
}
// snippet-end

namespace {

std::vector<amxmm::block_q4_0> random_q4_0(std::int64_t rows, std::int64_t k, std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(std::size_t(rows * k));
    for (float& v : w) v = normal(rng);
    return amxmm::quantize_q4_0(w.data(), rows, k, k);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

int main() try {
    const std::int64_t K = 256, N = 384, E = 4, F = 128, top_k = 2, M = 5;
    const int nth = 3;
    std::mt19937_64 rng(7);

    // A small model as a GGUF file holds it (here in memory).
    const auto wq = random_q4_0(N, K, rng), gate = random_q4_0(E * F, K, rng), up = random_q4_0(E * F, K, rng),
               down = random_q4_0(E * K, F, rng);
    amxmm::gguf_writer writer;
    writer.add_tensor("blk.0.attn_q.weight", amxmm::ggml_type::q4_0, {K, N}, wq.data(), wq.size() * 18);
    writer.add_tensor("blk.0.ffn_gate_exps.weight", amxmm::ggml_type::q4_0, {K, F, E}, gate.data(), gate.size() * 18);
    writer.add_tensor("blk.0.ffn_up_exps.weight", amxmm::ggml_type::q4_0, {K, F, E}, up.data(), up.size() * 18);
    writer.add_tensor("blk.0.ffn_down_exps.weight", amxmm::ggml_type::q4_0, {F, K, E}, down.data(), down.size() * 18);
    const amxmm::gguf_file model = amxmm::gguf_file::from_bytes(writer.to_bytes());

    amxmm::tbb_executor ex;
    const amxmm::packed_q4_0_vnni w = load_weight(model, "blk.0.attn_q.weight", ex);
    const moe_layer moe = load_moe(model, "blk.0", ex);

    std::vector<float> x(std::size_t(M * K));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
    std::vector<float> y(std::size_t(M * N)), y_ith(y.size()), y_serial(y.size());
    project(w, M, x.data(), y.data(), ex);

    amxmm::caller_threads_sync sync(nth);
    amxmm::aligned_buffer workspace(amxmm::gemm_workspace_bytes(M, K));
    std::vector<std::thread> threads;
    for (int ith = 0; ith < nth; ++ith)
        threads.emplace_back([&, ith] { project_ith(w, M, x.data(), y_ith.data(), ith, nth, sync, workspace); });
    for (std::thread& t : threads) t.join();
    amxmm::gemm_q4_0(amxmm::pack_q4_0_vnni({wq.data(), N, K}).view(), M, x.data(), K, y_serial.data(), N);

    std::vector<std::int32_t> ids(std::size_t(M * top_k));
    std::vector<float> weights(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ids[i] = std::int32_t((i * 3 + i / 2) % std::size_t(E));
        weights[i] = i % 2 ? 0.3f : 0.7f;
    }
    std::vector<float> h(std::size_t(M * K)), h_serial(h.size());
    run_moe(moe, M, top_k, ids.data(), weights.data(), x.data(), h.data(), ex);
    amxmm::moe_ffn(amxmm::pack_q4_0_vnni_experts(gate.data(), E, F, K).view(),
                   amxmm::pack_q4_0_vnni_experts(up.data(), E, F, K).view(),
                   amxmm::pack_q4_0_vnni_experts(down.data(), E, K, F).view(), {M, top_k, ids.data(), top_k},
                   weights.data(), top_k, x.data(), K, h_serial.data(), K);

    const bool ok = same_bits(y, y_serial) && same_bits(y_ith, y_serial) && same_bits(h, h_serial);
    std::printf("snippets/cpu: project, project_ith (%d threads) and run_moe %s the serial calls bitwise\n", nth,
                ok ? "match" : "DO NOT match");
    return ok ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
