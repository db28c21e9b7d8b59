// plan/model.hpp: tensor classification by llama.cpp names, make_model and the presets (tensor counts,
// sizes, KV bytes), GGUF round trips through a sparse file (every preset and architecture), real-file
// style GGUFs built with gguf_writer (derived hyper-parameters, unknown architectures, tied embeddings,
// bad dims), JSON round trips and errors.

#include <amxmm/gguf/gguf.hpp>
#include <amxmm/plan/model.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "error_capture.hpp"

namespace {

namespace plan = amxmm::plan;
namespace json = amxmm::plan::json;
using amxmm::errc;
using amxmm::ggml_type;
using amxmm_test::catch_error;
using amxmm_test::contains;
using plan::tensor_role;

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("amxmm_test_plan_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

struct temp_file {
    std::string path;
    explicit temp_file(const std::string& name) : path(temp_path(name)) {}
    ~temp_file() { std::remove(path.c_str()); }
};

std::size_t count_role(const plan::model_desc& m, tensor_role r) {
    std::size_t n = 0;
    for (const auto& t : m.tensors) n += t.role == r;
    return n;
}

}  // namespace

TEST_CASE("model: tensor names classify into roles and layers", "[plan][model]") {
    struct row {
        const char* name;
        int layer;
        tensor_role role;
    };
    const row rows[] = {
        {"token_embd.weight", -1, tensor_role::token_embedding},
        {"output.weight", -1, tensor_role::output},
        {"output_norm.weight", -1, tensor_role::norm},
        {"blk.0.attn_norm.weight", 0, tensor_role::norm},
        {"blk.12.attn_q.weight", 12, tensor_role::attn_q},
        {"blk.3.attn_k.weight", 3, tensor_role::attn_k},
        {"blk.3.attn_v.weight", 3, tensor_role::attn_v},
        {"blk.3.attn_qkv.weight", 3, tensor_role::attn_qkv},
        {"blk.3.attn_output.weight", 3, tensor_role::attn_output},
        {"blk.3.attn_q_norm.weight", 3, tensor_role::norm},
        {"blk.3.attn_q.bias", 3, tensor_role::other},
        {"blk.7.attn_q_a.weight", 7, tensor_role::attn_other},
        {"blk.7.attn_q_b.weight", 7, tensor_role::attn_other},
        {"blk.7.attn_kv_a_mqa.weight", 7, tensor_role::attn_other},
        {"blk.7.attn_kv_b.weight", 7, tensor_role::attn_other},
        {"blk.7.attn_kv_a_norm.weight", 7, tensor_role::norm},
        {"blk.1.ffn_gate.weight", 1, tensor_role::ffn_gate},
        {"blk.1.ffn_up.weight", 1, tensor_role::ffn_up},
        {"blk.1.ffn_down.weight", 1, tensor_role::ffn_down},
        {"blk.47.ffn_gate_exps.weight", 47, tensor_role::ffn_gate_exps},
        {"blk.47.ffn_up_exps.weight", 47, tensor_role::ffn_up_exps},
        {"blk.47.ffn_down_exps.weight", 47, tensor_role::ffn_down_exps},
        {"blk.2.ffn_gate_shexp.weight", 2, tensor_role::ffn_gate_shexp},
        {"blk.2.ffn_up_shexp.weight", 2, tensor_role::ffn_up_shexp},
        {"blk.2.ffn_down_shexp.weight", 2, tensor_role::ffn_down_shexp},
        {"blk.2.ffn_gate_inp.weight", 2, tensor_role::ffn_router},
        {"blk.2.exp_probs_b.bias", 2, tensor_role::other},
        {"rope_freqs.weight", -1, tensor_role::other},
        {"blk.x.attn_q.weight", -1, tensor_role::other},
    };
    for (const row& r : rows) {
        INFO(r.name);
        const auto info = plan::classify_tensor_name(r.name);
        CHECK(info.layer == r.layer);
        CHECK(info.role == r.role);
    }
    CHECK_FALSE(plan::classify_tensor_name("blk.0.mystery.weight").recognized);
    CHECK(plan::classify_tensor_name("blk.0.ffn_up.weight").recognized);
    for (int i = 0; i <= static_cast<int>(tensor_role::other); ++i)
        CHECK(plan::role_from_name(plan::role_name(static_cast<tensor_role>(i))) == static_cast<tensor_role>(i));
    CHECK(plan::ggml_type_from_name("Q6_K") == ggml_type::q6_k);
    CHECK(plan::ggml_type_from_name("bf16") == ggml_type::bf16);
    CHECK(catch_error([] { plan::ggml_type_from_name("q5_9"); }).code == errc::malformed_input);
}

TEST_CASE("model: describe_tensor sizes every ggml type and checks block multiples", "[plan][model]") {
    for (std::uint32_t raw = 0; raw < 64; ++raw) {
        if (!amxmm::is_known_ggml_type(raw)) continue;
        const auto type = static_cast<ggml_type>(raw);
        const auto tr = amxmm::traits_of(type);
        const std::int64_t K = 2 * 256, N = 3;
        const plan::tensor_desc t = plan::describe_tensor("blk.0.ffn_up.weight", type, {K, N});
        INFO(tr.name);
        CHECK(t.bytes == std::uint64_t(K / tr.block_elements) * tr.block_bytes * N);
        CHECK(t.rows == N);
        CHECK(t.cols == K);
        if (tr.block_elements > 1) {
            const auto c = catch_error([&] { plan::describe_tensor("blk.0.ffn_up.weight", type, {K + 1, N}); });
            CHECK(c.code == errc::malformed_input);
            CHECK(contains(c.what, "not a multiple of the block size"));
        }
    }
    const auto e = plan::describe_tensor("blk.0.ffn_up_exps.weight", ggml_type::q4_0, {2048, 768, 128});
    CHECK(e.experts == 128);
    CHECK(e.rows == 768);
    CHECK(e.bytes == std::uint64_t(2048 / 32) * 18 * 768 * 128);
    CHECK(e.bytes_per_expert() == std::uint64_t(2048 / 32) * 18 * 768);
    CHECK(plan::ggml_dims(e) == std::vector<std::int64_t>{2048, 768, 128});
    CHECK(catch_error([] { plan::describe_tensor("blk.0.ffn_up_exps.weight", ggml_type::q4_0, {2048, 768}); }).code ==
          errc::malformed_input);
}

TEST_CASE("model: presets have the expected tables, sizes and KV bytes", "[plan][model]") {
    const plan::model_desc q = plan::qwen3_30b_a3b_q4_0();
    CHECK(q.architecture == "qwen3moe");
    CHECK(q.layers == 48);
    CHECK(q.experts == 128);
    CHECK(q.experts_used == 8);
    CHECK(count_role(q, tensor_role::ffn_up_exps) == 48);
    CHECK(count_role(q, tensor_role::ffn_router) == 48);
    CHECK(count_role(q, tensor_role::ffn_up) == 0);
    CHECK(q.find_tensor("output.weight")->type == ggml_type::q6_k);
    CHECK(q.find_tensor("token_embd.weight")->type == ggml_type::q4_0);
    CHECK(q.find_tensor("blk.0.ffn_gate_inp.weight")->type == ggml_type::f32);
    CHECK(q.find_tensor("blk.0.attn_q_norm.weight") != nullptr);
    CHECK(q.find_tensor("blk.0.attn_q.weight")->rows == 32 * 128);
    CHECK(q.find_tensor("blk.0.attn_output.weight")->cols == 32 * 128);
    const auto* down = q.find_tensor("blk.5.ffn_down_exps.weight");
    CHECK(down->cols == 768);
    CHECK(down->rows == 2048);
    CHECK(down->experts == 128);
    // Qwen3-30B-A3B Q4_0 GGUFs are ~17.3 GB.
    CHECK(q.total_bytes() > 17'000'000'000ull);
    CHECK(q.total_bytes() < 17'600'000'000ull);
    CHECK(q.expert_bytes() == 48ull * 3 * 128 * 768 * (2048 / 32) * 18);
    CHECK(q.kv_bytes_per_token() == 48ull * 4 * (128 + 128) * 2);
    CHECK(q.kv_bytes_per_token(ggml_type::f32) == 2 * q.kv_bytes_per_token());
    CHECK(q.kv_bytes_per_token(ggml_type::q8_0) == 48ull * (4 * 256 / 32) * 34);

    const plan::model_desc l = plan::llama3_8b_q4_0();
    CHECK(l.tensors.size() == 2 + 1 + 32 * 9);
    CHECK(l.total_bytes() > 4'500'000'000ull);
    CHECK(l.total_bytes() < 4'800'000'000ull);
    CHECK(l.kv_bytes_per_token() == 32ull * 8 * 256 * 2);
    CHECK_FALSE(l.is_moe());

    const plan::model_desc mx = plan::mixtral_8x7b_q4_0();
    CHECK(mx.find_tensor("blk.0.attn_v.weight")->type == ggml_type::q8_0);
    CHECK(mx.find_tensor("blk.0.ffn_up_exps.weight")->rows == 14336);
    CHECK(mx.expert_feed_forward == 0);

    const plan::model_desc ds = plan::deepseek_v2_lite_q4_0();
    CHECK(ds.kv_bytes_per_token() == 27ull * (512 + 64) * 2);  // MLA: latent + rope key
    CHECK(ds.find_tensor("blk.0.ffn_up.weight") != nullptr);     // leading dense layer
    CHECK(ds.find_tensor("blk.0.ffn_up_exps.weight") == nullptr);
    CHECK(ds.find_tensor("blk.1.ffn_up_shexp.weight")->rows == 2 * 1408);
    CHECK(ds.find_tensor("blk.1.attn_kv_b.weight")->rows == 16 * (128 + 128));
    CHECK(ds.find_tensor("blk.1.attn_kv_a_mqa.weight")->rows == 512 + 64);
    CHECK(count_role(ds, tensor_role::attn_k) == 0);

    const plan::model_desc q2 = plan::qwen2_5_7b_q4_0();
    CHECK(q2.find_tensor("blk.0.attn_q.bias") != nullptr);
    CHECK(q2.find_tensor("blk.0.attn_q.bias")->role == tensor_role::other);

    for (const std::string& n : plan::preset_names()) CHECK(plan::model_preset(n).total_bytes() > 0);
    CHECK(catch_error([] { plan::preset_shape("gpt-17"); }).code == errc::invalid_argument);
}

TEST_CASE("model: make_model checks its shape and tied embeddings drop output.weight", "[plan][model]") {
    plan::model_shape s = plan::llama3_8b_q4_0_shape();
    s.tied_embeddings = true;
    const plan::model_desc m = plan::make_model(s);
    CHECK(m.tied_embeddings);
    CHECK(m.find_tensor("output.weight") == nullptr);
    CHECK(m.output_tensor() == m.find_tensor("token_embd.weight"));

    auto bad = [](auto edit, const char* what) {
        plan::model_shape b = plan::qwen3_30b_a3b_q4_0_shape();
        edit(b);
        const auto c = catch_error([&] { plan::make_model(b); });
        INFO(what);
        CHECK(c.code == errc::invalid_argument);
        CHECK(contains(c.what, what));
    };
    bad([](plan::model_shape& b) { b.layers = 0; }, "layers");
    bad([](plan::model_shape& b) { b.experts_used = 129; }, "experts_used");
    bad([](plan::model_shape& b) { b.kv_heads = 64; }, "kv_heads");
    bad([](plan::model_shape& b) { b.embedding = 2000; }, "block size");  // 2000 % 32 != 0
    bad([](plan::model_shape& b) { b.architecture = "deepseek2"; }, "kv_lora_rank");
}

TEST_CASE("model: write_model_gguf is sparse and reads back equal, for every preset", "[plan][model]") {
    for (const std::string& n : plan::preset_names()) {
        INFO(n);
        const plan::model_desc m = plan::model_preset(n);
        temp_file f(n + ".gguf");
        plan::write_model_gguf(m, f.path);
        struct stat st {};
        REQUIRE(::stat(f.path.c_str(), &st) == 0);
        CHECK(std::uint64_t(st.st_size) > m.total_bytes());     // the data region is there...
        CHECK(std::uint64_t(st.st_blocks) * 512 < (8u << 20));  // ...as a hole
        const plan::model_desc back = plan::model_from_gguf(f.path);
        CHECK(back == m);
        CHECK(back.warnings.empty());
        CHECK(back.kv_bytes_per_token() == m.kv_bytes_per_token());
    }
    // Other architectures through make_model, including an unknown one (llama table, warning).
    for (const char* arch : {"qwen3", "qwen2moe", "starcoder9"}) {
        INFO(arch);
        plan::model_shape s;
        s.name = "tiny";
        s.architecture = arch;
        s.layers = 2;
        s.embedding = 64;
        s.feed_forward = 96;
        s.vocabulary = 100;
        s.heads = 4;
        s.kv_heads = 2;
        s.output_type = ggml_type::q8_0;  // Q6_K needs K % 256 == 0
        if (std::string(arch) == "qwen2moe") {
            s.experts = 4;
            s.experts_used = 2;
            s.shared_experts = 1;
            s.expert_feed_forward = 32;
            s.shared_expert_feed_forward = 64;
        }
        const plan::model_desc m = plan::make_model(s);
        temp_file f(std::string(arch) + ".gguf");
        plan::write_model_gguf(m, f.path);
        const plan::model_desc back = plan::model_from_gguf(f.path);
        CHECK(back == m);
        CHECK(back.warnings.empty() == plan::is_known_architecture(arch));
    }
}

TEST_CASE("model: GGUFs written by hand (derived values, warnings, errors)", "[plan][model]") {
    SECTION("missing hyper-parameters are derived from tensors, with warnings") {
        amxmm::gguf_writer w;
        w.add("general.architecture", "llama");
        w.add("tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "c"});
        w.add_tensor("token_embd.weight", ggml_type::f16, {64, 3});
        w.add_tensor("blk.0.attn_q.weight", ggml_type::q8_0, {64, 64});
        w.add_tensor("blk.1.ffn_up_exps.weight", ggml_type::q4_0, {64, 32, 4});
        w.add_tensor("blk.1.weird_thing.weight", ggml_type::f32, {5});
        const auto bytes = w.to_bytes();
        const auto file = amxmm::gguf_file::from_bytes(bytes);
        const plan::model_desc m = plan::model_from_gguf(file, "fallback");
        CHECK(m.name == "fallback");
        CHECK(m.layers == 2);
        CHECK(m.embedding == 64);
        CHECK(m.vocabulary == 3);
        CHECK(m.experts == 4);
        CHECK(m.tied_embeddings);
        CHECK(m.find_tensor("blk.1.weird_thing.weight")->role == tensor_role::other);
        std::string all;
        for (const auto& s : m.warnings) all += s + "\n";
        CHECK(contains(all, "block_count"));
        CHECK(contains(all, "weird_thing"));
        CHECK(contains(all, "expert_count"));
    }
    SECTION("per-layer arrays use the maximum") {
        amxmm::gguf_writer w;
        w.add("general.architecture", "openelm");
        w.add("openelm.block_count", std::uint32_t{2});
        w.add("openelm.attention.head_count_kv", std::vector<std::int32_t>{3, 5});
        const auto file = amxmm::gguf_file::from_bytes(w.to_bytes());
        const plan::model_desc m = plan::model_from_gguf(file);
        CHECK(m.kv_heads == 5);
        CHECK(m.warnings.size() >= 2);  // unknown architecture, per-layer value
    }
    SECTION("no architecture") {
        amxmm::gguf_writer w;
        w.add("general.name", "x");
        const auto file = amxmm::gguf_file::from_bytes(w.to_bytes());
        const auto c = catch_error([&] { plan::model_from_gguf(file); });
        CHECK(c.code == errc::malformed_input);
        CHECK(contains(c.what, "general.architecture"));
    }
    SECTION("unreadable path") {
        CHECK(catch_error([] { plan::model_from_gguf(std::string("/nonexistent/m.gguf")); }).code == errc::system);
    }
}

TEST_CASE("model: JSON round trip, synthesis from hyper-parameters, errors", "[plan][model]") {
    for (const std::string& n : plan::preset_names()) {
        INFO(n);
        const plan::model_desc m = plan::model_preset(n);
        const plan::model_desc back = plan::model_from_json(json::parse(json::dump(plan::to_json(m))));
        CHECK(back == m);
    }
    // Synthesized from a preset plus overrides, or from hyper-parameters alone.
    const plan::model_desc p = plan::model_from_json(json::parse(R"({"preset": "qwen3-30b-a3b-q4_0", "layers": 2,
                                                                      "output_type": "q8_0"})"));
    CHECK(p.layers == 2);
    CHECK(p.find_tensor("output.weight")->type == ggml_type::q8_0);
    CHECK(p.find_tensor("blk.1.ffn_up_exps.weight") != nullptr);
    const plan::model_desc h = plan::model_from_json(json::parse(R"({"name": "d", "architecture": "llama", "layers": 1,
        "embedding": 64, "feed_forward": 128, "vocabulary": 10, "heads": 2, "weight_type": "q8_0", "output_type": "f16",
        "type_overrides": {"attn_v": "f16"}})"));
    CHECK(h.find_tensor("blk.0.ffn_up.weight")->type == ggml_type::q8_0);
    CHECK(h.find_tensor("blk.0.attn_v.weight")->type == ggml_type::f16);

    auto err = [](const char* text, const char* what) {
        const auto c = catch_error([&] { plan::model_from_json(json::parse(text)); });
        INFO(text);
        CHECK(c.code == errc::malformed_input);
        CHECK(contains(c.what, what));
    };
    err(R"({"layres": 3})", "unknown member \"layres\"");
    err(R"({"preset": "nope"})", "unknown model preset");
    err(R"({"layers": "many"})", "model.layers");
    err(R"({"tensors": [{"name": "blk.0.ffn_up.weight", "type": "q4_0", "dims": [33, 2]}]})", "tensors[0]");
    err(R"({"tensors": [{"name": "a.weight", "type": "q4_0"}]})", "missing member \"dims\"");
    err(R"({"tensors": [{"name": "a.weight", "type": "q4_0", "dims": [32], "bytes": 5}]})", "bytes");
    err(R"({"tensors": [], "weight_type": "q4_0"})", "synthesized");
    err(R"({"architecture": "llama", "layers": 0, "embedding": 64, "heads": 1, "vocabulary": 1})", "layers");
}
