// The seed report's scenario: Qwen3-30B-A3B Q4_0 (a sparse GGUF with its real tensor table) on a
// Sapphire Rapids (64 threads) + RTX 5090 (32 GB, PCIe 5) machine, prompt batches 64 and 2048. The
// what-if scores of CPU only, -ngl 12 and -ngl 47 must come out in the seed's measured order at 2048
// (396 < 496 < 1899 t/s there) and the planner's plan must score at least as well as all three.
#include "catch_compat.hpp"

#include <amxmm/plan.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace amxmm::plan;

namespace {

std::string seed_hardware_path() {
    const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
    return (here.parent_path() / "examples" / "hardware" / "seed-spr-rtx5090.json").string();
}

struct sparse_gguf {
    std::string path;
    explicit sparse_gguf(const model_desc& m)
        : path((std::filesystem::temp_directory_path() / ("amxmm_test_plan_scenario_" + std::to_string(::getpid()) + ".gguf")).string()) {
        write_model_gguf(m, path);
    }
    ~sparse_gguf() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("plan scenario: Qwen3-30B-A3B on the seed's SPR + RTX 5090", "[plan]") {
    const sparse_gguf file(qwen3_30b_a3b_q4_0());
    const model_desc model = model_from_gguf(file.path);
    REQUIRE(model.layers == 48);
    REQUIRE(model.experts == 128);
    const hardware_desc hw = hardware_from_json_file(seed_hardware_path());
    REQUIRE(hw.gpus.size() == 1);

    for (const std::int64_t batch : {std::int64_t(64), std::int64_t(2048)}) {
        workload_desc wl;
        wl.prompt_batches = {batch};
        wl.decode_batch = 1;
        wl.context = 2048;  // llama-bench pp2048's context
        objective_weights ow;
        ow.decode_tokens = 0;  // the seed measured prompt processing
        const cost_model cm(model, hw, wl, {}, {}, ow);
        const solve_result r = solve(cm);
        REQUIRE(r.score.valid);

        const whatif_result cpu = evaluate_llama_args(cm, {"-ngl", "0"});
        const whatif_result ngl12 = evaluate_llama_args(cm, {"-ngl", "12"});
        const whatif_result ngl47 = evaluate_llama_args(cm, {"-ngl", "47"});
        REQUIRE(cpu.valid);
        REQUIRE(ngl12.valid);
        REQUIRE(ngl47.valid);
        const double t_cpu = cpu.score.phases[0].tokens_per_s, t12 = ngl12.score.phases[0].tokens_per_s,
                     t47 = ngl47.score.phases[0].tokens_per_s, tp = r.score.phases[0].tokens_per_s;
        WARN("batch " << batch << ": predicted prompt t/s: CPU only " << t_cpu << ", -ngl 12 " << t12 << ", -ngl 47 " << t47
                      << ", planner " << tp << " (seed measured at 2048: 396, 496, 1899)");
        if (batch == 2048) {
            REQUIRE(t_cpu < t12);
            REQUIRE(t12 < t47);
        }
        REQUIRE(tp >= t_cpu * (1 - 1e-9));
        REQUIRE(tp >= t12 * (1 - 1e-9));
        REQUIRE(tp >= t47 * (1 - 1e-9));
        REQUIRE(r.score.objective_s <= ngl47.score.objective_s * (1 + 1e-9));

        // The reports render and the JSON parses back with the documented top-level keys.
        const std::string table = format_table(cm, r.best, r.score);
        REQUIRE(table.find("total") != std::string::npos);
        const std::string why = explain(cm, r);
        REQUIRE(why.find("Binding constraint") != std::string::npos);
        const json::value j = json::parse(json::dump(to_json(cm, r, {cpu, ngl12, ngl47})));
        for (const char* k : {"schema", "model", "hardware", "workload", "plan", "score", "binding_constraint", "llama_cpp", "whatif"})
            REQUIRE(j.find(k) != nullptr);
        REQUIRE(j.at("plan").at("tensors").items().size() == model.tensors.size());
        REQUIRE(j.at("whatif").items().size() == 3);
    }
}

TEST_CASE("plan scenario: a smaller GPU forces a CPU/GPU split that still beats every -ngl", "[plan]") {
    const model_desc model = qwen3_30b_a3b_q4_0();
    hardware_desc hw = hardware_from_json_file(seed_hardware_path());
    hw.gpus[0].memory_bytes = 12ull << 30;
    workload_desc wl;
    wl.prompt_batches = {2048};
    wl.context = 4096;
    const cost_model cm(model, hw, wl);
    const solve_result r = solve(cm);
    REQUIRE(r.score.valid);
    REQUIRE(r.binding.find("GPU memory") != std::string::npos);
    for (int k = 0; k <= model.layers + 1; ++k) {
        const whatif_result w = evaluate_llama_args(cm, {"-ngl", std::to_string(k)});
        if (w.valid) REQUIRE(r.score.objective_s <= w.score.objective_s * (1 + 1e-9));
    }
}
