// libFuzzer target for the GGUF reader (include/amxmm/gguf/reader.hpp).
//
// Each input is parsed from memory. A rejection must be an amxmm::error with errc::malformed_input; an
// accepted file must hold its promises: every tensor's bytes lie inside the input (all are read, so
// ASan sees any that do not), offsets are aligned, lookups agree, Q4_0 views cover exactly the tensor,
// and writing the parsed contents back out and parsing again is a fixed point.
#include <amxmm/gguf/gguf.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

/// Reads every element of a value (strings byte by byte) so the sanitizers see all of it.
std::uint64_t touch(const amxmm::gguf_value& v);

std::uint64_t touch(const amxmm::gguf_array& a) {
    std::uint64_t sum = a.size();
    if (a.holds<std::string>()) {
        for (const std::string& s : a.values<std::string>())
            for (char c : s) sum += static_cast<unsigned char>(c);
    } else if (a.holds<amxmm::gguf_array>()) {
        for (const amxmm::gguf_array& inner : a.values<amxmm::gguf_array>()) sum += touch(inner);
    }
    return sum;
}

std::uint64_t touch(const amxmm::gguf_value& v) {
    if (v.holds<std::string>()) {
        std::uint64_t sum = 0;
        for (char c : v.get<std::string>()) sum += static_cast<unsigned char>(c);
        return sum;
    }
    if (v.holds<amxmm::gguf_array>()) return touch(v.array());
    return static_cast<std::uint64_t>(v.type());
}

/// A writer holding what `f` holds.
amxmm::gguf_writer copy_of(const amxmm::gguf_file& f) {
    amxmm::gguf_writer w(f.version());
    for (const amxmm::gguf_kv& kv : f.metadata()) w.add(kv.key, kv.value);
    for (const amxmm::gguf_tensor_info& t : f.tensors()) {
        const std::vector<std::int64_t> dims(t.dims.begin(), t.dims.begin() + t.n_dims);
        w.add_tensor(t.name, t.type, dims, t.data, t.size_bytes);
    }
    return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const amxmm::gguf_file f = amxmm::gguf_file::from_memory(data, size);
        check(f.version() == 2 || f.version() == 3);
        check(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
        check(f.data_offset() % f.alignment() == 0);

        std::uint64_t sum = 0;
        for (const amxmm::gguf_kv& kv : f.metadata()) {
            check(f.metadata().find(kv.key) == &kv.value);
            sum += touch(kv.value);
        }
        const auto* begin = reinterpret_cast<const std::byte*>(data);
        for (const amxmm::gguf_tensor_info& t : f.tensors()) {
            check(f.find_tensor(t.name) == &t);
            check(t.offset % f.alignment() == 0);
            check(t.n_dims <= 4);
            if (t.size_bytes == 0) {
                check(t.data == nullptr);
                continue;
            }
            check(t.data >= begin && t.size_bytes <= size && t.data - begin <= std::ptrdiff_t(size - t.size_bytes));
            for (std::uint64_t i = 0; i < t.size_bytes; ++i) sum += static_cast<std::uint8_t>(t.data[i]);
            if (t.type == amxmm::ggml_type::q4_0) {
                try {
                    const amxmm::q4_0_matrix_view v = f.q4_0_matrix(t.name);
                    check(std::uint64_t(v.rows) * std::uint64_t(v.blocks_per_row()) * sizeof(amxmm::block_q4_0) ==
                          t.size_bytes);
                    const amxmm::block_q4_0& last = v.row(v.rows - 1)[v.blocks_per_row() - 1];
                    sum += last.qs[15];
                } catch (const amxmm::error& e) {
                    check(e.code() == amxmm::errc::unsupported);  // data at an odd address
                }
            }
        }
        // Writing what was read, then reading and writing again, gives the same bytes. Not for alignments
        // past 1 MiB: a valid file may ask for up to 2^31, and its padding alone would pass the fuzzer's
        // memory limit (found in CI, 2026-11-28: general.alignment = 2^31).
        if (f.alignment() > (1u << 20)) return 0;
        const std::vector<std::uint8_t> once = copy_of(f).to_bytes();
        const std::vector<std::uint8_t> twice = copy_of(amxmm::gguf_file::from_bytes(once)).to_bytes();
        check(once == twice);
        volatile std::uint64_t sink = sum;
        (void)sink;
    } catch (const amxmm::error& e) {
        check(e.code() == amxmm::errc::malformed_input);
    }
    return 0;
}
