// GGUF writer: builds a GGUF v3 (or v2) file from metadata and tensors, for tests, demos and tools.
//
//   amxmm::gguf_writer w;                                          // version 3, alignment 32
//   w.add("general.architecture", "llama");
//   w.add("llama.block_count", std::uint32_t{32});
//   w.add("tokenizer.ggml.tokens", std::vector<std::string>{"<s>", "</s>"});
//   w.add_tensor("blk.0.ffn_up.weight", amxmm::ggml_type::q4_0, {K, N}, blocks.data(), bytes);
//   w.write_file("model.gguf");                                    // or: auto bytes = w.to_bytes();
//
// The layout is the one reader.hpp describes, laid out as ggml lays it out: tensors in the order they
// were added, each starting at a multiple of the alignment and padded with zeros to the next one.
// Tensors added without data are zeros; write_file leaves them as holes, so a file shaped like a large
// model (for planning tests) costs almost no disk.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../format/ggml_type.hpp"
#include "reader.hpp"
#include "value.hpp"

AMXMM_NAMESPACE_BEGIN

class gguf_writer {
public:
    /// A writer for GGUF `version` 2 or 3 (they differ only in what readers accept; the bytes written
    /// here are the same apart from the version field).
    explicit gguf_writer(std::uint32_t version = 3) : version_(version) {
        detail::require(version == 2 || version == 3, errc::invalid_argument, "gguf_writer", "version = ", version,
                        " is not 2 or 3");
    }

    std::uint32_t version() const noexcept { return version_; }
    std::uint32_t alignment() const noexcept { return alignment_; }

    /// Sets the tensor-data alignment (a power of two) and records it as "general.alignment" (uint32),
    /// replacing an earlier value.
    void set_alignment(std::uint32_t alignment) {
        require_alignment(alignment, "gguf_writer::set_alignment");
        metadata_.assign("general.alignment", alignment);
        alignment_ = alignment;
    }

    /// Adds a metadata entry (keys are unique). Values convert from the 13 C++ types of value.hpp, from
    /// string literals, and from std::vector of those types (arrays); arrays of arrays via gguf_array.
    /// "general.alignment" must be a uint32 power of two and sets the alignment.
    void add(std::string key, gguf_value value) {
        detail::require(!metadata_.contains(key), errc::invalid_argument, "gguf_writer::add",
                        "duplicate metadata key '", key, "'");
        if (key == "general.alignment") {
            if (!value.holds<std::uint32_t>())
                detail::fail(errc::invalid_argument, "gguf_writer::add", "'general.alignment' must be uint32, not ",
                             value.type_description());
            require_alignment(value.get<std::uint32_t>(), "gguf_writer::add");
            alignment_ = value.get<std::uint32_t>();
        }
        metadata_.add(std::move(key), std::move(value));
    }

    const gguf_metadata& metadata() const noexcept { return metadata_; }

    /// Adds a tensor: `dims` are ggml's ne (dims[0] is the row length, a multiple of the type's block
    /// size; at most 4 dims), and `data` holds exactly the tensor's size_bytes bytes, which are copied.
    void add_tensor(std::string name, ggml_type type, const std::vector<std::int64_t>& dims, const void* data,
                    std::size_t size_bytes) {
        const std::uint64_t need = check_tensor(name, type, dims);
        detail::require(size_bytes == need, errc::invalid_argument, "gguf_writer::add_tensor", "tensor '", name,
                        "': size_bytes = ", size_bytes, ", but ", traits_of(type).name, " with these dims takes ",
                        need, " bytes");
        detail::require(data != nullptr || size_bytes == 0, errc::invalid_argument, "gguf_writer::add_tensor",
                        "tensor '", name, "': data is null");
        pending_tensor t = make_tensor(std::move(name), type, dims, need);
        const auto* p = static_cast<const std::uint8_t*>(data);
        t.bytes.assign(p, p + size_bytes);
        tensor_names_.insert(t.name);
        tensors_.push_back(std::move(t));
    }
    /// Adds a tensor whose bytes are all zero (a hole in write_file's output).
    void add_tensor(std::string name, ggml_type type, const std::vector<std::int64_t>& dims) {
        const std::uint64_t need = check_tensor(name, type, dims);
        tensor_names_.insert(name);
        tensors_.push_back(make_tensor(std::move(name), type, dims, need));
    }

    /// Size of the file write_file / to_bytes produce.
    std::uint64_t file_size() const { return layout().total; }

    /// The whole file in memory.
    std::vector<std::uint8_t> to_bytes() const {
        const file_layout L = layout();
        detail::require(L.total <= std::uint64_t(PTRDIFF_MAX), errc::invalid_argument, "gguf_writer::to_bytes",
                        "the file would take ", L.total, " bytes");
        std::vector<std::uint8_t> out = serialize_head(L);
        out.resize(static_cast<std::size_t>(L.total), 0);
        for (std::size_t i = 0; i < tensors_.size(); ++i)
            if (!tensors_[i].bytes.empty())
                std::memcpy(out.data() + L.data_offset + L.offsets[i], tensors_[i].bytes.data(),
                            tensors_[i].bytes.size());
        return out;
    }

    /// Writes the file to `path` (created or truncated). Throws amxmm::error (system) on I/O failure.
    void write_file(const std::string& path) const {
        const file_layout L = layout();
        const std::vector<std::uint8_t> head = serialize_head(L);
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) io_failure("open", path, errno);
        try {
            write_all(fd, head.data(), head.size(), 0, path);
            for (std::size_t i = 0; i < tensors_.size(); ++i)
                if (!tensors_[i].bytes.empty())
                    write_all(fd, tensors_[i].bytes.data(), tensors_[i].bytes.size(), L.data_offset + L.offsets[i],
                              path);
            if (::ftruncate(fd, static_cast<off_t>(L.total)) != 0) io_failure("ftruncate", path, errno);
        } catch (...) {
            ::close(fd);
            throw;
        }
        if (::close(fd) != 0) io_failure("close", path, errno);
    }

private:
    struct pending_tensor {
        std::string name;
        ggml_type type;
        std::vector<std::int64_t> dims;
        std::uint64_t size_bytes;
        std::vector<std::uint8_t> bytes;  // empty: all zero
    };
    struct file_layout {
        std::uint64_t data_offset = 0;
        std::vector<std::uint64_t> offsets;  // per tensor, from data_offset
        std::uint64_t total = 0;
    };

    std::uint32_t version_;
    std::uint32_t alignment_ = gguf_default_alignment;
    gguf_metadata metadata_;
    std::vector<pending_tensor> tensors_;
    std::set<std::string, std::less<>> tensor_names_;

    static void require_alignment(std::uint32_t a, const char* fn) {
        detail::require(a != 0 && (a & (a - 1)) == 0, errc::invalid_argument, fn, "alignment = ", a,
                        " is not a power of two");
    }

    std::uint64_t check_tensor(const std::string& name, ggml_type type, const std::vector<std::int64_t>& dims) const {
        const char* fn = "gguf_writer::add_tensor";
        detail::require(tensor_names_.count(name) == 0, errc::invalid_argument, fn, "duplicate tensor name '", name,
                        "'");
        detail::require(is_known_ggml_type(static_cast<std::uint32_t>(type)), errc::invalid_argument, fn, "tensor '",
                        name, "': unknown ggml type ", static_cast<std::uint32_t>(type));
        detail::require(dims.size() <= gguf_max_dims, errc::invalid_argument, fn, "tensor '", name, "': ",
                        dims.size(), " dims, at most ", gguf_max_dims);
        std::array<std::int64_t, 4> ne{1, 1, 1, 1};
        for (std::size_t d = 0; d < dims.size(); ++d) {
            detail::require(dims[d] >= 0, errc::invalid_argument, fn, "tensor '", name, "': dims[", d, "] = ",
                            dims[d], " is negative");
            ne[d] = dims[d];
        }
        std::uint64_t bytes = 0;
        const auto status = detail::ggml_tensor_bytes(type, ne, bytes);
        detail::require(status != detail::tensor_size_status::not_block_multiple, errc::invalid_argument, fn,
                        "tensor '", name, "' (", traits_of(type).name, "): dims[0] = ", ne[0],
                        " is not a multiple of the block size ", traits_of(type).block_elements);
        detail::require(status == detail::tensor_size_status::ok, errc::invalid_argument, fn, "tensor '", name,
                        "': size overflows int64");
        return bytes;
    }

    static pending_tensor make_tensor(std::string name, ggml_type type, const std::vector<std::int64_t>& dims,
                                      std::uint64_t size_bytes) {
        pending_tensor t;
        t.name = std::move(name);
        t.type = type;
        t.dims = dims;
        t.size_bytes = size_bytes;
        return t;
    }

    static std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

    file_layout layout() const {
        file_layout L;
        std::uint64_t head = 4 + 4 + 8 + 8;
        for (const gguf_kv& kv : metadata_) head += 8 + kv.key.size() + 4 + value_bytes(kv.value);
        for (const pending_tensor& t : tensors_) head += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
        L.data_offset = align_up(head, alignment_);  // the head is in memory: far below 2^63
        // The file must stay below 2^63 bytes (write_file sizes it with an off_t). Each padded size is
        // < 2^63 + 2^31 (sizes < 2^63, alignment <= 2^31); each sum is checked before it is formed.
        constexpr std::uint64_t max_file = std::uint64_t(INT64_MAX);
        std::uint64_t at = 0;
        for (const pending_tensor& t : tensors_) {
            L.offsets.push_back(at);
            const std::uint64_t padded = align_up(t.size_bytes, alignment_);
            detail::require(L.data_offset <= max_file && padded <= max_file - L.data_offset - at,
                            errc::invalid_argument, "gguf_writer", "tensor '", t.name, "' (", padded,
                            " bytes with padding) would end past byte 2^63 - 1 of the file, which starts its data at ",
                            L.data_offset, " and has ", at, " bytes of tensors before it: the file is too large");
            at += padded;
        }
        L.total = L.data_offset + at;
        return L;
    }

    static std::uint64_t value_bytes(const gguf_value& v) {
        if (v.type() == gguf_value_type::string) return 8 + v.get<std::string>().size();
        if (v.type() == gguf_value_type::array) return array_bytes(v.array());
        return gguf_fixed_size(v.type());
    }
    static std::uint64_t array_bytes(const gguf_array& a) {
        std::uint64_t n = 4 + 8;
        if (a.holds<std::string>()) {
            for (const std::string& s : a.values<std::string>()) n += 8 + s.size();
        } else if (a.holds<gguf_array>()) {
            for (const gguf_array& inner : a.values<gguf_array>()) n += array_bytes(inner);
        } else {
            n += gguf_fixed_size(a.element_type()) * a.size();
        }
        return n;
    }

    // ---- serialization: header, metadata, tensor infos, padding -------------------------------------
    template <class U> static void put(std::vector<std::uint8_t>& out, U v) {
        for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    template <class U, class F> static U bits_of(F f) {
        static_assert(sizeof(U) == sizeof(F), "size mismatch");
        U u;
        std::memcpy(&u, &f, sizeof u);
        return u;
    }
    static void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
        put<std::uint64_t>(out, s.size());
        out.insert(out.end(), s.begin(), s.end());
    }

    /// One value without its type tag.
    static void put_value(std::vector<std::uint8_t>& out, const gguf_value& v) {
        switch (v.type()) {
            case gguf_value_type::uint8: return put(out, v.get<std::uint8_t>());
            case gguf_value_type::int8: return put(out, static_cast<std::uint8_t>(v.get<std::int8_t>()));
            case gguf_value_type::uint16: return put(out, v.get<std::uint16_t>());
            case gguf_value_type::int16: return put(out, static_cast<std::uint16_t>(v.get<std::int16_t>()));
            case gguf_value_type::uint32: return put(out, v.get<std::uint32_t>());
            case gguf_value_type::int32: return put(out, static_cast<std::uint32_t>(v.get<std::int32_t>()));
            case gguf_value_type::float32: return put(out, bits_of<std::uint32_t>(v.get<float>()));
            case gguf_value_type::boolean: return put(out, std::uint8_t(v.get<bool>() ? 1 : 0));
            case gguf_value_type::string: return put_string(out, v.get<std::string>());
            case gguf_value_type::array: return put_array(out, v.array());
            case gguf_value_type::uint64: return put(out, v.get<std::uint64_t>());
            case gguf_value_type::int64: return put(out, static_cast<std::uint64_t>(v.get<std::int64_t>()));
            case gguf_value_type::float64: return put(out, bits_of<std::uint64_t>(v.get<double>()));
        }
    }

    template <class T, class Store> static void put_elements(std::vector<std::uint8_t>& out, const gguf_array& a,
                                                             Store store) {
        for (const auto& e : a.values<T>()) store(out, e);
    }

    static void put_array(std::vector<std::uint8_t>& out, const gguf_array& a) {
        put(out, static_cast<std::uint32_t>(a.element_type()));
        put<std::uint64_t>(out, a.size());
        using bytes = std::vector<std::uint8_t>;
        switch (a.element_type()) {
            case gguf_value_type::uint8: return put_elements<std::uint8_t>(out, a, [](bytes& o, std::uint8_t e) { put(o, e); });
            case gguf_value_type::int8:
                return put_elements<std::int8_t>(out, a, [](bytes& o, std::int8_t e) { put(o, std::uint8_t(e)); });
            case gguf_value_type::uint16: return put_elements<std::uint16_t>(out, a, [](bytes& o, std::uint16_t e) { put(o, e); });
            case gguf_value_type::int16:
                return put_elements<std::int16_t>(out, a, [](bytes& o, std::int16_t e) { put(o, std::uint16_t(e)); });
            case gguf_value_type::uint32: return put_elements<std::uint32_t>(out, a, [](bytes& o, std::uint32_t e) { put(o, e); });
            case gguf_value_type::int32:
                return put_elements<std::int32_t>(out, a, [](bytes& o, std::int32_t e) { put(o, std::uint32_t(e)); });
            case gguf_value_type::float32:
                return put_elements<float>(out, a, [](bytes& o, float e) { put(o, bits_of<std::uint32_t>(e)); });
            case gguf_value_type::boolean:
                return put_elements<bool>(out, a, [](bytes& o, bool e) { put(o, std::uint8_t(e ? 1 : 0)); });
            case gguf_value_type::string:
                return put_elements<std::string>(out, a, [](bytes& o, const std::string& e) { put_string(o, e); });
            case gguf_value_type::array:
                return put_elements<gguf_array>(out, a, [](bytes& o, const gguf_array& e) { put_array(o, e); });
            case gguf_value_type::uint64: return put_elements<std::uint64_t>(out, a, [](bytes& o, std::uint64_t e) { put(o, e); });
            case gguf_value_type::int64:
                return put_elements<std::int64_t>(out, a, [](bytes& o, std::int64_t e) { put(o, std::uint64_t(e)); });
            case gguf_value_type::float64:
                return put_elements<double>(out, a, [](bytes& o, double e) { put(o, bits_of<std::uint64_t>(e)); });
        }
    }

    /// Everything before the data section, padding included.
    std::vector<std::uint8_t> serialize_head(const file_layout& L) const {
        std::vector<std::uint8_t> out;
        out.reserve(static_cast<std::size_t>(L.data_offset));
        for (char c : gguf_magic) out.push_back(static_cast<std::uint8_t>(c));
        put(out, version_);
        put<std::uint64_t>(out, tensors_.size());
        put<std::uint64_t>(out, metadata_.size());
        for (const gguf_kv& kv : metadata_) {
            put_string(out, kv.key);
            put(out, static_cast<std::uint32_t>(kv.value.type()));
            put_value(out, kv.value);
        }
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            const pending_tensor& t = tensors_[i];
            put_string(out, t.name);
            put(out, static_cast<std::uint32_t>(t.dims.size()));
            for (std::int64_t d : t.dims) put(out, static_cast<std::uint64_t>(d));
            put(out, static_cast<std::uint32_t>(t.type));
            put(out, L.offsets[i]);
        }
        out.resize(static_cast<std::size_t>(L.data_offset), 0);
        return out;
    }

    [[noreturn]] static void io_failure(const char* what, const std::string& path, int e) {
        detail::fail(errc::system, "gguf_writer::write_file", what, " '", path,
                     "': ", std::generic_category().message(e));
    }
    static void write_all(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t at, const std::string& path) {
        while (n > 0) {
            const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) io_failure("write", path, w < 0 ? errno : EIO);
            p += w;
            n -= static_cast<std::size_t>(w);
            at += static_cast<std::uint64_t>(w);
        }
    }
};

AMXMM_NAMESPACE_END
