// GGUF reader: parses and validates a whole file, then hands out its metadata and tensors.
//
//   auto f = amxmm::gguf_file::open("model.gguf");             // mmap'd, read-only
//   auto arch = f.metadata().get<std::string>("general.architecture");
//   auto w = f.q4_0_matrix("blk.0.ffn_up.weight");              // N rows x K cols of Q4_0 blocks
//   auto packed = amxmm::pack_q4_0_vnni(w);
//
// Layout of a GGUF file (versions 2 and 3; all numbers little-endian):
//
//   header        "GGUF", version (uint32), tensor_count (uint64), metadata_kv_count (uint64)
//   metadata      metadata_kv_count entries: key (string), value type (uint32), value  -- see value.hpp
//   tensor infos  tensor_count entries: name (string), n_dims (uint32, <= 4), dims (n_dims x uint64,
//                 innermost first: dims[0] is the row length), ggml type (uint32), offset (uint64)
//   padding       zeros up to the next multiple of the alignment
//   data          tensor bytes; each tensor starts at data_offset + its offset (a multiple of the alignment)
//
// The alignment is the uint32 metadata value "general.alignment" (a power of two), 32 when absent.
// A tensor of type t with dims ne[0..3] takes (ne[0] / block_elements(t)) * block_bytes(t) * ne[1] *
// ne[2] * ne[3] bytes; ne[0] must be a multiple of the type's block size. Version 1 (32-bit counts) and
// big-endian files are refused.
//
// Everything is checked before it is used: each count, length and offset against the bytes that remain,
// each size computation against overflow; no two tensors' data may overlap (ggml writes them back to
// back; the reader does not insist on ggml's exact offsets, only that each tensor owns its bytes). A
// malformed file throws amxmm::error (errc::malformed_input) whose message says what is wrong and at
// which byte; nothing is read outside the file, and memory is only allocated for what the file's bytes
// actually hold (a count alone never sizes an allocation).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../format/blocks.hpp"
#include "../format/ggml_type.hpp"
#include "../format/reference_gemm.hpp"
#include "value.hpp"

AMXMM_NAMESPACE_BEGIN

/// "GGUF" as the first four bytes of a file.
inline constexpr char gguf_magic[4] = {'G', 'G', 'U', 'F'};
/// Alignment of tensor data when the file has no "general.alignment".
inline constexpr std::uint32_t gguf_default_alignment = 32;
/// ggml's limit on tensor dimensions.
inline constexpr std::uint32_t gguf_max_dims = 4;
/// How deep arrays of arrays may nest (real files never nest; this bounds the reader's recursion).
inline constexpr int gguf_max_array_depth = 16;

/// One tensor of a GGUF file.
struct gguf_tensor_info {
    std::string name;
    ggml_type type = ggml_type::f32;
    std::uint32_t n_dims = 0;                  // as stored (0..4)
    std::array<std::int64_t, 4> dims{1, 1, 1, 1};  // ggml's ne: dims[0] is the row length; unused dims are 1
    std::uint64_t offset = 0;                  // from the start of the data section
    std::uint64_t size_bytes = 0;
    const std::byte* data = nullptr;           // into the file's bytes; nullptr when size_bytes == 0

    std::int64_t element_count() const noexcept { return dims[0] * dims[1] * dims[2] * dims[3]; }
    /// Row length (ggml's ne[0]); K for a weight matrix.
    std::int64_t cols() const noexcept { return dims[0]; }
    /// Number of rows (dims[1] * dims[2] * dims[3]); N for a weight matrix, E * N for stacked experts.
    std::int64_t rows() const noexcept { return dims[1] * dims[2] * dims[3]; }
};

/// A Q4_0 tensor as the matrix view amxmm's packing and reference functions take: rows() rows of
/// cols() elements. Throws amxmm::error: invalid_argument if the tensor is not Q4_0, unsupported if its
/// data is not 2-byte aligned (a file with "general.alignment" = 1, or an odd in-memory buffer).
inline q4_0_matrix_view q4_0_matrix_of(const gguf_tensor_info& t) {
    detail::require(t.type == ggml_type::q4_0, errc::invalid_argument, "q4_0_matrix_of", "tensor '", t.name,
                    "' is ", traits_of(t.type).name, ", not q4_0");
    detail::require(reinterpret_cast<std::uintptr_t>(t.data) % alignof(block_q4_0) == 0, errc::unsupported,
                    "q4_0_matrix_of", "tensor '", t.name, "' data at address ", static_cast<const void*>(t.data),
                    " is not ", alignof(block_q4_0), "-byte aligned");
    return {reinterpret_cast<const block_q4_0*>(t.data), t.rows(), t.cols()};
}

namespace detail {

enum class tensor_size_status { ok, not_block_multiple, overflow };

/// Bytes of a tensor of `type` with ggml dims `ne` (unused dims 1, each in [0, INT64_MAX]). Fails when
/// ne[0] is not a multiple of the type's block size, or when the product of the nonzero dims or the byte
/// size exceeds INT64_MAX (bounding the product of the nonzero dims bounds every partial product, so
/// gguf_tensor_info's element_count() and rows() cannot overflow).
inline tensor_size_status ggml_tensor_bytes(ggml_type type, const std::array<std::int64_t, 4>& ne,
                                            std::uint64_t& bytes) noexcept {
    const ggml_type_traits tr = traits_of(type);
    const std::uint64_t limit = std::uint64_t(INT64_MAX);
    std::uint64_t product = 1;
    for (std::int64_t d : ne) {
        const auto u = static_cast<std::uint64_t>(d);
        if (u == 0) continue;
        if (product > limit / u) return tensor_size_status::overflow;
        product *= u;
    }
    if (tr.block_elements == 0 || ne[0] % tr.block_elements != 0) return tensor_size_status::not_block_multiple;
    const std::uint64_t blocks_per_row = static_cast<std::uint64_t>(ne[0]) / tr.block_elements;
    const auto rows = static_cast<std::uint64_t>(ne[1] * ne[2] * ne[3]);
    if (blocks_per_row > limit / tr.block_bytes) return tensor_size_status::overflow;
    const std::uint64_t row_bytes = blocks_per_row * tr.block_bytes;
    if (rows != 0 && row_bytes > limit / rows) return tensor_size_status::overflow;
    bytes = row_bytes * rows;
    return tensor_size_status::ok;
}

/// What a parse yields; the tensors point into the parsed bytes.
struct gguf_contents {
    std::uint32_t version = 0;
    std::uint32_t alignment = gguf_default_alignment;
    std::uint64_t data_offset = 0;  // absolute start of the data section (may equal the file size)
    gguf_metadata metadata;
    std::vector<gguf_tensor_info> tensors;
    std::map<std::string, std::size_t, std::less<>> tensor_index;
};

/// Reads a GGUF file held in memory, front to back, checking everything against the bytes left.
class gguf_parser {
public:
    /// `function` and `source` (a path, or empty) prefix every error message.
    gguf_parser(const std::uint8_t* bytes, std::size_t size, const char* function, std::string source)
        : bytes_(bytes), size_(size), function_(function), source_(std::move(source)) {}

    gguf_contents parse() {
        gguf_contents out;
        read_header(out);
        const std::uint64_t kv_count = u64();
        // The smallest entry: key length (8) + value type (4) + a 1-byte value.
        require_count(kv_count, 13, 8, "metadata_kv_count", "metadata entry");
        for (std::uint64_t i = 0; i < kv_count; ++i) read_kv(out, i);
        read_tensor_infos(out);
        place_tensors(out);
        return out;
    }

private:
    const std::uint8_t* bytes_;
    std::size_t size_;
    std::size_t pos_ = 0;
    const char* function_;
    std::string source_;
    std::uint64_t tensor_count_ = 0;

    template <class... Parts>
    [[noreturn]] void fail_at(std::size_t at, Parts&&... parts) const {
        if (source_.empty()) fail(errc::malformed_input, function_, "at byte ", at, ": ", std::forward<Parts>(parts)...);
        fail(errc::malformed_input, function_, source_, ": at byte ", at, ": ", std::forward<Parts>(parts)...);
    }

    std::size_t left() const noexcept { return size_ - pos_; }

    template <class... What> void need(std::uint64_t n, What&&... what) const {
        if (n > left())
            fail_at(pos_, std::forward<What>(what)..., " needs ", n, " bytes, but the file has only ", left(),
                    " left (truncated?)");
    }

    // Little-endian loads, byte by byte (no alignment or host byte order assumed).
    template <class U> U load(const char* what) {
        need(sizeof(U), what);
        U v = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) v = U(v | (U(bytes_[pos_ + i]) << (8 * i)));
        pos_ += sizeof(U);
        return v;
    }
    std::uint8_t u8(const char* what = "a uint8") { return load<std::uint8_t>(what); }
    std::uint16_t u16(const char* what = "a uint16") { return load<std::uint16_t>(what); }
    std::uint32_t u32(const char* what = "a uint32") { return load<std::uint32_t>(what); }
    std::uint64_t u64(const char* what = "a uint64") { return load<std::uint64_t>(what); }

    template <class... What> std::string read_string(What&&... what) {
        const std::size_t at = pos_;
        const std::uint64_t length = u64("a string length");
        if (length > left())
            fail_at(at, what..., ": string length ", length, " exceeds the ", left(), " bytes left in the file");
        std::string s(reinterpret_cast<const char*>(bytes_ + pos_), static_cast<std::size_t>(length));
        pos_ += static_cast<std::size_t>(length);
        return s;
    }

    /// Rejects a count whose items, each at least `min_item_bytes`, cannot fit in the bytes left.
    void require_count(std::uint64_t count, std::uint64_t min_item_bytes, std::size_t at_back, const char* field,
                       const char* item) const {
        if (count > left() / min_item_bytes)
            fail_at(pos_ - at_back, field, " = ", count, " cannot be right: each ", item, " takes at least ",
                    min_item_bytes, " bytes and only ", left(), " bytes follow");
    }

    void read_header(gguf_contents& out) {
        if (size_ >= 4 && std::memcmp(bytes_, gguf_magic, 4) != 0)
            fail_at(0, "bad magic: expected \"GGUF\" (47 47 55 46), found ", hex_bytes(bytes_, 4),
                    " -- not a GGUF file");
        if (size_ < 24)
            fail_at(0, "the file has ", size_, " bytes, fewer than the 24 of a GGUF header (truncated?)");
        pos_ = 4;
        out.version = u32();
        if (out.version == 1)
            fail_at(4, "GGUF version 1 (32-bit counts) is not supported; versions 2 and 3 are");
        if (out.version == 0x02000000u || out.version == 0x03000000u)
            fail_at(4, "version field reads ", out.version,
                    ": a big-endian GGUF file, which is not supported (little-endian versions 2 and 3 are)");
        if (out.version != 2 && out.version != 3)
            fail_at(4, "unsupported GGUF version ", out.version, "; versions 2 and 3 are supported");
        tensor_count_ = u64();
        // The smallest tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
        require_count(tensor_count_, 24, 8, "tensor_count", "tensor info");
    }

    void read_kv(gguf_contents& out, std::uint64_t index) {
        const std::size_t at = pos_;
        std::string key = read_string("metadata entry #", index, " key");
        if (out.metadata.contains(key)) fail_at(at, "duplicate metadata key '", key, "'");
        const std::size_t type_at = pos_;
        const std::uint32_t raw_type = u32("a value type");
        if (!is_known_gguf_value_type(raw_type))
            fail_at(type_at, "metadata '", key, "': unknown value type ", raw_type);
        const std::size_t value_at = pos_;
        gguf_value value = read_value(static_cast<gguf_value_type>(raw_type), 0, key);
        if (key == "general.alignment") {
            if (!value.holds<std::uint32_t>())
                fail_at(value_at, "metadata 'general.alignment' is ", value.type_description(),
                        ", but must be uint32");
            const std::uint32_t a = value.get<std::uint32_t>();
            if (a == 0 || (a & (a - 1)) != 0)
                fail_at(value_at, "metadata 'general.alignment' = ", a, " is not a power of two");
            out.alignment = a;
        }
        out.metadata.add(std::move(key), std::move(value));
    }

    gguf_value read_value(gguf_value_type type, int depth, const std::string& key) {
        switch (type) {
            case gguf_value_type::uint8: return u8();
            case gguf_value_type::int8: return static_cast<std::int8_t>(u8());
            case gguf_value_type::uint16: return u16();
            case gguf_value_type::int16: return static_cast<std::int16_t>(u16());
            case gguf_value_type::uint32: return u32();
            case gguf_value_type::int32: return static_cast<std::int32_t>(u32());
            case gguf_value_type::float32: return bit_cast_to<float>(u32("a float32"));
            case gguf_value_type::boolean: return read_bool(key);
            case gguf_value_type::string: return read_string("metadata '", key, "'");
            case gguf_value_type::array: return read_array(depth + 1, key);
            case gguf_value_type::uint64: return u64();
            case gguf_value_type::int64: return static_cast<std::int64_t>(u64());
            case gguf_value_type::float64: return bit_cast_to<double>(u64("a float64"));
        }
        fail_at(pos_, "metadata '", key, "': unknown value type ", static_cast<std::uint32_t>(type));
    }

    bool read_bool(const std::string& key) {
        const std::size_t at = pos_;
        const std::uint8_t b = u8("a bool");
        if (b > 1) fail_at(at, "metadata '", key, "': bool value ", unsigned(b), " is neither 0 nor 1");
        return b == 1;
    }

    gguf_array read_array(int depth, const std::string& key) {
        const std::size_t at = pos_;
        if (depth > gguf_max_array_depth)
            fail_at(at, "metadata '", key, "': arrays nested more than ", gguf_max_array_depth, " deep");
        const std::uint32_t raw_type = u32("an array element type");
        if (!is_known_gguf_value_type(raw_type))
            fail_at(at, "metadata '", key, "': unknown array element type ", raw_type);
        const auto element_type = static_cast<gguf_value_type>(raw_type);
        const std::uint64_t count = u64("an array length");
        const std::size_t fixed = gguf_fixed_size(element_type);
        // A string element takes at least its 8-byte length, an array its 4-byte type and 8-byte length.
        const std::uint64_t min_element_bytes =
            fixed ? fixed : element_type == gguf_value_type::string ? 8 : 12;
        if (count > left() / min_element_bytes)
            fail_at(at, "metadata '", key, "': array of ", gguf_type_name(element_type), " with ", count,
                    " elements cannot fit: each takes at least ", min_element_bytes, " bytes and only ", left(),
                    " bytes are left");
        gguf_array out = gguf_array::empty_of(element_type);
        // Only fixed-size elements are reserved up front: their bytes were just checked to be present.
        // Strings and nested arrays grow as they are read, so memory follows the bytes actually parsed.
        if (fixed) out.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) append_element(out, element_type, depth, key);
        return out;
    }

    void append_element(gguf_array& out, gguf_value_type type, int depth, const std::string& key) {
        switch (type) {
            case gguf_value_type::uint8: return out.push_back(u8());
            case gguf_value_type::int8: return out.push_back(static_cast<std::int8_t>(u8()));
            case gguf_value_type::uint16: return out.push_back(u16());
            case gguf_value_type::int16: return out.push_back(static_cast<std::int16_t>(u16()));
            case gguf_value_type::uint32: return out.push_back(u32());
            case gguf_value_type::int32: return out.push_back(static_cast<std::int32_t>(u32()));
            case gguf_value_type::float32: return out.push_back(bit_cast_to<float>(u32("a float32")));
            case gguf_value_type::boolean: return out.push_back(read_bool(key));
            case gguf_value_type::string: return out.push_back(read_string("metadata '", key, "' element"));
            case gguf_value_type::array: return out.push_back(read_array(depth + 1, key));
            case gguf_value_type::uint64: return out.push_back(u64());
            case gguf_value_type::int64: return out.push_back(static_cast<std::int64_t>(u64()));
            case gguf_value_type::float64: return out.push_back(bit_cast_to<double>(u64("a float64")));
        }
    }

    void read_tensor_infos(gguf_contents& out) {
        // tensor_count was checked against the bytes after the header; the metadata has consumed some.
        require_count(tensor_count_, 24, 0, "tensor_count", "tensor info");
        for (std::uint64_t i = 0; i < tensor_count_; ++i) {
            const std::size_t at = pos_;
            gguf_tensor_info t;
            t.name = read_string("tensor #", i, " name");
            const auto dup = out.tensor_index.find(t.name);
            if (dup != out.tensor_index.end())
                fail_at(at, "duplicate tensor name '", t.name, "' (tensors #", dup->second, " and #", i, ")");
            const std::size_t dims_at = pos_;
            t.n_dims = u32("n_dims");
            if (t.n_dims > gguf_max_dims)
                fail_at(dims_at, "tensor '", t.name, "': n_dims = ", t.n_dims, ", more than ", gguf_max_dims);
            for (std::uint32_t d = 0; d < t.n_dims; ++d) {
                const std::uint64_t ne = u64("a dimension");
                if (ne > std::uint64_t(INT64_MAX))
                    fail_at(pos_ - 8, "tensor '", t.name, "': dims[", d, "] = ", ne, " exceeds INT64_MAX");
                t.dims[d] = static_cast<std::int64_t>(ne);
            }
            const std::size_t type_at = pos_;
            const std::uint32_t raw_type = u32("a ggml type");
            if (!is_known_ggml_type(raw_type))
                fail_at(type_at, "tensor '", t.name, "': unknown ggml type ", raw_type);
            t.type = static_cast<ggml_type>(raw_type);
            t.offset = u64("a tensor offset");
            t.size_bytes = tensor_bytes(t, at);
            out.tensor_index.emplace(t.name, out.tensors.size());
            out.tensors.push_back(std::move(t));
            info_offsets_.push_back(at);
        }
    }

    /// The tensor's byte size from its dims and type, checked for divisibility and overflow.
    std::uint64_t tensor_bytes(const gguf_tensor_info& t, std::size_t at) const {
        std::uint64_t bytes = 0;
        switch (ggml_tensor_bytes(t.type, t.dims, bytes)) {
            case tensor_size_status::ok: return bytes;
            case tensor_size_status::not_block_multiple:
                fail_at(at, "tensor '", t.name, "' (", traits_of(t.type).name, "): dims[0] = ", t.dims[0],
                        " is not a multiple of the block size ", traits_of(t.type).block_elements);
            case tensor_size_status::overflow: break;
        }
        fail_at(at, "tensor '", t.name, "' (", traits_of(t.type).name, "): ", t.dims[0], " x ", t.dims[1], " x ",
                t.dims[2], " x ", t.dims[3], " elements overflow int64 in count or bytes");
    }

    /// Finds the data section and points each tensor into it.
    void place_tensors(gguf_contents& out) {
        const std::uint64_t a = out.alignment;
        out.data_offset = (static_cast<std::uint64_t>(pos_) + a - 1) / a * a;  // pos_ < 2^63, a <= 2^31
        const std::uint64_t data_size = out.data_offset <= size_ ? size_ - out.data_offset : 0;
        for (std::size_t i = 0; i < out.tensors.size(); ++i) {
            gguf_tensor_info& t = out.tensors[i];
            if (t.offset % a != 0)
                fail_at(info_offsets_[i], "tensor '", t.name, "': offset ", t.offset,
                        " is not a multiple of the alignment ", a);
            if (t.offset > data_size || t.size_bytes > data_size - t.offset)
                fail_at(info_offsets_[i], "tensor '", t.name, "': data [", t.offset, ", ", t.offset, " + ",
                        t.size_bytes, ") lies outside the data section, which has ", data_size,
                        " bytes from byte ", out.data_offset, " (truncated?)");
            if (t.size_bytes != 0)
                t.data = reinterpret_cast<const std::byte*>(bytes_ + out.data_offset + t.offset);
        }
        refuse_overlaps(out);
    }

    /// Each tensor owns its bytes: no two tensors' data ranges [offset, offset + size) may overlap
    /// (empty tensors have none). ggml lays tensors out back to back; a file whose tensors share bytes
    /// is malformed. Sorted by offset, a range overlaps some other one exactly when it overlaps its
    /// predecessor; the error points at the later of the two tensor infos.
    void refuse_overlaps(const gguf_contents& out) const {
        std::vector<std::size_t> order;
        for (std::size_t i = 0; i < out.tensors.size(); ++i)
            if (out.tensors[i].size_bytes != 0) order.push_back(i);
        std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
            const std::uint64_t ox = out.tensors[x].offset, oy = out.tensors[y].offset;
            return ox != oy ? ox < oy : x < y;
        });
        for (std::size_t j = 1; j < order.size(); ++j) {
            const gguf_tensor_info& prev = out.tensors[order[j - 1]];
            const gguf_tensor_info& t = out.tensors[order[j]];
            if (t.offset - prev.offset >= prev.size_bytes) continue;  // offsets sorted; both end in the data section
            const std::size_t first = std::min(order[j - 1], order[j]), second = std::max(order[j - 1], order[j]);
            const gguf_tensor_info& a = out.tensors[first];
            const gguf_tensor_info& b = out.tensors[second];
            fail_at(info_offsets_[second], "tensor '", b.name, "': data [", b.offset, ", ", b.offset, " + ",
                    b.size_bytes, ") overlaps the data [", a.offset, ", ", a.offset, " + ", a.size_bytes,
                    ") of tensor '", a.name, "' (tensors #", first, " and #", second, ")");
        }
    }

    std::vector<std::size_t> info_offsets_;  // where each tensor info starts, for messages

    template <class F, class U> static F bit_cast_to(U bits) noexcept {
        static_assert(sizeof(F) == sizeof(U), "size mismatch");
        F f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
    static std::string hex_bytes(const std::uint8_t* p, std::size_t n) {
        static const char digits[] = "0123456789abcdef";
        std::string s;
        for (std::size_t i = 0; i < n; ++i) {
            if (i) s += ' ';
            s += digits[p[i] >> 4];
            s += digits[p[i] & 15];
        }
        return s;
    }
};

/// A read-only, private memory mapping of a whole file (none for an empty file).
class file_mapping {
public:
    file_mapping() = default;
    file_mapping(const std::string& path, const char* function) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(errc::system, function, "cannot open '", path, "': ", std::generic_category().message(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int e = errno;
            ::close(fd);
            fail(errc::system, function, "cannot stat '", path, "': ", std::generic_category().message(e));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(errc::invalid_argument, function, "'", path, "' is not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ != 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int e = errno;
                ::close(fd);
                fail(errc::system, function, "cannot mmap '", path, "' (", size_,
                     " bytes): ", std::generic_category().message(e));
            }
            addr_ = p;
        }
        ::close(fd);  // the mapping keeps the file
    }
    file_mapping(file_mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    file_mapping& operator=(file_mapping&& o) noexcept {
        if (this != &o) {
            unmap();
            addr_ = std::exchange(o.addr_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    file_mapping(const file_mapping&) = delete;
    file_mapping& operator=(const file_mapping&) = delete;
    ~file_mapping() { unmap(); }

    const std::uint8_t* data() const noexcept { return static_cast<const std::uint8_t*>(addr_); }
    std::size_t size() const noexcept { return size_; }

private:
    void unmap() noexcept {
        if (addr_) ::munmap(addr_, size_);
        addr_ = nullptr;
    }
    void* addr_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace detail

/// A parsed and validated GGUF file. Tensor data stays where it is (in the mapping, the caller's
/// buffer, or the owned bytes): tensors()[i].data points into it for as long as the gguf_file lives.
/// Moving a gguf_file keeps those pointers valid. Not copyable.
class gguf_file {
public:
    /// Maps `path` read-only (mmap, MAP_PRIVATE) and parses it. Throws amxmm::error: system if the file
    /// cannot be opened or mapped, malformed_input if it is not a valid GGUF v2/v3 file. The file must not
    /// be truncated while mapped (reading a page past its new end raises SIGBUS).
    static gguf_file open(const std::string& path) {
        gguf_file f;
        f.mapping_ = detail::file_mapping(path, "gguf_file::open");
        f.parse(f.mapping_.data(), f.mapping_.size(), "gguf_file::open", path);
        return f;
    }
    /// Parses `size` bytes at `data` without copying them: they must outlive the gguf_file.
    static gguf_file from_memory(const void* data, std::size_t size) {
        detail::require(data != nullptr || size == 0, errc::invalid_argument, "gguf_file::from_memory",
                        "data is null but size = ", size);
        gguf_file f;
        f.parse(static_cast<const std::uint8_t*>(data), size, "gguf_file::from_memory", {});
        return f;
    }
    /// Takes the bytes and parses them.
    static gguf_file from_bytes(std::vector<std::uint8_t> bytes) {
        gguf_file f;
        f.owned_ = std::move(bytes);
        f.parse(f.owned_.data(), f.owned_.size(), "gguf_file::from_bytes", {});
        return f;
    }

    /// 2 or 3.
    std::uint32_t version() const noexcept { return contents_.version; }
    /// Alignment of tensor data ("general.alignment", else 32).
    std::uint32_t alignment() const noexcept { return contents_.alignment; }
    /// Byte position of the data section in the file; tensor offsets count from here.
    std::uint64_t data_offset() const noexcept { return contents_.data_offset; }
    /// The whole file.
    const std::byte* bytes() const noexcept { return reinterpret_cast<const std::byte*>(bytes_); }
    std::size_t size_bytes() const noexcept { return size_; }

    const gguf_metadata& metadata() const noexcept { return contents_.metadata; }

    /// Tensors in file order.
    const std::vector<gguf_tensor_info>& tensors() const noexcept { return contents_.tensors; }
    /// The tensor named `name`, or nullptr.
    const gguf_tensor_info* find_tensor(std::string_view name) const {
        const auto it = contents_.tensor_index.find(name);
        return it == contents_.tensor_index.end() ? nullptr : &contents_.tensors[it->second];
    }
    /// The tensor named `name`; throws amxmm::error (out_of_range) when there is none.
    const gguf_tensor_info& tensor(std::string_view name) const {
        const gguf_tensor_info* t = find_tensor(name);
        detail::require(t != nullptr, errc::out_of_range, "gguf_file::tensor", "no tensor named '", name, "'");
        return *t;
    }
    /// The Q4_0 tensor `name` as a matrix view (see q4_0_matrix_of).
    q4_0_matrix_view q4_0_matrix(std::string_view name) const { return q4_0_matrix_of(tensor(name)); }

private:
    gguf_file() = default;

    void parse(const std::uint8_t* data, std::size_t size, const char* function, std::string source) {
        bytes_ = data;
        size_ = size;
        contents_ = detail::gguf_parser(data, size, function, std::move(source)).parse();
    }

    detail::file_mapping mapping_;
    std::vector<std::uint8_t> owned_;
    const std::uint8_t* bytes_ = nullptr;
    std::size_t size_ = 0;
    detail::gguf_contents contents_;
};

AMXMM_NAMESPACE_END
