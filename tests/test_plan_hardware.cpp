// plan/hardware.hpp and plan/workload.hpp: detection gives sane values on any machine (with or
// without GPUs), sizes and rates parse, overrides replace only what they name, the example machine
// files load, workloads validate and routing statistics normalize.

#include <amxmm/plan/hardware.hpp>
#include <amxmm/plan/model.hpp>
#include <amxmm/plan/workload.hpp>

#include <cstdint>
#include <string>

#include "catch_compat.hpp"
#include "error_capture.hpp"


namespace {

namespace plan = amxmm::plan;
namespace json = amxmm::plan::json;
using amxmm::errc;
using amxmm::ggml_type;
using amxmm_test::catch_error;
using amxmm_test::contains;

/// The repository root, from this file's path (tests/test_plan_hardware.cpp).
std::string repo_root() {
    std::string f = __FILE__;
    const std::size_t at = f.rfind("/tests/");
    return at == std::string::npos ? std::string(".") : f.substr(0, at);
}

}  // namespace

TEST_CASE("hardware: detect_hardware gives sane values", "[plan][hardware]") {
    const plan::hardware_desc hw = plan::detect_hardware();
    CHECK(hw.cpu.threads >= 1);
    CHECK(hw.cpu.cores >= 1);
    CHECK(hw.cpu.cores <= hw.cpu.threads);
    CHECK(hw.cpu.numa_nodes >= 1);
    CHECK(hw.cpu.memory_bytes >= (256ull << 20));
    CHECK(hw.cpu.l2_bytes > 0);
    CHECK(hw.cpu.llc_bytes > 0);
    CHECK(amxmm::parse_isa(hw.cpu.isa).has_value());
    CHECK(hw.cpu.amx == amxmm::isa_supported(amxmm::isa::amx));
    CHECK(hw.cpu.dram_read_bytes_per_s == 0);  // left to calibration
    CHECK(hw.cpu.matmul_flops == 0);
    for (const plan::gpu_desc& g : hw.gpus) {  // only on machines with a CUDA driver and GPUs
        CHECK_FALSE(g.name.empty());
        CHECK(g.memory_bytes > (1ull << 30));
        CHECK(g.sm_count > 0);
        CHECK(g.matmul_flops == 0);
        CHECK(g.host_to_device_bytes_per_s == 0);
    }
    // Through JSON and back.
    const plan::hardware_desc back = plan::hardware_from_json(json::parse(json::dump(plan::to_json(hw))));
    CHECK(json::dump(plan::to_json(back)) == json::dump(plan::to_json(hw)));
}

TEST_CASE("hardware: parse_size and parse_rate", "[plan][hardware]") {
    CHECK(plan::parse_size("32GiB") == 34359738368ull);
    CHECK(plan::parse_size("32 GiB") == 34359738368ull);
    CHECK(plan::parse_size("32G") == 34359738368ull);
    CHECK(plan::parse_size("24 GB") == 24000000000ull);
    CHECK(plan::parse_size("24gb") == 24000000000ull);
    CHECK(plan::parse_size("512MiB") == 536870912ull);
    CHECK(plan::parse_size("1.5KiB") == 1536);
    CHECK(plan::parse_size("100") == 100);
    CHECK(plan::parse_size("7 B") == 7);
    CHECK(plan::parse_size("2TB") == 2000000000000ull);
    for (const char* bad : {"", "GiB", "-1GiB", "12 QB", "1e30 TiB", "twelve"}) {
        const auto c = catch_error([&] { plan::parse_size(bad); });
        INFO(bad);
        CHECK(c.code == errc::invalid_argument);
    }
    CHECK(plan::parse_rate("1.79 TB/s") == Approx(1.79e12));
    CHECK(plan::parse_rate("55GB/s") == Approx(55e9));
    CHECK(plan::parse_rate("1 GiB/s") == Approx(1073741824.0));
    CHECK(plan::parse_rate("210 TFLOP/s") == Approx(210e12));
    CHECK(plan::parse_rate("19.8 TFLOPS") == Approx(19.8e12));
    CHECK(plan::parse_rate("40 TOP/s") == Approx(40e12));
    CHECK(plan::parse_rate("5e12") == Approx(5e12));
    CHECK(catch_error([] { plan::parse_rate("5 furlongs/s"); }).code == errc::invalid_argument);
    CHECK(plan::format_size(34359738368ull) == "32 GiB");
}

TEST_CASE("hardware: overrides replace what they name", "[plan][hardware]") {
    plan::hardware_desc hw;
    hw.cpu.name = "cpu";
    hw.cpu.cores = 8;
    hw.gpus.resize(1);
    hw.gpus[0].name = "gpu0";
    hw.gpus[0].memory_bytes = 80ull << 30;
    hw.gpus[0].sm_count = 132;

    plan::apply_overrides(hw, json::parse(R"({"gpus": [{"memory_bytes": "32GiB"}], "cpu": {"matmul_flops": "9 TFLOP/s"}})"));
    CHECK(hw.gpus[0].memory_bytes == (32ull << 30));
    CHECK(hw.gpus[0].sm_count == 132);  // untouched
    CHECK(hw.gpus[0].name == "gpu0");
    CHECK(hw.cpu.cores == 8);
    CHECK(hw.cpu.matmul_flops == Approx(9e12));

    plan::apply_overrides(hw, json::parse(R"({"gpu_count": 3, "all_gpus": {"host_to_device_bytes_per_s": "50 GB/s"}})"));
    REQUIRE(hw.gpus.size() == 3);
    CHECK(hw.gpus[2].memory_bytes == (32ull << 30));  // copies of the last GPU
    CHECK(hw.gpus[0].host_to_device_bytes_per_s == Approx(50e9));
    plan::apply_overrides(hw, json::parse(R"({"gpus": [{}, {}, {}, {"name": "added"}]})"));
    CHECK(hw.gpus.size() == 4);
    CHECK(hw.gpus[3].name == "added");
    plan::apply_overrides(hw, json::parse(R"({"gpu_count": 0, "cpu_reserve_bytes": "4GiB"})"));
    CHECK(hw.gpus.empty());
    CHECK(hw.cpu_reserve_bytes == (4ull << 30));

    // Errors name the member and leave hw unchanged.
    const plan::hardware_desc before = hw;
    auto err = [&](const char* text, const char* what) {
        const auto c = catch_error([&] { plan::apply_overrides(hw, json::parse(text)); });
        INFO(text);
        CHECK(c.code == errc::malformed_input);
        CHECK(contains(c.what, what));
        CHECK(json::dump(plan::to_json(hw)) == json::dump(plan::to_json(before)));
    };
    err(R"({"cpu": {"cores": 4, "coers": 3}})", "unknown member \"coers\"");
    err(R"({"gpus": [{"memory_bytes": "lots"}]})", "hardware.gpus[0].memory_bytes");
    err(R"({"cpu": {"isa": "sse9"}})", "sse9");
    err(R"({"cpu": {"cores": 0}})", "hardware.cpu.cores");
    err(R"({"gpus": {"memory_bytes": 1}})", "expected an array");
    err(R"({"gpu_count": -1})", "gpu_count");
    err(R"({"cpu": {"dram_read_bytes_per_s": -5}})", "dram_read_bytes_per_s");
}

TEST_CASE("hardware: the example machine files load", "[plan][hardware]") {
    const plan::hardware_desc seed = plan::hardware_from_json_file(repo_root() + "/examples/hardware/seed-spr-rtx5090.json");
    CHECK(seed.cpu.threads == 64);
    CHECK(seed.cpu.cores == 32);
    CHECK(seed.cpu.numa_nodes == 1);
    CHECK(seed.cpu.amx);
    CHECK(seed.cpu.dram_read_bytes_per_s == Approx(180e9));
    CHECK(seed.cpu.matmul_flops > 1e12);
    REQUIRE(seed.gpus.size() == 1);
    CHECK(seed.gpus[0].memory_bytes > (31ull << 30));
    CHECK(seed.gpus[0].memory_bytes <= (32ull << 30));
    CHECK(seed.gpus[0].sm_count == 170);
    CHECK(seed.gpus[0].host_to_device_bytes_per_s == Approx(55e9));
    CHECK_FALSE(seed.notes.empty());

    const plan::hardware_desc dev = plan::hardware_from_json_file(repo_root() + "/examples/hardware/device-xeon-h100.json");
    CHECK(dev.cpu.cores == 16);
    REQUIRE(dev.gpus.size() == 1);
    CHECK(dev.gpus[0].memory_bytes > (79ull << 30));
    CHECK(dev.gpus[0].memory_bytes_per_s == Approx(3.0e12));
    CHECK(catch_error([] { plan::hardware_from_json_file("/nonexistent/hw.json"); }).code == errc::system);
}

TEST_CASE("workload: JSON, validation, KV bytes", "[plan][workload]") {
    const plan::workload_desc d = plan::workload_from_json(json::parse("{}"));
    CHECK(d.prompt_batches == std::vector<std::int64_t>{512});
    CHECK(d.decode_batch == 1);

    const plan::workload_desc w = plan::workload_from_json(
        json::parse(R"({"prompt_batches": [64, 2048], "decode_batch": 4, "context": 32768, "kv_cache_type": "q8_0"})"));
    CHECK(w.prompt_batches == std::vector<std::int64_t>{64, 2048});
    CHECK(w.decode_batch == 4);
    CHECK(w.kv_cache_type == ggml_type::q8_0);
    const plan::model_desc q = plan::qwen3_30b_a3b_q4_0();
    CHECK(plan::kv_cache_bytes(q, w) == q.kv_bytes_per_token(ggml_type::q8_0) * 32768);
    plan::workload_desc f16 = w;
    f16.kv_cache_type = ggml_type::f16;
    CHECK(plan::kv_cache_bytes(q, f16) == 48ull * 4 * 256 * 2 * 32768);  // 3 GiB
    CHECK(plan::workload_from_json(json::parse(R"({"prompt_batches": 128})")).prompt_batches ==
          std::vector<std::int64_t>{128});

    const plan::workload_desc back = plan::workload_from_json(plan::to_json(w));
    CHECK(json::dump(plan::to_json(back)) == json::dump(plan::to_json(w)));

    auto err = [](const char* text, const char* what) {
        const auto c = catch_error([&] { plan::workload_from_json(json::parse(text)); });
        INFO(text);
        CHECK(c.code == errc::malformed_input);
        CHECK(contains(c.what, what));
    };
    err(R"({"prompt_batches": [0]})", "prompt_batches[0] = 0");
    err(R"({"prompt_batches": []})", "prompt_batches is empty");
    err(R"({"decode_batch": 0})", "decode_batch = 0");
    err(R"({"context": 0})", "context = 0");
    err(R"({"context": 1.5})", "workload.context");
    err(R"({"kv_cache_type": "q9"})", "q9");
    err(R"({"batch": 3})", "unknown member \"batch\"");

    plan::workload_desc bad;
    bad.decode_batch = -1;
    CHECK(catch_error([&] { plan::validate(bad); }).code == errc::invalid_argument);
}

TEST_CASE("workload: routing statistics normalize and must fit the model", "[plan][workload]") {
    const auto rows = plan::load_routing_stats(json::parse(R"({"layers": [[1, 3], [0.5, 0.5], [10, 0]]})"));
    REQUIRE(rows.size() == 3);
    CHECK(rows[0][0] == Approx(0.25));
    CHECK(rows[0][1] == Approx(0.75));
    CHECK(rows[2][0] == Approx(1.0));
    CHECK(plan::load_routing_stats(json::parse("[[2, 2]]"))[0][1] == Approx(0.5));

    auto err = [](const char* text, const char* what) {
        const auto c = catch_error([&] { plan::load_routing_stats(json::parse(text)); });
        INFO(text);
        CHECK(c.code == errc::malformed_input);
        CHECK(contains(c.what, what));
    };
    err(R"({"layers": [[1, 2], [1]]})", "routing.layers[1]");
    err(R"({"layers": [[1, -2]]})", "negative");
    err(R"({"layers": [[0, 0]]})", "sum to 0");
    err(R"({"layers": [[1, "x"]]})", "not a number");
    err(R"({"layers": [[]]})", "empty");
    err(R"({"layers": [[1, 2]], "experts": 3})", "\"experts\" says 3");
    err(R"({"rows": []})", "unknown member");

    // Against a model: one row per layer, or per MoE layer; experts must match.
    plan::model_shape s = plan::deepseek_v2_lite_q4_0_shape();
    s.layers = 3;  // layer 0 dense, layers 1-2 MoE, 64 experts
    const plan::model_desc m = plan::make_model(s);
    plan::workload_desc w;
    w.expert_frequency.assign(2, std::vector<double>(64, 1.0 / 64));
    CHECK_NOTHROW(plan::validate(w, m));
    CHECK(plan::expert_frequency_of_layer(w, m, 0) == nullptr);
    CHECK(plan::expert_frequency_of_layer(w, m, 2) == &w.expert_frequency[1]);
    w.expert_frequency.assign(3, std::vector<double>(64, 1.0 / 64));
    CHECK_NOTHROW(plan::validate(w, m));
    CHECK(plan::expert_frequency_of_layer(w, m, 2) == &w.expert_frequency[2]);
    w.expert_frequency.assign(4, std::vector<double>(64, 1.0 / 64));
    CHECK(contains(catch_error([&] { plan::validate(w, m); }).what, "4 rows"));
    w.expert_frequency.assign(3, std::vector<double>(32, 1.0 / 32));
    CHECK(contains(catch_error([&] { plan::validate(w, m); }).what, "64 experts"));
    w.expert_frequency.assign(3, std::vector<double>(64, 1.0 / 32));
    CHECK(contains(catch_error([&] { plan::validate(w, m); }).what, "sums to"));
    w.expert_frequency.assign(1, std::vector<double>(4, 0.25));
    CHECK(contains(catch_error([&] { plan::validate(w, plan::llama3_8b_q4_0()); }).what, "no experts"));
}

TEST_CASE("hardware: to_json reads back through apply_overrides, unknown members included", "[plan][hardware]") {
    // cores, threads and isa left unknown (0, 0, ""): to_json wrote them and apply_overrides refused them.
    const plan::hardware_desc sparse = plan::hardware_from_json(json::parse(R"({"gpus": [{"name": "X", "memory_bytes": "24GiB"}]})"));
    const json::value j = plan::to_json(sparse);
    CHECK_FALSE(j.at("cpu").contains("cores"));
    CHECK_FALSE(j.at("cpu").contains("isa"));
    const plan::hardware_desc back = plan::hardware_from_json(json::parse(json::dump(j)));
    CHECK(json::dump(plan::to_json(back)) == json::dump(j));
    REQUIRE(back.gpus.size() == 1);
    CHECK(back.gpus[0].memory_bytes == (24ull << 30));

    for (const char* file : {"/examples/hardware/seed-spr-rtx5090.json", "/examples/hardware/device-xeon-h100.json"}) {
        const plan::hardware_desc hw = plan::hardware_from_json_file(repo_root() + file);
        const json::value full = plan::to_json(hw);
        CHECK(json::dump(plan::to_json(plan::hardware_from_json(full))) == json::dump(full));
    }
    const plan::hardware_desc here = plan::detect_hardware();
    CHECK(json::dump(plan::to_json(plan::hardware_from_json(plan::to_json(here)))) == json::dump(plan::to_json(here)));
}

TEST_CASE("workload: batches and context are bounded; KV bytes never wrap", "[plan][workload]") {
    auto invalid = [](const plan::workload_desc& w, const char* what) {
        const auto c = catch_error([&] { plan::validate(w); });
        CHECK(c.code == errc::invalid_argument);
        CHECK(contains(c.what, what));
    };
    plan::workload_desc w;
    w.context = std::int64_t(1) << 49;  // 48 layers x 2^60 bytes of KV wrapped to 0
    invalid(w, "context = 562949953421312");
    w = {};
    w.decode_batch = std::int64_t(1) << 60;  // the workspace (a double above 2^64) became 0
    invalid(w, "decode_batch = 1152921504606846976");
    w = {};
    w.prompt_batches = {512, (std::int64_t(1) << 40) + 1};
    invalid(w, "prompt_batches[1]");
    w = {};
    w.context = plan::workload_max_tokens;
    CHECK_NOTHROW(plan::validate(w));

    // kv_cache_bytes itself is checked (it does not call validate).
    const plan::model_desc q = plan::qwen3_30b_a3b_q4_0();
    w.context = std::int64_t(1) << 49;
    const auto c = catch_error([&] { plan::kv_cache_bytes(q, w); });
    CHECK(c.code == errc::invalid_argument);
    CHECK(contains(c.what, "more than 2^64 - 1"));
    plan::model_desc wide = q;
    wide.kv_heads = 1 << 30;
    wide.key_length = std::int64_t(1) << 40;
    CHECK(contains(catch_error([&] { wide.kv_bytes_per_token(); }).what, "more than 2^64 - 1"));

    // A context above the trained one is accepted: llama.cpp runs it (explain() notes it).
    w.context = q.context_length * 4;
    CHECK_NOTHROW(plan::validate(w, q));
}
