// What-if of llama.cpp flags: parsing, -ngl / -ot semantics (first match wins, overrides -ngl, output
// layer only when N > layers), CPU layout assumption, validity reasons, and the llama.cpp flags the
// report derives from a plan reading back to the same plan.
#include "catch_compat.hpp"
#include "error_capture.hpp"

#include <amxmm/plan.hpp>

#include <string>
#include <vector>

using namespace amxmm::plan;
using Catch::Matchers::ContainsSubstring;

namespace {

model_desc small_moe() {
    model_shape s;
    s.name = "small moe";
    s.architecture = "qwen3moe";
    s.layers = 6;
    s.embedding = 512;
    s.heads = 8;
    s.kv_heads = 2;
    s.feed_forward = 1024;
    s.vocabulary = 4000;
    s.experts = 8;
    s.experts_used = 2;
    s.expert_feed_forward = 256;
    return make_model(s);
}

hardware_desc machine(int gpus, std::uint64_t gpu_bytes) {
    hardware_desc hw;
    hw.cpu.memory_bytes = 32ull << 30;
    hw.cpu.dram_read_bytes_per_s = 100e9;
    hw.cpu.matmul_flops = 4e12;
    hw.cpu.vector_flops = 1e12;
    for (int g = 0; g < gpus; ++g) {
        gpu_desc d;
        d.name = "gpu";
        d.memory_bytes = gpu_bytes;
        d.memory_bytes_per_s = 1e12;
        d.matmul_flops = 100e12;
        d.host_to_device_bytes_per_s = 25e9;
        hw.gpus.push_back(d);
    }
    return hw;
}

const placement& where(const cost_model& cm, const plan& p, const std::string& name) {
    for (std::size_t i = 0; i < cm.model().tensors.size(); ++i)
        if (cm.model().tensors[i].name == name) return p.tensors[i].where;
    FAIL("no tensor " << name);
    static placement none;
    return none;
}

}  // namespace

TEST_CASE("plan whatif: parsing llama.cpp flags", "[plan]") {
    const llama_flags f = parse_llama_flags({"-ngl", "12", "-ot", "exps=CPU,attn=CUDA0", "--override-tensor=output=CUDA1"});
    REQUIRE(f.ngl == 12);
    REQUIRE(f.overrides.size() == 3);
    REQUIRE(f.overrides[0] == std::make_pair(std::string("exps"), std::string("CPU")));
    REQUIRE(f.overrides[1] == std::make_pair(std::string("attn"), std::string("CUDA0")));
    REQUIRE(f.overrides[2] == std::make_pair(std::string("output"), std::string("CUDA1")));
    REQUIRE(parse_llama_flags({"--n-gpu-layers", "99"}).ngl == 99);
    REQUIRE_THROWS_WITH(parse_llama_flags({"-ngl", "x"}), ContainsSubstring("not a non-negative layer count"));
    REQUIRE_THROWS_WITH(parse_llama_flags({"-ot", "noequals"}), ContainsSubstring("REGEX=DEVICE"));
    REQUIRE_THROWS_WITH(parse_llama_flags({"-ngl"}), ContainsSubstring("needs a value"));
    REQUIRE_THROWS_WITH(parse_llama_flags({"-fa"}), ContainsSubstring("unsupported argument"));
    const cost_model cm(small_moe(), machine(1, 8ull << 30), workload_desc{});
    REQUIRE_THROWS_WITH(evaluate_llama_args(cm, {"-ot", "exps=TPU0"}), ContainsSubstring("not CPU, AMX or CUDA<n>"));
    REQUIRE_THROWS_WITH(evaluate_llama_args(cm, {"-ot", "([=CPU"}), ContainsSubstring("-ot regex"));
}

TEST_CASE("plan whatif: -ngl and -ot follow llama.cpp", "[plan]") {
    const model_desc m = small_moe();
    const cost_model cm(m, machine(1, 8ull << 30), workload_desc{});
    const int L = m.layers;

    SECTION("-ngl N offloads the last N layers; output only when N > layers") {
        const plan p = plan_from_llama_flags(cm, parse_llama_flags({"-ngl", "2"}), {});
        for (int l = 0; l < L; ++l) REQUIRE(p.attention_gpu[std::size_t(l)] == (l >= L - 2 ? 0 : -1));
        REQUIRE(where(cm, p, "blk.5.ffn_up_exps.weight") == placement::on_gpu(0));
        REQUIRE(where(cm, p, "blk.0.ffn_up_exps.weight") == placement::amx());
        REQUIRE(where(cm, p, "output.weight").kind != placement_kind::gpu);
        const plan q = plan_from_llama_flags(cm, parse_llama_flags({"-ngl", std::to_string(L)}), {});
        REQUIRE(where(cm, q, "output.weight").kind != placement_kind::gpu);
        const plan r = plan_from_llama_flags(cm, parse_llama_flags({"-ngl", std::to_string(L + 1)}), {});
        REQUIRE(where(cm, r, "output.weight") == placement::on_gpu(0));
        REQUIRE(where(cm, r, "token_embd.weight") == placement::host());
    }
    SECTION("-ot: first match wins and overrides -ngl; CPU is the file layout, AMX the repacked one") {
        const plan p = plan_from_llama_flags(
            cm, parse_llama_flags({"-ngl", "99", "-ot", "blk\\.1\\.ffn_up=AMX", "-ot", "exps=CPU", "-ot", "blk\\.1\\.=CUDA0"}), {});
        REQUIRE(where(cm, p, "blk.1.ffn_up_exps.weight") == placement::amx());
        REQUIRE(where(cm, p, "blk.1.ffn_gate_exps.weight") == placement::host());
        REQUIRE(where(cm, p, "blk.3.ffn_down_exps.weight") == placement::host());
        REQUIRE(where(cm, p, "blk.1.attn_q.weight") == placement::on_gpu(0));
        REQUIRE(p.attention_gpu[1] == 0);
    }
    SECTION("cpu_layout decides CPU tensors without a rule") {
        whatif_options o;
        o.layout = cpu_layout::host;
        const plan p = plan_from_llama_flags(cm, parse_llama_flags({"-ngl", "0"}), o);
        REQUIRE(where(cm, p, "blk.0.attn_q.weight") == placement::host());
        o.layout = cpu_layout::amx;
        const plan q = plan_from_llama_flags(cm, parse_llama_flags({"-ngl", "0"}), o);
        REQUIRE(where(cm, q, "blk.0.attn_q.weight") == placement::amx());
        // Non-Q4_0 weights (the Q6_K output, f32 norms) are never AMX-repacked by amxmm.
        REQUIRE(where(cm, q, "output.weight") == placement::host());
    }
}

TEST_CASE("plan whatif: validity and reasons", "[plan]") {
    const model_desc m = small_moe();
    workload_desc wl;
    wl.prompt_batches = {512};
    SECTION("a GPU that does not exist") {
        const cost_model cm(m, machine(1, 8ull << 30), wl);
        const whatif_result w = evaluate_llama_args(cm, {"-ot", "exps=CUDA1"});
        REQUIRE_FALSE(w.valid);
        REQUIRE_THAT(w.problems.front(), ContainsSubstring("CUDA1 does not exist"));
    }
    SECTION("GPU memory exceeded") {
        const cost_model cm(m, machine(1, 64ull << 20), wl);
        const whatif_result w = evaluate_llama_args(cm, {"-ngl", "99"});
        REQUIRE_FALSE(w.valid);
        REQUIRE_THAT(w.problems.front(), ContainsSubstring("CUDA0 memory exceeded"));
        // The planner's own plan for the same machine is valid.
        REQUIRE(solve(cm).score.valid);
    }
    SECTION("VNNI weights streamed to a GPU (builds that offload ops on AMX-repacked weights)") {
        const cost_model cm(m, machine(1, 8ull << 30), wl);
        whatif_options o;
        o.vnni_offload = true;
        const whatif_result w = evaluate_llama_flags(cm, parse_llama_flags({"-ngl", "2"}), o);
        REQUIRE_FALSE(w.valid);
        REQUIRE_THAT(w.problems.back(), ContainsSubstring("VNNI"));
        o.layout = cpu_layout::host;  // no repack: streaming the file layout is fine
        REQUIRE(evaluate_llama_flags(cm, parse_llama_flags({"-ngl", "2"}), o).valid);
    }
    SECTION("the cost model never streams cpu_amx, and streams cpu_host from 32 rows") {
        const cost_model cm(m, machine(1, 8ull << 30), wl);
        const phase big{false, 512, 256}, small{false, 16, 256};
        REQUIRE(cm.exec_device(placement::amx(), big, 0) == 0);
        REQUIRE(cm.exec_device(placement::host(), big, 0) == 1);
        REQUIRE(cm.exec_device(placement::host(), small, 0) == 0);
    }
}

TEST_CASE("plan whatif: the plan's llama.cpp flags read back to the plan", "[plan]") {
    const model_desc m = small_moe();
    for (std::uint64_t mem : {std::uint64_t(0), std::uint64_t(40) << 20, std::uint64_t(8) << 30}) {
        CAPTURE(mem);
        workload_desc wl;
        wl.prompt_batches = {512};
        solver_options so;
        so.per_expert = false;  // per-expert placement is not expressible; everything else must be
        const cost_model cm(m, machine(mem ? 1 : 0, mem), wl);
        const solve_result r = solve(cm, so);
        const llama_cpp_flags f = to_llama_flags(cm, r.best);
        llama_flags back;
        back.ngl = f.ngl;
        back.overrides = f.overrides;
        const plan p = plan_from_llama_flags(cm, back, {});
        if (f.exact) {
            REQUIRE(same_placement(p, r.best));
        } else {
            REQUIRE_FALSE(f.notes.empty());
        }
        // Scoring the flags gives the plan's score when exact.
        if (f.exact) REQUIRE(cm.score(p).objective_s == Approx(r.score.objective_s).epsilon(1e-12));
    }
}
