// GGUF reader and writer (include/amxmm/gguf/).
//
//   * round trips: every value type (extremes, empty and nested arrays), versions 2 and 3, alignments
//     32, 64 and others; tensors of several ggml types keep their bytes, dims and aligned offsets;
//     writing what was read gives the same bytes again;
//   * Q4_0 tensors: the matrix view is the blocks that were written, and packs/unpacks bit-exactly;
//   * files: mmap'd open of a written file (sparse tensors included), system errors for bad paths;
//   * typed metadata getters: errors name the key and the actual type;
//   * hostile input, built byte by byte: every prefix of a valid file, huge counts and lengths, bad
//     types, dims, offsets and alignments, duplicates, tensors whose data overlap -- each a clear
//     malformed_input error naming the problem and its byte offset; nothing read out of bounds (the
//     ASan build checks that);
//   * the writer refuses what it cannot write, a file past 2^63 - 1 bytes included.
// Every random choice comes from a fixed seed, so a failure reproduces.

#include <amxmm/format/quantize.hpp>
#include <amxmm/gguf/gguf.hpp>
#include <amxmm/pack/q4_0_vnni.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "catch_compat.hpp"
#include "error_capture.hpp"

namespace {

using amxmm::errc;
using amxmm::ggml_type;
using amxmm::gguf_array;
using amxmm::gguf_file;
using amxmm::gguf_value;
using amxmm::gguf_value_type;
using amxmm::gguf_writer;
using amxmm_test::catch_error;
using amxmm_test::caught;
using bytes = std::vector<std::uint8_t>;

// ---- hand-built files -----------------------------------------------------------------------------------

/// Appends little-endian fields, for files the writer would refuse to produce.
struct raw_file {
    bytes b;
    raw_file& u8(std::uint8_t v) { b.push_back(v); return *this; }
    raw_file& u32(std::uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(std::uint8_t(v >> (8 * i))); return *this; }
    raw_file& u64(std::uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(std::uint8_t(v >> (8 * i))); return *this; }
    raw_file& str(const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); return *this; }
    raw_file& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(tensors).u64(kvs);
    }
    raw_file& kv_u32(const std::string& key, std::uint32_t v) { return str(key).u32(4).u32(v); }
    raw_file& tensor(const std::string& name, const std::vector<std::uint64_t>& dims, std::uint32_t type,
                     std::uint64_t offset) {
        str(name).u32(std::uint32_t(dims.size()));
        for (std::uint64_t d : dims) u64(d);
        return u32(type).u64(offset);
    }
    raw_file& pad_to(std::size_t alignment) { b.resize((b.size() + alignment - 1) / alignment * alignment, 0); return *this; }
    raw_file& zeros(std::size_t n) { b.resize(b.size() + n, 0); return *this; }
};

/// Parses `file` from a heap copy of exactly its size (so ASan sees any overread) and checks that it
/// is rejected as malformed with a message containing each of `parts`.
void expect_malformed(const bytes& file, const std::vector<std::string>& parts) {
    const caught e = catch_error([&] { (void)gguf_file::from_bytes(file); });
    INFO("message: " << e.what);
    REQUIRE(e.thrown);
    CHECK(e.code == errc::malformed_input);
    for (const std::string& p : parts) CHECK(amxmm_test::contains(e.what, p));
}

// ---- written files --------------------------------------------------------------------------------------

/// Metadata with every value type, extremes, empty and nested arrays.
void add_every_value_type(gguf_writer& w) {
    w.add("general.architecture", "llama");
    w.add("t.u8", std::uint8_t{255});
    w.add("t.i8", std::int8_t{-128});
    w.add("t.u16", std::uint16_t{65535});
    w.add("t.i16", std::int16_t{-32768});
    w.add("t.u32", std::uint32_t{4000000000u});
    w.add("t.i32", std::int32_t{std::numeric_limits<std::int32_t>::min()});
    w.add("t.f32", -0.0f);
    w.add("t.f32.inf", std::numeric_limits<float>::infinity());
    w.add("t.f32.denormal", std::numeric_limits<float>::denorm_min());
    w.add("t.bool.true", true);
    w.add("t.bool.false", false);
    w.add("t.string", std::string("h\xc3\xa9llo, w\xc3\xb6rld"));
    w.add("t.string.empty", std::string());
    w.add("t.string.nul", std::string("a\0b", 3));
    w.add("t.u64", std::numeric_limits<std::uint64_t>::max());
    w.add("t.i64", std::numeric_limits<std::int64_t>::min());
    w.add("t.f64", 3.141592653589793);
    w.add("a.u8", std::vector<std::uint8_t>{0, 1, 255});
    w.add("a.i8", std::vector<std::int8_t>{-128, 0, 127});
    w.add("a.u16", std::vector<std::uint16_t>{1, 65535});
    w.add("a.i16", std::vector<std::int16_t>{-1, 32767});
    w.add("a.u32", std::vector<std::uint32_t>{7, 0xffffffffu});
    w.add("a.i32", std::vector<std::int32_t>{-7, 1 << 30});
    w.add("a.f32", std::vector<float>{0.5f, -1.25f, 1e30f});
    w.add("a.bool", std::vector<bool>{true, false, true, true});
    w.add("a.string", std::vector<std::string>{"<s>", "", "</s>", std::string(300, 'x')});
    w.add("a.u64", std::vector<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()});
    w.add("a.i64", std::vector<std::int64_t>{-1, std::numeric_limits<std::int64_t>::max()});
    w.add("a.f64", std::vector<double>{1e-300, -2.5});
    w.add("a.empty.f32", std::vector<float>{});
    w.add("a.empty.string", std::vector<std::string>{});
    w.add("a.empty.array", gguf_array::empty_of(gguf_value_type::array));
    w.add("a.nested", std::vector<gguf_array>{gguf_array(std::vector<std::int32_t>{1, 2, 3}),
                                             gguf_array(std::vector<std::string>{"merge", "s"}),
                                             gguf_array(std::vector<gguf_array>{gguf_array(std::vector<bool>{true})}),
                                             gguf_array::empty_of(gguf_value_type::float64)});
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::mt19937_64& rng) {
    std::vector<std::uint8_t> v(n);
    for (auto& x : v) x = static_cast<std::uint8_t>(rng());
    return v;
}

/// A tensor to write and what the reader must give back.
struct tensor_spec {
    std::string name;
    ggml_type type;
    std::vector<std::int64_t> dims;
    std::vector<std::uint8_t> data;
};

std::vector<tensor_spec> sample_tensors(std::mt19937_64& rng) {
    std::vector<tensor_spec> t = {
        {"token_embd.weight", ggml_type::f16, {64, 5}, {}},
        {"output_norm.weight", ggml_type::f32, {7}, {}},             // 28 bytes: padding follows
        {"blk.0.attn_q.weight", ggml_type::q4_0, {64, 3}, {}},        // 108 bytes
        {"blk.0.ffn_down.weight", ggml_type::q8_0, {96, 2, 1}, {}},
        {"blk.0.ffn_up_exps.weight", ggml_type::q4_k, {256, 2, 3}, {}},
        {"blk.0.scalar", ggml_type::i8, {}, {}},                     // n_dims = 0: one element
        {"blk.0.empty", ggml_type::f32, {0, 4}, {}},                 // no bytes at all
        {"blk.0.mxfp4", ggml_type::mxfp4, {32, 1, 1, 2}, {}},        // 4 dims
    };
    for (tensor_spec& s : t) {
        std::int64_t elements = 1;
        for (std::int64_t d : s.dims) elements *= d;
        const auto tr = amxmm::traits_of(s.type);
        s.data = random_bytes(static_cast<std::size_t>(elements / tr.block_elements * tr.block_bytes), rng);
    }
    return t;
}

void check_tensors(const gguf_file& f, const std::vector<tensor_spec>& specs) {
    REQUIRE(f.tensors().size() == specs.size());
    CHECK(f.data_offset() % f.alignment() == 0);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const tensor_spec& s = specs[i];
        const amxmm::gguf_tensor_info& t = f.tensors()[i];
        INFO("tensor " << s.name);
        CHECK(t.name == s.name);
        CHECK(&f.tensor(s.name) == &t);
        CHECK(t.type == s.type);
        CHECK(t.n_dims == s.dims.size());
        for (std::size_t d = 0; d < 4; ++d) CHECK(t.dims[d] == (d < s.dims.size() ? s.dims[d] : 1));
        CHECK(t.cols() == t.dims[0]);
        CHECK(t.rows() == t.dims[1] * t.dims[2] * t.dims[3]);
        CHECK(t.size_bytes == s.data.size());
        CHECK(t.offset % f.alignment() == 0);
        if (s.data.empty()) {
            CHECK(t.data == nullptr);
        } else {
            REQUIRE(t.data == f.bytes() + f.data_offset() + t.offset);
            CHECK(std::memcmp(t.data, s.data.data(), s.data.size()) == 0);
        }
    }
}

gguf_writer writer_with_tensors(std::uint32_t version, const std::vector<tensor_spec>& specs) {
    gguf_writer w(version);
    add_every_value_type(w);
    for (const tensor_spec& s : specs) w.add_tensor(s.name, s.type, s.dims, s.data.data(), s.data.size());
    return w;
}

/// A writer holding exactly what `f` holds.
gguf_writer copy_of(const gguf_file& f) {
    gguf_writer w(f.version());
    for (const amxmm::gguf_kv& kv : f.metadata()) w.add(kv.key, kv.value);
    for (const amxmm::gguf_tensor_info& t : f.tensors()) {
        std::vector<std::int64_t> dims(t.dims.begin(), t.dims.begin() + t.n_dims);
        w.add_tensor(t.name, t.type, dims, t.data, t.size_bytes);
    }
    return w;
}

std::filesystem::path temp_path(const std::string& stem) {
    return std::filesystem::temp_directory_path() /
           ("amxmm_test_gguf_" + std::to_string(::getpid()) + "_" + stem + ".gguf");
}

}  // namespace

// ---- round trips ----------------------------------------------------------------------------------------

TEST_CASE("gguf: every value type round-trips, versions 2 and 3", "[gguf]") {
    const std::uint32_t version = GENERATE(2u, 3u);
    CAPTURE(version);
    gguf_writer w(version);
    add_every_value_type(w);
    const bytes file = w.to_bytes();
    CHECK(file.size() == w.file_size());

    const gguf_file f = gguf_file::from_memory(file.data(), file.size());
    CHECK(f.version() == version);
    CHECK(f.alignment() == 32);
    CHECK(f.tensors().empty());
    REQUIRE(f.metadata().size() == w.metadata().size());
    for (std::size_t i = 0; i < f.metadata().size(); ++i) {
        INFO("key " << w.metadata().entries()[i].key);
        CHECK(f.metadata().entries()[i].key == w.metadata().entries()[i].key);  // file order kept
        CHECK(f.metadata().entries()[i].value == w.metadata().entries()[i].value);
    }

    const amxmm::gguf_metadata& m = f.metadata();
    CHECK(m.get<std::string>("general.architecture") == "llama");
    CHECK(m.get<std::uint8_t>("t.u8") == 255);
    CHECK(m.get<std::int8_t>("t.i8") == -128);
    CHECK(m.get<std::uint16_t>("t.u16") == 65535);
    CHECK(m.get<std::int16_t>("t.i16") == -32768);
    CHECK(m.get<std::uint32_t>("t.u32") == 4000000000u);
    CHECK(m.get<std::int32_t>("t.i32") == std::numeric_limits<std::int32_t>::min());
    CHECK(std::signbit(m.get<float>("t.f32")));
    CHECK(std::isinf(m.get<float>("t.f32.inf")));
    CHECK(m.get<float>("t.f32.denormal") == std::numeric_limits<float>::denorm_min());
    CHECK(m.get<bool>("t.bool.true"));
    CHECK_FALSE(m.get<bool>("t.bool.false"));
    CHECK(m.get<std::string>("t.string.nul") == std::string("a\0b", 3));
    CHECK(m.get<std::uint64_t>("t.u64") == std::numeric_limits<std::uint64_t>::max());
    CHECK(m.get<std::int64_t>("t.i64") == std::numeric_limits<std::int64_t>::min());
    CHECK(m.get<double>("t.f64") == 3.141592653589793);
    CHECK(m.get_array<std::string>("a.string").at(3) == std::string(300, 'x'));
    CHECK(m.get_array<bool>("a.bool") == std::vector<bool>{true, false, true, true});
    CHECK(m.get_array<float>("a.empty.f32").empty());
    CHECK(m.at("a.empty.array").array().element_type() == gguf_value_type::array);
    const auto& nested = m.get_array<gguf_array>("a.nested");
    REQUIRE(nested.size() == 4);
    CHECK(nested[0].values<std::int32_t>() == std::vector<std::int32_t>{1, 2, 3});
    CHECK(nested[1].values<std::string>() == std::vector<std::string>{"merge", "s"});
    CHECK(nested[2].values<gguf_array>().at(0).values<bool>() == std::vector<bool>{true});
    CHECK(nested[3].element_type() == gguf_value_type::float64);

    // Writing what was read gives the same bytes.
    CHECK(copy_of(f).to_bytes() == file);
}

TEST_CASE("gguf: tensors keep bytes, dims and aligned offsets for alignments 32, 64 and others", "[gguf]") {
    const std::uint32_t alignment = GENERATE(32u, 64u, 1u, 8u, 4096u);
    const std::uint32_t version = GENERATE(2u, 3u);
    CAPTURE(alignment, version);
    std::mt19937_64 rng(alignment * 10 + version);
    const std::vector<tensor_spec> specs = sample_tensors(rng);
    gguf_writer w = writer_with_tensors(version, specs);
    if (alignment != 32) w.set_alignment(alignment);
    const bytes file = w.to_bytes();

    const gguf_file f = gguf_file::from_bytes(file);
    CHECK(f.version() == version);
    CHECK(f.alignment() == alignment);
    CHECK(f.metadata().contains("general.alignment") == (alignment != 32));
    if (alignment != 32) CHECK(f.metadata().get<std::uint32_t>("general.alignment") == alignment);
    check_tensors(f, specs);
    CHECK(copy_of(f).to_bytes() == file);
    CHECK(f.find_tensor("no.such.tensor") == nullptr);
}

TEST_CASE("gguf: set_alignment replaces an earlier general.alignment in place", "[gguf]") {
    gguf_writer w;
    w.add("general.alignment", std::uint32_t{16});
    w.add("x", std::int32_t{1});
    w.set_alignment(128);
    CHECK(w.alignment() == 128);
    const gguf_file f = gguf_file::from_bytes(w.to_bytes());
    CHECK(f.alignment() == 128);
    CHECK(f.metadata().entries().front().key == "general.alignment");
    CHECK(f.data_offset() % 128 == 0);
}

TEST_CASE("gguf: Q4_0 tensors give the written blocks as a matrix view that packs", "[gguf]") {
    std::mt19937_64 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const std::int64_t n = 40, k = 256, experts = 3;
    std::vector<float> x(static_cast<std::size_t>(experts * n * k));
    for (float& v : x) v = nd(rng);
    const std::vector<amxmm::block_q4_0> dense = amxmm::quantize_q4_0(x.data(), n, k, k);
    const std::vector<amxmm::block_q4_0> stacked = amxmm::quantize_q4_0(x.data(), experts * n, k, k);

    gguf_writer w;
    w.add("general.architecture", "qwen3moe");
    w.add_tensor("blk.0.ffn_up.weight", ggml_type::q4_0, {k, n}, dense.data(), dense.size() * sizeof(amxmm::block_q4_0));
    w.add_tensor("blk.0.ffn_up_exps.weight", ggml_type::q4_0, {k, n, experts}, stacked.data(),
                 stacked.size() * sizeof(amxmm::block_q4_0));
    w.add_tensor("blk.0.attn_norm.weight", ggml_type::f32, {k}, x.data(), std::size_t(k) * sizeof(float));
    const gguf_file f = gguf_file::from_bytes(w.to_bytes());

    const amxmm::q4_0_matrix_view v = f.q4_0_matrix("blk.0.ffn_up.weight");
    CHECK(v.rows == n);
    CHECK(v.cols == k);
    CHECK(std::memcmp(v.blocks, dense.data(), dense.size() * sizeof(amxmm::block_q4_0)) == 0);
    const amxmm::q4_0_matrix_view e = f.q4_0_matrix("blk.0.ffn_up_exps.weight");
    CHECK(e.rows == experts * n);  // rows = dims[1] * dims[2]
    CHECK(e.cols == k);
    CHECK(std::memcmp(e.blocks, stacked.data(), stacked.size() * sizeof(amxmm::block_q4_0)) == 0);

    const amxmm::packed_q4_0_vnni packed = amxmm::pack_q4_0_vnni(v);
    CHECK(packed.rows() == n);
    const std::vector<amxmm::block_q4_0> back = amxmm::unpack_q4_0_vnni(packed.view());
    CHECK(std::memcmp(back.data(), dense.data(), dense.size() * sizeof(amxmm::block_q4_0)) == 0);

    caught c = catch_error([&] { (void)f.q4_0_matrix("blk.0.attn_norm.weight"); });
    CHECK(c.code == errc::invalid_argument);
    CHECK(amxmm_test::contains(c.what, "'blk.0.attn_norm.weight' is f32, not q4_0"));
    c = catch_error([&] { (void)f.q4_0_matrix("blk.9.ffn_up.weight"); });
    CHECK(c.code == errc::out_of_range);
    CHECK(amxmm_test::contains(c.what, "no tensor named 'blk.9.ffn_up.weight'"));
}

TEST_CASE("gguf: a Q4_0 view of data that is not 2-byte aligned is refused", "[gguf]") {
    std::vector<amxmm::block_q4_0> blocks(2);
    gguf_writer w;
    w.set_alignment(1);
    w.add_tensor("w", ggml_type::q4_0, {32, 2}, blocks.data(), sizeof(amxmm::block_q4_0) * 2);
    const bytes file = w.to_bytes();
    // The same file at an even and at an odd address.
    std::vector<std::uint8_t> buffer(file.size() + 2);
    for (std::size_t shift : {0, 1}) {
        std::uint8_t* base = buffer.data() + shift;
        std::memcpy(base, file.data(), file.size());
        const gguf_file f = gguf_file::from_memory(base, file.size());
        const auto* data = f.tensor("w").data;
        const caught c = catch_error([&] { (void)f.q4_0_matrix("w"); });
        CHECK(c.thrown == (reinterpret_cast<std::uintptr_t>(data) % 2 != 0));
        if (c.thrown) {
            CHECK(c.code == errc::unsupported);
            CHECK(amxmm_test::contains(c.what, "is not 2-byte aligned"));
        }
    }
}

TEST_CASE("gguf: open maps a written file; zero tensors become holes", "[gguf]") {
    std::mt19937_64 rng(11);
    const std::vector<tensor_spec> specs = sample_tensors(rng);
    gguf_writer w = writer_with_tensors(3, specs);
    w.set_alignment(64);
    w.add_tensor("sparse.weight", ggml_type::q4_0, {4096, 1024});  // 2.25 MiB of zeros, not written
    const std::filesystem::path path = temp_path("open");
    w.write_file(path.string());
    CHECK(std::filesystem::file_size(path) == w.file_size());
    {
        gguf_file f = gguf_file::open(path.string());
        CHECK(f.size_bytes() == w.file_size());
        REQUIRE(f.tensors().size() == specs.size() + 1);
        const auto& sparse = f.tensor("sparse.weight");
        CHECK(sparse.size_bytes == 4096 / 32 * 18 * 1024);
        bool all_zero = true;
        for (std::uint64_t i = 0; i < sparse.size_bytes; ++i) all_zero &= sparse.data[i] == std::byte{0};
        CHECK(all_zero);
        // The file holds the same bytes as to_bytes().
        std::ifstream in(path, std::ios::binary);
        const bytes on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(on_disk == w.to_bytes());
        // A moved gguf_file keeps its tensors where they were.
        const std::byte* before = f.tensors()[0].data;
        gguf_file moved = std::move(f);
        CHECK(moved.tensors()[0].data == before);
        CHECK(std::memcmp(moved.tensors()[0].data, specs[0].data.data(), specs[0].data.size()) == 0);
    }
    std::filesystem::remove(path);

    caught c = catch_error([&] { (void)gguf_file::open(path.string()); });
    CHECK(c.code == errc::system);
    CHECK(amxmm_test::contains(c.what, path.string()));
    CHECK(amxmm_test::contains(c.what, "No such file"));

    c = catch_error([&] { (void)gguf_file::open(std::filesystem::temp_directory_path().string()); });
    CHECK(c.code == errc::invalid_argument);
    CHECK(amxmm_test::contains(c.what, "not a regular file"));

    const std::filesystem::path empty = temp_path("empty");
    { std::ofstream touch(empty); }
    c = catch_error([&] { (void)gguf_file::open(empty.string()); });
    CHECK(c.code == errc::malformed_input);
    CHECK(amxmm_test::contains(c.what, empty.string()));
    CHECK(amxmm_test::contains(c.what, "the file has 0 bytes"));
    std::filesystem::remove(empty);

    c = catch_error([&] { w.write_file("/nonexistent-dir/x.gguf"); });
    CHECK(c.code == errc::system);
    CHECK(amxmm_test::contains(c.what, "/nonexistent-dir/x.gguf"));
}

// ---- typed getters ---------------------------------------------------------------------------------------

TEST_CASE("gguf: typed getters name the key and the actual type", "[gguf]") {
    gguf_writer w;
    add_every_value_type(w);
    const gguf_file f = gguf_file::from_bytes(w.to_bytes());
    const amxmm::gguf_metadata& m = f.metadata();

    caught c = catch_error([&] { (void)m.get<float>("t.u32"); });
    CHECK(c.code == errc::malformed_input);
    CHECK(amxmm_test::contains(c.what, "metadata key 't.u32' is uint32, not float32"));
    c = catch_error([&] { (void)m.get<std::string>("a.nested"); });
    CHECK(amxmm_test::contains(c.what, "metadata key 'a.nested' is array of array, not string"));
    c = catch_error([&] { (void)m.get_array<float>("a.string"); });
    CHECK(c.code == errc::malformed_input);
    CHECK(amxmm_test::contains(c.what, "metadata key 'a.string' is array of string, not array of float32"));
    c = catch_error([&] { (void)m.get_array<float>("t.f32"); });
    CHECK(amxmm_test::contains(c.what, "metadata key 't.f32' is float32, not array of float32"));
    c = catch_error([&] { (void)m.get<std::uint32_t>("llama.block_count"); });
    CHECK(c.code == errc::out_of_range);
    CHECK(amxmm_test::contains(c.what, "no metadata key 'llama.block_count'"));
    c = catch_error([&] { (void)m.at("a.nested").get<bool>(); });
    CHECK(amxmm_test::contains(c.what, "the value is array of array, not bool"));
    c = catch_error([&] { (void)m.at("a.string").array().values<std::int64_t>(); });
    CHECK(amxmm_test::contains(c.what, "the array holds string, not int64"));

    CHECK(m.find("llama.block_count") == nullptr);
    CHECK(m.get_or<std::uint32_t>("llama.block_count", 32) == 32);
    CHECK(m.get_or<std::uint32_t>("t.u32", 1) == 4000000000u);
    c = catch_error([&] { (void)m.get_or<std::int32_t>("t.u32", 1); });
    CHECK(c.code == errc::malformed_input);

    CHECK(m.get_integer("t.u8") == 255);
    CHECK(m.get_integer("t.i16") == -32768);
    CHECK(m.get_integer("t.u32") == 4000000000);
    CHECK(m.get_integer("t.i64") == std::numeric_limits<std::int64_t>::min());
    c = catch_error([&] { (void)m.get_integer("t.u64"); });
    CHECK(amxmm_test::contains(c.what, "does not fit in int64"));
    c = catch_error([&] { (void)m.get_integer("t.f64"); });
    CHECK(amxmm_test::contains(c.what, "metadata key 't.f64' is float64, not an integer"));
}

TEST_CASE("gguf: the writer refuses what it cannot write correctly", "[gguf]") {
    const auto refused = [](auto&& f, const std::string& part) {
        const caught c = catch_error(f);
        INFO(c.what);
        CHECK(c.code == errc::invalid_argument);
        CHECK(amxmm_test::contains(c.what, part));
    };
    refused([] { gguf_writer w(1); }, "version = 1 is not 2 or 3");
    refused([] { gguf_writer w(4); }, "version = 4 is not 2 or 3");
    gguf_writer w;
    w.add("k", std::int32_t{1});
    std::vector<std::uint8_t> data(18);
    w.add_tensor("t", ggml_type::q4_0, {32}, data.data(), data.size());
    refused([&] { w.add("k", 2.0); }, "duplicate metadata key 'k'");
    refused([&] { w.set_alignment(48); }, "alignment = 48 is not a power of two");
    refused([&] { w.set_alignment(0); }, "alignment = 0 is not a power of two");
    refused([&] { w.add("general.alignment", std::uint64_t{64}); }, "'general.alignment' must be uint32, not uint64");
    refused([&] { w.add("general.alignment", std::uint32_t{3}); }, "alignment = 3 is not a power of two");
    refused([&] { w.add_tensor("t", ggml_type::q4_0, {32}, data.data(), data.size()); }, "duplicate tensor name 't'");
    refused([&] { w.add_tensor("u", ggml_type::q4_0, {32}, data.data(), 17); }, "size_bytes = 17, but q4_0");
    refused([&] { w.add_tensor("u", ggml_type::q4_0, {48}, data.data(), 27); },
            "dims[0] = 48 is not a multiple of the block size 32");
    refused([&] { w.add_tensor("u", ggml_type::f32, {1, 1, 1, 1, 1}); }, "5 dims, at most 4");
    refused([&] { w.add_tensor("u", ggml_type::f32, {4, -1}); }, "dims[1] = -1 is negative");
    refused([&] { w.add_tensor("u", static_cast<ggml_type>(4), {4}); }, "unknown ggml type 4");
    refused([&] { w.add_tensor("u", ggml_type::f32, {std::int64_t(1) << 62, 4}); }, "size overflows int64");
    refused([&] { w.add_tensor("u", ggml_type::f32, {4}, nullptr, 16); }, "data is null");
    {
        // Each tensor fits in int64, but together they do not fit in a file (2^63 - 1 bytes at most): the
        // sum of their padded sizes is checked before it is formed, so it cannot wrap to a small file.
        gguf_writer big;
        const std::int64_t ne0 = (std::int64_t(1) << 61) - 8;  // f32: 2^63 - 32 bytes
        big.add_tensor("a", ggml_type::f32, {ne0});
        refused([&] { (void)big.file_size(); }, "tensor 'a' (9223372036854775776 bytes with padding) would end past");
        big.add_tensor("b", ggml_type::f32, {ne0});
        refused([&] { (void)big.file_size(); }, "the file is too large");
        refused([&] { (void)big.to_bytes(); }, "the file is too large");
        const std::string path = temp_path("too-large").string();
        refused([&] { big.write_file(path); }, "the file is too large");
        CHECK_FALSE(std::filesystem::exists(path));  // refused before the file was created
        std::filesystem::remove(path);

        gguf_writer two;  // two tensors of 2^62 bytes: the second ends past 2^63 - 1
        two.add_tensor("a", ggml_type::f32, {std::int64_t(1) << 60});
        CHECK(two.file_size() > (std::uint64_t(1) << 62));  // one is fine
        two.add_tensor("b", ggml_type::f32, {std::int64_t(1) << 60});
        refused([&] { (void)two.file_size(); }, "tensor 'b' (4611686018427387904 bytes with padding) would end past");
    }
    refused([] { (void)gguf_array::empty_of(static_cast<gguf_value_type>(13)); }, "13 is not a GGUF value type");
    CHECK(w.alignment() == 32);  // nothing changed by the refusals
    CHECK(w.metadata().size() == 1);
}

// ---- hostile input ------------------------------------------------------------------------------------

TEST_CASE("gguf: every truncation of a valid file is rejected", "[gguf]") {
    gguf_writer w(3);
    w.add("general.architecture", "llama");
    w.add("a.string", std::vector<std::string>{"ab", "c"});
    w.add("a.nested", std::vector<gguf_array>{gguf_array(std::vector<std::uint16_t>{1, 2})});
    w.add("t.f64", 1.5);
    w.add("t.bool", true);
    const std::vector<std::uint8_t> d1(36, 0x11), d2(40, 0x22);
    w.add_tensor("w1", ggml_type::q4_0, {32, 2}, d1.data(), d1.size());
    w.add_tensor("w2", ggml_type::f32, {10}, d2.data(), d2.size());
    const bytes file = w.to_bytes();
    const gguf_file whole = gguf_file::from_bytes(file);
    const std::size_t end_of_data =
        static_cast<std::size_t>(whole.data_offset() + whole.tensor("w2").offset + whole.tensor("w2").size_bytes);
    REQUIRE(end_of_data < file.size());  // the last tensor's padding follows

    std::size_t rejected = 0;
    for (std::size_t length = 0; length <= file.size(); ++length) {
        const bytes prefix(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(length));
        const caught c = catch_error([&] { (void)gguf_file::from_bytes(prefix); });
        INFO("prefix of " << length << " bytes: " << c.what);
        if (length < end_of_data) {
            REQUIRE(c.thrown);
            REQUIRE(c.code == errc::malformed_input);
            CHECK(amxmm_test::contains(c.what, "at byte "));
            ++rejected;
        } else {
            REQUIRE_FALSE(c.thrown);  // only the final padding is missing
        }
    }
    CHECK(rejected == end_of_data);
}

TEST_CASE("gguf: malformed headers are rejected with the byte offset", "[gguf]") {
    expect_malformed({}, {"at byte 0", "the file has 0 bytes, fewer than the 24 of a GGUF header"});
    CHECK_NOTHROW(gguf_file::from_bytes(raw_file().header(0, 0).b));

    bytes b = raw_file().header(0, 0).b;
    b[0] = 'g';
    expect_malformed(b, {"at byte 0", "bad magic", "67 47 55 46", "not a GGUF file"});
    expect_malformed({'P', 'K', 3, 4, 0}, {"at byte 0", "bad magic", "50 4b 03 04"});  // short, and no GGUF
    expect_malformed({'G', 'G', 'U', 'F', 3}, {"at byte 0", "the file has 5 bytes, fewer than the 24"});
    expect_malformed(raw_file().header(0, 0, 1).b, {"at byte 4", "GGUF version 1", "versions 2 and 3"});
    expect_malformed(raw_file().header(0, 0, 4).b, {"at byte 4", "unsupported GGUF version 4"});
    expect_malformed(raw_file().header(0, 0, 0x03000000).b, {"at byte 4", "big-endian"});
    expect_malformed(raw_file().header(std::uint64_t(1) << 62, 0).b,
                     {"at byte 8", "tensor_count = 4611686018427387904 cannot be right", "24 bytes"});
    expect_malformed(raw_file().header(0, std::uint64_t(1) << 62).b,
                     {"at byte 16", "metadata_kv_count = 4611686018427387904 cannot be right"});
    expect_malformed(raw_file().header(0, ~std::uint64_t(0)).b, {"at byte 16", "metadata_kv_count"});
    // Counts that fit the header checks but not the rest of the file.
    expect_malformed(raw_file().header(1, 0).zeros(24).u8(0).b, {"at byte 24", "tensor '': data [0, 0 + 4) lies outside"});
}

TEST_CASE("gguf: malformed metadata is rejected with the key and byte offset", "[gguf]") {
    // A string length of 2^63, as a key and as a value.
    expect_malformed(raw_file().header(0, 1).u64(std::uint64_t(1) << 63).zeros(8).b,
                     {"at byte 24", "metadata entry #0 key: string length 9223372036854775808 exceeds the 8 bytes"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(8).u64(std::uint64_t(1) << 63).zeros(4).b,
                     {"at byte 37", "metadata 'k': string length 9223372036854775808 exceeds the 4 bytes"});
    // Arrays whose length cannot fit in what is left, for fixed-size, string and array elements.
    expect_malformed(raw_file().header(0, 1).str("k").u32(9).u32(0).u64(~std::uint64_t(0)).zeros(100).b,
                     {"at byte 37", "metadata 'k': array of uint8 with 18446744073709551615 elements cannot fit",
                      "100 bytes are left"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(9).u32(8).u64(13).zeros(100).b,
                     {"array of string with 13 elements cannot fit: each takes at least 8 bytes"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(9).u32(9).u64(std::uint64_t(1) << 61).zeros(100).b,
                     {"array of array with 2305843009213693952 elements cannot fit: each takes at least 12 bytes"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(9).u32(12).u64(3).zeros(23).b,
                     {"array of float64 with 3 elements cannot fit"});
    // Unknown types, bad bools, deep nesting.
    expect_malformed(raw_file().header(0, 1).str("k").u32(13).u32(0).b, {"at byte 33", "metadata 'k': unknown value type 13"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(9).u32(99).u64(0).b,
                     {"at byte 37", "metadata 'k': unknown array element type 99"});
    expect_malformed(raw_file().header(0, 1).str("k").u32(7).u8(2).b, {"at byte 37", "bool value 2 is neither 0 nor 1"});
    {
        raw_file r;
        r.header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 40; ++i) r.u32(9).u64(1);
        r.u32(0).u64(0);
        expect_malformed(r.b, {"metadata 'deep': arrays nested more than 16 deep"});
    }
    // Duplicates and general.alignment.
    expect_malformed(raw_file().header(0, 2).kv_u32("a", 1).kv_u32("a", 2).b,
                     {"at byte 41", "duplicate metadata key 'a'"});
    expect_malformed(raw_file().header(0, 1).kv_u32("general.alignment", 48).b,
                     {"at byte 53", "'general.alignment' = 48 is not a power of two"});
    expect_malformed(raw_file().header(0, 1).kv_u32("general.alignment", 0).b, {"'general.alignment' = 0 is not"});
    expect_malformed(raw_file().header(0, 1).str("general.alignment").u32(10).u64(64).b,
                     {"'general.alignment' is uint64, but must be uint32"});
    // Truncated inside a value.
    expect_malformed(raw_file().header(0, 1).str("k").u32(10).u32(0).b, {"at byte 37", "a uint64 needs 8 bytes", "only 4 left"});
}

TEST_CASE("gguf: malformed tensor infos and data ranges are rejected", "[gguf]") {
    const std::uint64_t big = std::uint64_t(1) << 32;
    // Header (24) + tensor info; the info starts at byte 24.
    const auto one = [](const std::string& name, const std::vector<std::uint64_t>& dims, std::uint32_t type,
                        std::uint64_t offset, std::size_t data_bytes) {
        return raw_file().header(1, 0).tensor(name, dims, type, offset).pad_to(32).zeros(data_bytes).b;
    };
    CHECK_NOTHROW(gguf_file::from_bytes(one("w", {32, 2}, 2, 0, 36)));  // the valid baseline

    expect_malformed(one("w", {1, 1, 1, 1, 1}, 0, 0, 4), {"at byte 33", "tensor 'w': n_dims = 5, more than 4"});
    expect_malformed(one("w", {32}, 4, 0, 32), {"at byte 45", "tensor 'w': unknown ggml type 4"});
    expect_malformed(one("w", {32}, 1000, 0, 32), {"unknown ggml type 1000"});
    expect_malformed(one("w", {std::uint64_t(1) << 63}, 0, 0, 0), {"at byte 37", "dims[0] = 9223372036854775808 exceeds INT64_MAX"});
    expect_malformed(one("w", {33, 1}, 2, 0, 64), {"at byte 24", "tensor 'w' (q4_0): dims[0] = 33 is not a multiple of the block size 32"});
    expect_malformed(one("w", {big, big}, 0, 0, 0), {"at byte 24", "4294967296 x 4294967296 x 1 x 1 elements overflow int64"});
    expect_malformed(one("w", {0, big, big, 4}, 0, 0, 0), {"elements overflow"});  // zero dims do not hide overflow
    expect_malformed(one("w", {std::uint64_t(1) << 62}, 28, 0, 0), {"elements overflow int64 in count or bytes"});  // f64
    expect_malformed(one("w", {32, 2}, 2, 16, 64), {"at byte 24", "tensor 'w': offset 16 is not a multiple of the alignment 32"});
    expect_malformed(one("w", {32, 2}, 2, 0, 35),
                     {"at byte 24", "tensor 'w': data [0, 0 + 36) lies outside the data section, which has 35 bytes from byte 96"});
    expect_malformed(one("w", {32, 2}, 2, 64, 64), {"data [64, 64 + 36) lies outside"});
    expect_malformed(one("w", {32, 2}, 2, ~std::uint64_t(31), 64), {"lies outside the data section"});  // offset + size wraps
    expect_malformed(one("w", {32, 2}, 2, 0, 0), {"which has 0 bytes"});

    // Duplicate names; the error points at the second info.
    const bytes dup = raw_file().header(2, 0).tensor("w", {32}, 0, 0).tensor("w", {32}, 0, 128).pad_to(32).zeros(256).b;
    expect_malformed(dup, {"at byte 57", "duplicate tensor name 'w' (tensors #0 and #1)"});
    // Alignment from metadata applies to offsets and the data section.
    const bytes a64 = raw_file().header(1, 1).kv_u32("general.alignment", 64).tensor("w", {8}, 0, 32).pad_to(64).zeros(64).b;
    expect_malformed(a64, {"offset 32 is not a multiple of the alignment 64"});
    // A tensor count that the header could not refute but the bytes after the metadata can.
    expect_malformed(raw_file().header(2, 1).str(std::string(40, 'k')).u32(0).u8(0).zeros(9).b,
                     {"tensor_count = 2 cannot be right"});
}

TEST_CASE("gguf: tensors whose data overlap are rejected; gaps, any order and empty tensors are not", "[gguf]") {
    // Two tensor infos after the header: "a" at byte 24 (33 bytes with one dim), "b" at byte 57.
    const auto two = [](std::uint64_t a_elems, std::uint64_t a_offset, std::uint64_t b_elems, std::uint64_t b_offset,
                        std::size_t data_bytes) {
        return raw_file().header(2, 0).tensor("a", {a_elems}, 0, a_offset).tensor("b", {b_elems}, 0, b_offset)
            .pad_to(32).zeros(data_bytes).b;
    };
    // The same offset (f32: 4 bytes an element).
    expect_malformed(two(8, 0, 8, 0, 32),
                     {"at byte 57", "tensor 'b': data [0, 0 + 32) overlaps the data [0, 0 + 32) of tensor 'a'",
                      "(tensors #0 and #1)"});
    // Out of order and partly overlapping: b [0, 64) runs into a [32, 96).
    expect_malformed(two(16, 32, 16, 0, 96), {"at byte 57", "tensor 'b': data [0, 0 + 64) overlaps the data [32, 32 + 64)"});
    // In order, the first running into the second: a [0, 64) and b [32, 64).
    expect_malformed(two(16, 0, 8, 32, 64), {"tensor 'b': data [32, 32 + 32) overlaps the data [0, 0 + 64) of tensor 'a'"});
    // One inside another that is not its neighbour by offset: a [0, 128) holds c [64, 96), b [32, 64) between.
    expect_malformed(raw_file().header(3, 0).tensor("a", {32}, 0, 0).tensor("c", {8}, 0, 64).tensor("b", {8}, 0, 32)
                         .pad_to(32).zeros(128).b,
                     {"overlaps the data [0, 0 + 128) of tensor 'a'"});

    // Accepted: back to back in either order, with gaps, and empty tensors anywhere (they own no bytes).
    CHECK_NOTHROW(gguf_file::from_bytes(two(8, 0, 8, 32, 64)));
    const gguf_file reversed = gguf_file::from_bytes(two(8, 32, 8, 0, 64));
    CHECK(reversed.tensor("a").data == reversed.tensor("b").data + 32);
    CHECK_NOTHROW(gguf_file::from_bytes(two(8, 0, 8, 96, 128)));  // a gap of 64 bytes
    CHECK_NOTHROW(gguf_file::from_bytes(two(0, 0, 0, 0, 0)));     // two empty tensors at the same offset
    CHECK_NOTHROW(gguf_file::from_bytes(two(16, 0, 0, 32, 64)));  // an empty tensor inside another's range
    // What the writer produces is never refused.
    gguf_writer w;
    const std::vector<std::uint8_t> d(36, 0x5a);
    w.add_tensor("x", ggml_type::q4_0, {32, 2}, d.data(), d.size());
    w.add_tensor("empty", ggml_type::f32, {0});
    w.add_tensor("y", ggml_type::q4_0, {32, 2}, d.data(), d.size());
    CHECK_NOTHROW(gguf_file::from_bytes(w.to_bytes()));
}
