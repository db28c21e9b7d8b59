// README "Using amxmm from an engine" — the C API's implementation file of the C snippet (c_api.c).
// The part between snippet-begin and snippet-end is quoted in README.md.
// snippet-begin
// amxmm_c.cpp — the one C++ file of a C engine (C++17, amxmm's include path, oneTBB, hwloc)
#define AMXMM_C_IMPLEMENTATION
#include <amxmm/c/amxmm.h>
// snippet-end

// Harness only: writes the small GGUF models the C snippet loads (one Q4_0 tensor, N × K) and plans
// (a llama-shaped model: metadata and tensor table, no tensor data).
#include <random>
#include <vector>

extern "C" int snippet_write_model(const char* path, int64_t n, int64_t k) {
    try {
        std::mt19937_64 rng(3);
        std::normal_distribution<float> normal(0.0f, 0.02f);
        std::vector<float> w(static_cast<std::size_t>(n * k));
        for (float& v : w) v = normal(rng);
        const std::vector<amxmm::block_q4_0> q = amxmm::quantize_q4_0(w.data(), n, k, k);
        amxmm::gguf_writer writer;
        writer.add_tensor("blk.0.attn_q.weight", amxmm::ggml_type::q4_0, {k, n}, q.data(), q.size() * sizeof q[0]);
        writer.write_file(path);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int snippet_write_planner_model(const char* path) {
    try {
        amxmm::plan::model_shape s;
        s.name = "snippet-llama";
        s.architecture = "llama";
        s.layers = 2;
        s.embedding = 256;
        s.feed_forward = 512;
        s.vocabulary = 1000;
        s.heads = 4;
        amxmm::plan::write_model_gguf(amxmm::plan::make_model(s), path);
        return 0;
    } catch (...) {
        return -1;
    }
}
