// GGUF metadata: typed values, arrays, and the ordered key -> value table of a file.
//
// A GGUF file carries its hyperparameters ("llama.block_count", "general.architecture", the tokenizer's
// vocabulary, ...) as key/value pairs. Each value has one of 13 types, numbered in the file:
//
//   0 uint8   1 int8    2 uint16  3 int16   4 uint32  5 int32   6 float32
//   7 bool    8 string  9 array  10 uint64 11 int64  12 float64
//
// Numbers are little-endian; a bool is one byte (0 or 1); a string is a uint64 byte length followed by
// that many bytes (UTF-8 by the spec, kept here as read, not validated; no terminating NUL); an array is its element type (uint32), its element count
// (uint64), then the elements, which may be strings or arrays themselves.
//
// In C++ the types map to: std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t,
// std::int32_t, float, bool, std::string, gguf_array, std::uint64_t, std::int64_t, double.
// Spell values with these fixed-width types (`std::uint32_t{4}`, `std::int64_t{-1}`): an integer type
// outside the list (e.g. `unsigned long long`) does not compile, so a type is never guessed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../core/error.hpp"

AMXMM_NAMESPACE_BEGIN

/// The type of a GGUF metadata value, numbered as in the file.
enum class gguf_value_type : std::uint32_t {
    uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6,
    boolean = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12,
};

/// True when `raw` (as read from a file) names a value type.
constexpr bool is_known_gguf_value_type(std::uint32_t raw) noexcept { return raw <= 12; }

/// The type's name as the GGUF specification spells it ("uint32", "bool", "array", ...).
constexpr std::string_view gguf_type_name(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::uint8: return "uint8";
        case gguf_value_type::int8: return "int8";
        case gguf_value_type::uint16: return "uint16";
        case gguf_value_type::int16: return "int16";
        case gguf_value_type::uint32: return "uint32";
        case gguf_value_type::int32: return "int32";
        case gguf_value_type::float32: return "float32";
        case gguf_value_type::boolean: return "bool";
        case gguf_value_type::string: return "string";
        case gguf_value_type::array: return "array";
        case gguf_value_type::uint64: return "uint64";
        case gguf_value_type::int64: return "int64";
        case gguf_value_type::float64: return "float64";
    }
    return "unknown";
}

/// Bytes one value of a fixed-size type takes in the file; 0 for string and array.
constexpr std::size_t gguf_fixed_size(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::uint8: case gguf_value_type::int8: case gguf_value_type::boolean: return 1;
        case gguf_value_type::uint16: case gguf_value_type::int16: return 2;
        case gguf_value_type::uint32: case gguf_value_type::int32: case gguf_value_type::float32: return 4;
        case gguf_value_type::uint64: case gguf_value_type::int64: case gguf_value_type::float64: return 8;
        case gguf_value_type::string: case gguf_value_type::array: return 0;
    }
    return 0;
}

class gguf_array;

/// gguf_type_of<T>::value: the GGUF type a C++ type stands for (undefined for other types).
template <class T> struct gguf_type_of;
template <> struct gguf_type_of<std::uint8_t> { static constexpr gguf_value_type value = gguf_value_type::uint8; };
template <> struct gguf_type_of<std::int8_t> { static constexpr gguf_value_type value = gguf_value_type::int8; };
template <> struct gguf_type_of<std::uint16_t> { static constexpr gguf_value_type value = gguf_value_type::uint16; };
template <> struct gguf_type_of<std::int16_t> { static constexpr gguf_value_type value = gguf_value_type::int16; };
template <> struct gguf_type_of<std::uint32_t> { static constexpr gguf_value_type value = gguf_value_type::uint32; };
template <> struct gguf_type_of<std::int32_t> { static constexpr gguf_value_type value = gguf_value_type::int32; };
template <> struct gguf_type_of<float> { static constexpr gguf_value_type value = gguf_value_type::float32; };
template <> struct gguf_type_of<bool> { static constexpr gguf_value_type value = gguf_value_type::boolean; };
template <> struct gguf_type_of<std::string> { static constexpr gguf_value_type value = gguf_value_type::string; };
template <> struct gguf_type_of<gguf_array> { static constexpr gguf_value_type value = gguf_value_type::array; };
template <> struct gguf_type_of<std::uint64_t> { static constexpr gguf_value_type value = gguf_value_type::uint64; };
template <> struct gguf_type_of<std::int64_t> { static constexpr gguf_value_type value = gguf_value_type::int64; };
template <> struct gguf_type_of<double> { static constexpr gguf_value_type value = gguf_value_type::float64; };

namespace detail {
template <class T, class = void> struct is_gguf_type : std::false_type {};
template <class T> struct is_gguf_type<T, std::void_t<decltype(gguf_type_of<T>::value)>> : std::true_type {};
}  // namespace detail

/// True for the 13 C++ types listed at the top of this file.
template <class T> inline constexpr bool is_gguf_type_v = detail::is_gguf_type<T>::value;

/// A GGUF array: an element type and the elements, stored as a std::vector of the element's C++ type
/// (so an array of a million float32 costs 4 MB, not a million tagged values). An array of arrays
/// holds std::vector<gguf_array>; its inner arrays may each have their own element type.
class gguf_array {
public:
    /// An empty array of uint8.
    gguf_array() = default;

    template <class T, class = std::enable_if_t<is_gguf_type_v<T>>>
    explicit gguf_array(std::vector<T> values)
        : elements_(std::in_place_index<static_cast<std::size_t>(gguf_type_of<T>::value)>, std::move(values)) {}

    /// An empty array of the given element type.
    static gguf_array empty_of(gguf_value_type element_type);

    gguf_value_type element_type() const noexcept { return static_cast<gguf_value_type>(elements_.index()); }
    std::size_t size() const noexcept {
        return std::visit([](const auto& v) { return v.size(); }, elements_);
    }
    bool empty() const noexcept { return size() == 0; }

    template <class T> bool holds() const noexcept { return element_type() == gguf_type_of<T>::value; }

    /// The elements as std::vector<T>; throws amxmm::error (malformed_input) unless the elements are T.
    template <class T> const std::vector<T>& values() const {
        detail::require(holds<T>(), errc::malformed_input, "gguf_array::values", "the array holds ",
                        gguf_type_name(element_type()), ", not ", gguf_type_name(gguf_type_of<T>::value));
        return std::get<static_cast<std::size_t>(gguf_type_of<T>::value)>(elements_);
    }

    /// Appends one element of the array's own element type (used by the reader).
    template <class T> void push_back(T value) {
        std::get<static_cast<std::size_t>(gguf_type_of<T>::value)>(elements_).push_back(std::move(value));
    }
    /// Reserves room for n elements (used by the reader, only for counts the file's bytes can hold).
    void reserve(std::size_t n) {
        std::visit([n](auto& v) { v.reserve(n); }, elements_);
    }

    friend bool operator==(const gguf_array& a, const gguf_array& b) { return a.elements_ == b.elements_; }
    friend bool operator!=(const gguf_array& a, const gguf_array& b) { return !(a == b); }

private:
    // Alternative i holds elements of gguf_value_type i.
    std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                 std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                 std::vector<float>, std::vector<bool>, std::vector<std::string>, std::vector<gguf_array>,
                 std::vector<std::uint64_t>, std::vector<std::int64_t>, std::vector<double>>
        elements_;
};

inline gguf_array gguf_array::empty_of(gguf_value_type element_type) {
    switch (element_type) {
        case gguf_value_type::uint8: return gguf_array(std::vector<std::uint8_t>{});
        case gguf_value_type::int8: return gguf_array(std::vector<std::int8_t>{});
        case gguf_value_type::uint16: return gguf_array(std::vector<std::uint16_t>{});
        case gguf_value_type::int16: return gguf_array(std::vector<std::int16_t>{});
        case gguf_value_type::uint32: return gguf_array(std::vector<std::uint32_t>{});
        case gguf_value_type::int32: return gguf_array(std::vector<std::int32_t>{});
        case gguf_value_type::float32: return gguf_array(std::vector<float>{});
        case gguf_value_type::boolean: return gguf_array(std::vector<bool>{});
        case gguf_value_type::string: return gguf_array(std::vector<std::string>{});
        case gguf_value_type::array: return gguf_array(std::vector<gguf_array>{});
        case gguf_value_type::uint64: return gguf_array(std::vector<std::uint64_t>{});
        case gguf_value_type::int64: return gguf_array(std::vector<std::int64_t>{});
        case gguf_value_type::float64: return gguf_array(std::vector<double>{});
    }
    detail::fail(errc::invalid_argument, "gguf_array::empty_of", "element type ",
                 static_cast<std::uint32_t>(element_type), " is not a GGUF value type");
}

/// One GGUF metadata value of any of the 13 types.
class gguf_value {
public:
    /// From any of the 13 C++ types (e.g. `gguf_value(std::uint32_t{4})`, `gguf_value(1.5f)`).
    template <class T, class = std::enable_if_t<is_gguf_type_v<std::decay_t<T>>>>
    gguf_value(T&& v)  // NOLINT(google-explicit-constructor): values read naturally as `add(key, 4u)`
        : storage_(std::in_place_index<static_cast<std::size_t>(gguf_type_of<std::decay_t<T>>::value)>,
                   std::forward<T>(v)) {}
    /// A string.
    gguf_value(const char* s) : gguf_value(std::string(s)) {}  // NOLINT(google-explicit-constructor)
    gguf_value(std::string_view s) : gguf_value(std::string(s)) {}  // NOLINT(google-explicit-constructor)
    /// An array from a vector of any of the 13 types.
    template <class T, class = std::enable_if_t<is_gguf_type_v<T>>>
    gguf_value(std::vector<T> values) : gguf_value(gguf_array(std::move(values))) {}  // NOLINT

    gguf_value_type type() const noexcept { return static_cast<gguf_value_type>(storage_.index()); }
    template <class T> bool holds() const noexcept { return type() == gguf_type_of<T>::value; }

    /// "uint32", "string", or "array of float32" (arrays name their element type).
    std::string type_description() const {
        if (type() != gguf_value_type::array) return std::string(gguf_type_name(type()));
        const auto& a = std::get<static_cast<std::size_t>(gguf_value_type::array)>(storage_);
        return std::string("array of ") + std::string(gguf_type_name(a.element_type()));
    }

    /// The value as T; throws amxmm::error (malformed_input) naming both types unless it holds T.
    template <class T> const T& get() const {
        if (!holds<T>())  // (not require(): the message is built only on failure)
            detail::fail(errc::malformed_input, "gguf_value::get", "the value is ", type_description(), ", not ",
                         gguf_type_name(gguf_type_of<T>::value));
        return std::get<static_cast<std::size_t>(gguf_type_of<T>::value)>(storage_);
    }
    /// The value as an array; throws amxmm::error (malformed_input) unless it is one.
    const gguf_array& array() const { return get<gguf_array>(); }

    friend bool operator==(const gguf_value& a, const gguf_value& b) { return a.storage_ == b.storage_; }
    friend bool operator!=(const gguf_value& a, const gguf_value& b) { return !(a == b); }

private:
    // Alternative i holds a value of gguf_value_type i.
    std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t, float,
                 bool, std::string, gguf_array, std::uint64_t, std::int64_t, double>
        storage_;
};

/// One metadata entry.
struct gguf_kv {
    std::string key;
    gguf_value value;
};

/// A file's metadata: entries in file order, looked up by key. Keys are unique.
///
/// Typed getters throw amxmm::error naming the key: errc::out_of_range when the key is missing,
/// errc::malformed_input when the value has another type (use find() for optional keys).
class gguf_metadata {
public:
    const std::vector<gguf_kv>& entries() const noexcept { return entries_; }
    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    auto begin() const noexcept { return entries_.begin(); }
    auto end() const noexcept { return entries_.end(); }

    bool contains(std::string_view key) const { return index_.find(key) != index_.end(); }
    /// The value under `key`, or nullptr.
    const gguf_value* find(std::string_view key) const {
        const auto it = index_.find(key);
        return it == index_.end() ? nullptr : &entries_[it->second].value;
    }
    /// The value under `key`; throws errc::out_of_range when missing.
    const gguf_value& at(std::string_view key) const {
        const gguf_value* v = find(key);
        detail::require(v != nullptr, errc::out_of_range, "gguf_metadata", "no metadata key '", key, "'");
        return *v;
    }

    /// The value under `key` as T (one of the 13 C++ types, e.g. std::uint32_t or std::string).
    template <class T> const T& get(std::string_view key) const {
        const gguf_value& v = at(key);
        if (!v.holds<T>())
            detail::fail(errc::malformed_input, "gguf_metadata", "metadata key '", key, "' is ", v.type_description(),
                         ", not ", gguf_type_name(gguf_type_of<T>::value));
        return v.get<T>();
    }
    /// Like get<T>, but `fallback` when the key is missing (a value of another type still throws).
    template <class T> T get_or(std::string_view key, T fallback) const {
        return contains(key) ? get<T>(key) : fallback;
    }
    /// The elements of the array under `key`, which must be an array of T.
    template <class T> const std::vector<T>& get_array(std::string_view key) const {
        const gguf_value& v = at(key);
        if (!v.holds<gguf_array>() || !v.array().holds<T>())
            detail::fail(errc::malformed_input, "gguf_metadata", "metadata key '", key, "' is ", v.type_description(),
                         ", not array of ", gguf_type_name(gguf_type_of<T>::value));
        return v.array().values<T>();
    }
    /// Any integer value (uint8 .. int64) widened to int64; for keys that writers store with varying
    /// widths (e.g. "llama.context_length"). A uint64 above INT64_MAX throws.
    std::int64_t get_integer(std::string_view key) const {
        const gguf_value& v = at(key);
        switch (v.type()) {
            case gguf_value_type::uint8: return v.get<std::uint8_t>();
            case gguf_value_type::int8: return v.get<std::int8_t>();
            case gguf_value_type::uint16: return v.get<std::uint16_t>();
            case gguf_value_type::int16: return v.get<std::int16_t>();
            case gguf_value_type::uint32: return v.get<std::uint32_t>();
            case gguf_value_type::int32: return v.get<std::int32_t>();
            case gguf_value_type::int64: return v.get<std::int64_t>();
            case gguf_value_type::uint64: {
                const std::uint64_t u = v.get<std::uint64_t>();
                detail::require(u <= std::uint64_t(INT64_MAX), errc::malformed_input, "gguf_metadata",
                                "metadata key '", key, "' = ", u, " does not fit in int64");
                return static_cast<std::int64_t>(u);
            }
            default: break;
        }
        detail::fail(errc::malformed_input, "gguf_metadata", "metadata key '", key, "' is ", v.type_description(),
                     ", not an integer");
    }

    /// Appends an entry; throws errc::invalid_argument if the key is already present.
    void add(std::string key, gguf_value value) {
        detail::require(!contains(key), errc::invalid_argument, "gguf_metadata::add", "duplicate metadata key '",
                        key, "'");
        index_.emplace(key, entries_.size());
        entries_.push_back({std::move(key), std::move(value)});
    }
    /// Replaces the value under `key`, or appends the entry when the key is new.
    void assign(std::string key, gguf_value value) {
        const auto it = index_.find(key);
        if (it != index_.end()) {
            entries_[it->second].value = std::move(value);
            return;
        }
        add(std::move(key), std::move(value));
    }

private:
    std::vector<gguf_kv> entries_;
    std::map<std::string, std::size_t, std::less<>> index_;  // key -> position in entries_
};

AMXMM_NAMESPACE_END
