// Writes a small seed corpus for gguf_fuzz: valid GGUF files covering every value type, nested arrays,
// both versions, several alignments and tensor types.  Usage: make_gguf_seeds DIR
#include <amxmm/gguf/gguf.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

std::vector<std::uint8_t> pattern(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 37 + 11);
    return v;
}

void add_tensor(amxmm::gguf_writer& w, const std::string& name, amxmm::ggml_type type,
                const std::vector<std::int64_t>& dims) {
    std::int64_t elements = 1;
    for (std::int64_t d : dims) elements *= d;
    const auto tr = amxmm::traits_of(type);
    const auto data = pattern(static_cast<std::size_t>(elements / tr.block_elements * tr.block_bytes));
    w.add_tensor(name, type, dims, data.data(), data.size());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    using amxmm::gguf_array;
    using amxmm::gguf_value_type;
    using amxmm::ggml_type;

    {  // header only
        amxmm::gguf_writer w;
        w.write_file((dir / "empty.gguf").string());
    }
    {  // every scalar type, v2
        amxmm::gguf_writer w(2);
        w.add("u8", std::uint8_t{1});
        w.add("i8", std::int8_t{-1});
        w.add("u16", std::uint16_t{2});
        w.add("i16", std::int16_t{-2});
        w.add("u32", std::uint32_t{3});
        w.add("i32", std::int32_t{-3});
        w.add("f32", 0.5f);
        w.add("bool", true);
        w.add("str", "text");
        w.add("u64", std::uint64_t{4});
        w.add("i64", std::int64_t{-4});
        w.add("f64", 0.25);
        w.write_file((dir / "scalars_v2.gguf").string());
    }
    {  // arrays of every kind, nested ones included
        amxmm::gguf_writer w;
        w.add("a.u8", std::vector<std::uint8_t>{1, 2, 3});
        w.add("a.i32", std::vector<std::int32_t>{-1, 0, 1});
        w.add("a.f32", std::vector<float>{1.0f, 2.0f});
        w.add("a.bool", std::vector<bool>{true, false});
        w.add("a.str", std::vector<std::string>{"<s>", "</s>", ""});
        w.add("a.u64", std::vector<std::uint64_t>{5});
        w.add("a.f64", std::vector<double>{});
        w.add("a.nested", std::vector<gguf_array>{gguf_array(std::vector<std::int16_t>{7}),
                                                  gguf_array::empty_of(gguf_value_type::string)});
        w.write_file((dir / "arrays.gguf").string());
    }
    {  // a small model: Q4_0 weights, norms, experts
        amxmm::gguf_writer w;
        w.add("general.architecture", "llama");
        w.add("llama.block_count", std::uint32_t{1});
        add_tensor(w, "blk.0.ffn_up.weight", ggml_type::q4_0, {64, 4});
        add_tensor(w, "blk.0.attn_norm.weight", ggml_type::f32, {8});
        add_tensor(w, "blk.0.ffn_up_exps.weight", ggml_type::q4_0, {32, 2, 3});
        w.write_file((dir / "model.gguf").string());
    }
    for (std::uint32_t alignment : {1u, 8u, 64u}) {  // other alignments, other types
        amxmm::gguf_writer w;
        w.set_alignment(alignment);
        add_tensor(w, "a", ggml_type::q8_0, {32, 1});
        add_tensor(w, "b", ggml_type::f16, {3});
        add_tensor(w, "c", ggml_type::q4_k, {256});
        add_tensor(w, "d", ggml_type::i8, {});
        w.write_file((dir / ("align_" + std::to_string(alignment) + ".gguf")).string());
    }
    return 0;
}
