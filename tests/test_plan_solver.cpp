// Planner solver: property tests over random models and machines — a VNNI-packed (cpu_amx) tensor is
// never placed on or streamed to a GPU; no device's memory is exceeded; more GPU memory never predicts
// a slower plan; plans are deterministic; the plan is never worse than any llama.cpp-style seed. Plus the
// calibration's JSON round trip and the cost model reproducing calibrated points.
#include "catch_compat.hpp"

#include <amxmm/plan.hpp>

#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace amxmm::plan;

namespace {

model_desc random_model(std::mt19937_64& rng) {
    auto pick = [&](std::initializer_list<std::int64_t> v) { return *(v.begin() + std::ptrdiff_t(rng() % v.size())); };
    model_shape s;
    s.name = "random";
    const bool moe = rng() % 2 == 0;
    s.architecture = moe ? "qwen3moe" : "llama";
    s.layers = int(2 + rng() % 10);
    s.embedding = pick({256, 512, 1024});
    s.heads = int(pick({4, 8}));
    s.kv_heads = int(pick({1, 2, 4}));
    s.feed_forward = pick({512, 1024, 2048});
    s.vocabulary = pick({1000, 8000, 32000});
    if (moe) {
        s.experts = int(pick({4, 8, 16, 32}));
        s.experts_used = int(std::min<std::int64_t>(s.experts, pick({1, 2, 4})));
        s.expert_feed_forward = pick({128, 256});
    }
    return make_model(s);
}

hardware_desc random_machine(std::mt19937_64& rng, int gpus) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    hardware_desc hw;
    hw.cpu.name = "random CPU";
    hw.cpu.cores = 16;
    hw.cpu.threads = 32;
    hw.cpu.memory_bytes = 64ull << 30;
    hw.cpu.dram_read_bytes_per_s = 50e9 + 200e9 * u(rng);
    hw.cpu.matmul_flops = 0.5e12 + 8e12 * u(rng);
    hw.cpu.vector_flops = 0.2e12 + 2e12 * u(rng);
    hw.cpu_reserve_bytes = 1ull << 30;
    hw.gpu_reserve_bytes = 64ull << 20;
    for (int g = 0; g < gpus; ++g) {
        gpu_desc d;
        d.name = "GPU" + std::to_string(g);
        d.memory_bytes = (64ull << 20) + std::uint64_t(u(rng) * double(256ull << 20));
        d.memory_bytes_per_s = 300e9 + 3e12 * u(rng);
        d.matmul_flops = 10e12 + 300e12 * u(rng);
        d.host_to_device_bytes_per_s = 8e9 + 50e9 * u(rng);
        hw.gpus.push_back(d);
    }
    return hw;
}

workload_desc random_workload(std::mt19937_64& rng) {
    workload_desc w;
    const std::int64_t bs[] = {1, 16, 64, 512, 2048};
    w.prompt_batches = {bs[rng() % 5]};
    if (rng() % 2) w.prompt_batches.push_back(bs[rng() % 5]);
    w.decode_batch = std::int64_t(1 + rng() % 8);
    w.context = std::int64_t(256 << (rng() % 5));
    return w;
}

/// Every cpu_amx placement is on an amxmm-capable tensor and executes on the CPU in every phase.
void check_vnni_never_on_gpu(const cost_model& cm, const plan& p) {
    for (std::size_t i = 0; i < p.tensors.size(); ++i) {
        const auto& t = cm.model().tensors[i];
        const auto& tp = p.tensors[i];
        auto check = [&](const placement& pl, int attn) {
            if (pl.kind != placement_kind::cpu_amx) return;
            REQUIRE(pl.gpu == -1);
            REQUIRE(cost_model::amx_capable(t));
            for (const auto& ph : cm.phases()) REQUIRE(cm.exec_device(pl, ph, attn) == 0);
        };
        const int attn = t.layer >= 0 ? 1 + p.attention_gpu[std::size_t(t.layer)] : 0;
        if (tp.split())
            for (const auto& e : tp.experts) check(e, attn);
        else
            check(tp.where, attn);
    }
}

}  // namespace

TEST_CASE("plan solver: properties over random models and machines", "[plan]") {
    std::mt19937_64 rng(20261125);
    for (int trial = 0; trial < 40; ++trial) {
        const model_desc m = random_model(rng);
        const int gpus = int(rng() % 4);
        hardware_desc hw = random_machine(rng, gpus);
        const workload_desc wl = random_workload(rng);
        CAPTURE(trial, m.layers, m.experts, gpus, wl.prompt_batches, wl.decode_batch, wl.context);
        const cost_model cm(m, hw, wl);
        const solve_result r = solve(cm);

        // Valid: the all-CPU seed fits the host, so the plan must fit every device.
        REQUIRE(r.score.valid);
        for (const auto& d : r.score.memory) REQUIRE_FALSE(d.exceeded());
        check_vnni_never_on_gpu(cm, r.best);

        // Never worse than any seed that fits (llama.cpp -ngl / -ot plans).
        for (const auto& a : r.alternatives)
            if (a.fits) REQUIRE(r.score.objective_s <= a.objective_s * (1 + 1e-9));

        // Deterministic: same inputs, same plan and score, also through a copy of the model.
        const cost_model cm2 = cm;
        const solve_result r2 = solve(cm2);
        REQUIRE(same_placement(r.best, r2.best));
        REQUIRE(r.score.objective_s == r2.score.objective_s);

        // More GPU memory never predicts a slower plan.
        if (gpus > 0) {
            hardware_desc more = hw;
            for (auto& g : more.gpus) g.memory_bytes += std::uint64_t(rng() % (512ull << 20));
            const cost_model cm3(m, more, wl);
            const solve_result r3 = solve(cm3);
            REQUIRE(r3.score.valid);
            REQUIRE(r3.score.objective_s <= r.score.objective_s * (1 + 1e-9));
        }
    }
}

TEST_CASE("plan solver: hot experts go to the GPU first", "[plan]") {
    // Skewed routing and a GPU that holds only some experts: the ones on the GPU are the hottest.
    model_shape s;
    s.name = "skewed";
    s.architecture = "qwen3moe";
    s.layers = 2;
    s.embedding = 512;
    s.heads = 8;
    s.kv_heads = 2;
    s.feed_forward = 1024;
    s.vocabulary = 1000;
    s.experts = 16;
    s.experts_used = 2;
    s.expert_feed_forward = 512;
    const model_desc m = make_model(s);
    workload_desc wl;
    wl.prompt_batches = {16};
    wl.decode_batch = 1;
    wl.context = 512;
    std::vector<double> f(16);
    double sum = 0;
    for (int e = 0; e < 16; ++e) sum += f[std::size_t(e)] = 1.0 / double(1 + e);  // Zipf: expert 0 hottest
    for (auto& x : f) x /= sum;
    wl.expert_frequency = {f, f};
    hardware_desc hw;
    hw.cpu.memory_bytes = 16ull << 30;
    hw.cpu.dram_read_bytes_per_s = 50e9;
    hw.cpu.matmul_flops = 1e12;
    hw.cpu_reserve_bytes = 0;
    gpu_desc g;
    g.name = "small";
    g.memory_bytes_per_s = 1e12;
    g.matmul_flops = 50e12;
    g.host_to_device_bytes_per_s = 20e9;
    hw.gpus.push_back(g);
    hw.gpu_reserve_bytes = 0;
    const cost_model probe(m, hw, wl);
    // Room for the non-expert weights, KV, workspace and about a third of the experts.
    plan all_gpu = solve(cost_model(m, [&] { auto h = hw; h.gpus[0].memory_bytes = 64ull << 30; return h; }(), wl)).best;
    const auto mem = probe.memory(all_gpu);
    std::uint64_t experts = 0;
    for (const auto& t : m.tensors)
        if (t.is_expert()) experts += t.bytes;
    hw.gpus[0].memory_bytes = mem[1].used() - experts + experts / 3 + (probe.largest_streamable_bytes() * 2);
    const cost_model cm(m, hw, wl);
    const solve_result r = solve(cm);
    REQUIRE(r.score.valid);
    for (std::size_t i = 0; i < m.tensors.size(); ++i) {
        const auto& t = m.tensors[i];
        if (!t.is_expert()) continue;
        const auto& tp = r.best.tensors[i];
        INFO(t.name);
        if (!tp.split()) continue;
        // Once an expert is off the GPU, every colder one is too.
        bool off = false;
        for (std::int64_t e = 0; e < t.experts; ++e) {
            const bool on = tp.of_expert(e).kind == placement_kind::gpu;
            if (!on) off = true;
            if (off) REQUIRE_FALSE(on);
        }
    }
}

TEST_CASE("plan solver: Qwen3-30B-A3B (48 layers x 128 experts) plans quickly", "[plan]") {
    const model_desc m = qwen3_30b_a3b_q4_0();
    hardware_desc hw;
    hw.cpu.memory_bytes = 256ull << 30;
    hw.cpu.dram_read_bytes_per_s = 180e9;
    hw.cpu.matmul_flops = 9e12;
    hw.cpu.vector_flops = 2e12;
    gpu_desc g;
    g.name = "24 GB GPU";
    g.memory_bytes = 12ull << 30;  // experts must be split between CPU and GPU
    g.memory_bytes_per_s = 1e12;
    g.matmul_flops = 80e12;
    g.host_to_device_bytes_per_s = 25e9;
    hw.gpus.push_back(g);
    workload_desc wl;
    wl.prompt_batches = {512};
    const cost_model cm(m, hw, wl);
    const auto t0 = std::chrono::steady_clock::now();
    const solve_result r = solve(cm);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN("solve of Qwen3-30B-A3B with a 12 GiB GPU: " << s * 1e3 << " ms, " << r.evaluations << " moves scored");
    REQUIRE(r.score.valid);
    check_vnni_never_on_gpu(cm, r.best);
}

TEST_CASE("plan calibration: quick run, JSON round trip, cost model reproduces its points", "[plan]") {
    calibration_options o;
    o.quick = true;
    o.threads = 2;
    int calls = 0;
    o.progress = [&](const std::string&, int done, int total) {
        REQUIRE(done <= total);
        ++calls;
    };
    const calibration_data c = calibrate(o);
    REQUIRE(calls > 3);
    REQUIRE(c.dram_read_bytes_per_s > 0);
    REQUIRE(c.curves.size() == 2);
    for (const auto& cv : c.curves) REQUIRE(cv.points.size() == 3);
    const calibration_data back = calibration_from_json(json::parse(json::dump(calibration_to_json(c))));
    REQUIRE(back.machine == c.machine);
    REQUIRE(back.curves.size() == c.curves.size());
    for (std::size_t i = 0; i < c.curves.size(); ++i) {
        REQUIRE(back.curves[i].points.size() == c.curves[i].points.size());
        for (std::size_t j = 0; j < c.curves[i].points.size(); ++j)
            REQUIRE(back.curves[i].points[j].second == Approx(c.curves[i].points[j].second).epsilon(1e-12));
    }
    REQUIRE_THROWS_AS(calibration_from_json(json::parse("{\"curves\": [{\"device\": \"cpu_amx\"}]}")), amxmm::error);

    // A dense tensor of the calibrated shape: predicted time at a calibrated M equals the measurement.
    model_shape s;
    s.name = "tiny";
    s.layers = 1;
    s.embedding = 256;
    s.heads = 4;
    s.feed_forward = 256;
    s.vocabulary = 100;
    const model_desc m = make_model(s);
    hardware_desc hw;
    hw.cpu.memory_bytes = 8ull << 30;
    workload_desc wl;
    const cost_model cm(m, hw, wl, c);
    REQUIRE(cm.calibrated());
    const auto& dense = c.curves[0];
    for (const auto& [mm, sec] : dense.points) {
        const double bytes = double(dense.n * dense.k) * 18.0 / 32.0;
        const double pred = cm.cpu_matmul_s(true, mm, dense.n, dense.k, bytes) + cm.params().cpu_op_overhead_s;
        CAPTURE(mm, sec, pred);
        REQUIRE(pred == Approx(std::max(sec, cm.params().cpu_op_overhead_s)).epsilon(1e-6));
    }
}

namespace {

/// A small Qwen3-MoE-shaped model and a machine with one GPU of `gpu_bytes` (0: unknown) and 64 GiB of host memory.
model_desc small_moe() {
    model_shape s = qwen3_30b_a3b_q4_0_shape();
    s.layers = 4;
    return make_model(s);
}
hardware_desc one_gpu_machine(std::uint64_t gpu_bytes) {
    hardware_desc hw;
    hw.cpu.name = "test CPU";
    hw.cpu.memory_bytes = 64ull << 30;
    gpu_desc g;
    g.name = "G";
    g.memory_bytes = gpu_bytes;
    hw.gpus.push_back(g);
    return hw;
}

}  // namespace

TEST_CASE("solver: a GPU of memory_bytes 0 (unknown) is refused, not taken as 0 bytes", "[plan][solver]") {
    const model_desc m = small_moe();
    const cost_model cm(m, one_gpu_machine(0), workload_desc{});
    // The cost model scores it as unknown (capacity 0, never exceeded) ...
    const plan all_gpu = solve(cost_model(m, one_gpu_machine(64ull << 30), workload_desc{})).best;
    const plan_score s = cm.score(all_gpu);
    CHECK(s.memory[1].capacity == 0);
    CHECK_FALSE(s.memory[1].exceeded());
    // ... and the solver, which cannot decide what fits there, says so (it planned nothing onto the GPU
    // while a what-if of the same placement was scored valid and 4x faster).
    std::string what;
    try {
        solve(cm);
    } catch (const amxmm::error& e) {
        what = e.what();
        CHECK(e.code() == amxmm::errc::invalid_argument);
    }
    CHECK(what.find("hardware.gpus[0] ('G') has memory_bytes = 0 (unknown)") != std::string::npos);
}

TEST_CASE("solver: when nothing fits, the binding constraint names the exceeded device", "[plan][solver]") {
    hardware_desc hw;
    hw.cpu.name = "small";
    hw.cpu.memory_bytes = 4ull << 30;  // the model alone is 17 GB
    const solve_result r = solve(cost_model(qwen3_30b_a3b_q4_0(), hw, workload_desc{}));
    CHECK_FALSE(r.score.valid);
    CAPTURE(r.binding);
    CHECK(r.binding.find("no plan fits") != std::string::npos);
    CHECK(r.binding.find("CPU (needs ") != std::string::npos);
    CHECK(r.binding.find("has 4 GiB") != std::string::npos);
    CHECK(r.binding.find("no GPU") == std::string::npos);  // was "no GPU: every weight is computed on the CPU"

    // A GPU too small too: the devices the least bad plan exceeds are named.
    hardware_desc both = one_gpu_machine(1ull << 30);
    both.cpu.memory_bytes = 4ull << 30;
    const solve_result r2 = solve(cost_model(qwen3_30b_a3b_q4_0(), both, workload_desc{}));
    CHECK_FALSE(r2.score.valid);
    CAPTURE(r2.binding);
    CHECK(r2.binding.find("no plan fits") != std::string::npos);
    const std::string text = explain(cost_model(qwen3_30b_a3b_q4_0(), both, workload_desc{}), r2);
    for (const auto& d : r2.score.memory) {  // every exceeded device is named, and has its PROBLEM line
        CHECK((r2.binding.find(d.name + " (needs ") != std::string::npos) == d.exceeded());
        CHECK((text.find("PROBLEM: " + d.name + " memory exceeded") != std::string::npos) == d.exceeded());
    }
}

TEST_CASE("solver: explain notes a context above the model's trained context", "[plan][solver]") {
    const model_desc m = small_moe();  // trained to 40960
    workload_desc wl;
    wl.context = 4 * m.context_length;
    const cost_model cm(m, one_gpu_machine(64ull << 30), wl);  // accepted: llama.cpp runs it
    const std::string text = explain(cm, solve(cm));
    CHECK(text.find("above the model's trained context (40960)") != std::string::npos);
    wl.context = m.context_length;
    const cost_model at(m, one_gpu_machine(64ull << 30), wl);
    CHECK(explain(at, solve(at)).find("trained context") == std::string::npos);
}
