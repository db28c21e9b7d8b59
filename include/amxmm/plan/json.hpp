// A small JSON document type for the planner's inputs and outputs (model, hardware and workload
// descriptions, overrides, plans, reports). No external dependency.
//
//   namespace json = amxmm::plan::json;
//   json::value doc = json::parse(R"({"gpus": [{"memory_bytes": "32GiB"}], "decode_batch": 4})");
//   std::int64_t b = doc.at("decode_batch").as_int();          // 4
//   for (const json::value& g : doc.at("gpus").items()) ...
//   json::value out = json::value::object();
//   out.set("name", "seed").set("threads", 64);                 // set() returns the object
//   std::string text = json::dump(out);                          // 2-space indent; dump(out, -1): compact
//
// What it accepts and produces (RFC 8259, strictly):
//   * parse(): one value, surrounded by optional whitespace; anything after it is an error ("trailing
//     characters"). Nesting deeper than max_depth (256) arrays/objects is an error. Strings must be
//     valid UTF-8; escapes are \" \\ \/ \b \f \n \r \t and \uXXXX, where a UTF-16 surrogate pair is
//     joined into one code point and a lone surrogate is an error. Raw control characters (< 0x20) in
//     strings are errors. Numbers follow the JSON grammar (no leading '+', no leading zeros, no "1.",
//     ".5", NaN or Infinity). A key appearing twice in one object is an error. Every parse error is an
//     amxmm::error(errc::malformed_input) whose message reads "json: line L, column C: <what>"
//     (1-based; the column counts bytes).
//   * Numbers are doubles; a number written without fraction or exponent that fits std::int64_t or
//     std::uint64_t also keeps its exact integer value (so byte counts above 2^53 survive a round trip).
//     A number above the largest double in magnitude (1e309, a 400-digit integer) is a parse error
//     ("out of the range of a double"); one below the smallest reads as 0.
//   * dump(): objects keep insertion order; integers print without ".0"; other numbers print with the
//     shortest text that reads back to the same double (at most 17 significant digits); NaN and
//     infinities are errors (JSON cannot hold them). Non-ASCII UTF-8 is written as is; control
//     characters are escaped.
//   * Type errors (as_number() on a string, at() on an array, a missing key, ...) are
//     amxmm::error(errc::malformed_input) naming what was expected and what was found (and the key).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#if __has_include(<charconv>)
#include <charconv>
#endif

#include "../core/error.hpp"
#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {
namespace json {

enum class kind { null, boolean, number, string, array, object };

/// "null", "boolean", "number", "string", "array", "object".
inline const char* kind_name(kind k) noexcept {
    switch (k) {
        case kind::null: return "null";
        case kind::boolean: return "boolean";
        case kind::number: return "number";
        case kind::string: return "string";
        case kind::array: return "array";
        case kind::object: return "object";
    }
    return "?";
}

/// Deepest nesting of arrays/objects parse() accepts.
inline constexpr int max_depth = 256;

/// One JSON value: null, a boolean, a number, a string, an array of values, or an object (members in
/// insertion order, keys unique). A value owns its children; copies are deep.
class value {
public:
    value() noexcept = default;  ///< null
    value(std::nullptr_t) noexcept {}
    value(bool b) noexcept : kind_(kind::boolean), bool_(b) {}
    value(double d) noexcept : kind_(kind::number), num_(d) {}
    value(int i) noexcept : value(static_cast<std::int64_t>(i)) {}
    value(std::int64_t i) noexcept : kind_(kind::number), num_(static_cast<double>(i)), int_(i), exact_int_(true) {}
    value(std::uint64_t u) noexcept : kind_(kind::number), num_(static_cast<double>(u)), exact_int_(true) {
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            int_ = static_cast<std::int64_t>(u);
        else
            uint_ = u, above_int64_ = true;
    }
    /// Any other integer type (unsigned, long long, ...), so that no call is ambiguous.
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
    value(T i) noexcept
        : value(std::is_signed_v<T> ? value(static_cast<std::int64_t>(i)) : value(static_cast<std::uint64_t>(i))) {}
    value(float f) noexcept : value(static_cast<double>(f)) {}
    value(const char* s) : kind_(kind::string), str_(s ? s : "") {}
    value(std::string s) noexcept : kind_(kind::string), str_(std::move(s)) {}
    value(std::string_view s) : kind_(kind::string), str_(s) {}

    static value array() {
        value v;
        v.kind_ = kind::array;
        return v;
    }
    static value object() {
        value v;
        v.kind_ = kind::object;
        return v;
    }

    kind type() const noexcept { return kind_; }
    bool is_null() const noexcept { return kind_ == kind::null; }
    bool is_bool() const noexcept { return kind_ == kind::boolean; }
    bool is_number() const noexcept { return kind_ == kind::number; }
    bool is_string() const noexcept { return kind_ == kind::string; }
    bool is_array() const noexcept { return kind_ == kind::array; }
    bool is_object() const noexcept { return kind_ == kind::object; }
    /// A number with an integral value (1, -3, 2e3; not 1.5).
    bool is_integer() const noexcept {
        return kind_ == kind::number &&
               (exact_int_ || (std::isfinite(num_) && num_ == std::trunc(num_) && std::fabs(num_) < 9.2e18));
    }

    bool as_bool() const {
        expect(kind::boolean, "as_bool");
        return bool_;
    }
    double as_number() const {
        expect(kind::number, "as_number");
        return num_;
    }
    /// The number as an integer; throws when it has a fractional part or does not fit std::int64_t.
    std::int64_t as_int() const {
        expect(kind::number, "as_int");
        detail::require(!above_int64_, errc::malformed_input, "json::value::as_int", "expected an integer, found ",
                        uint_, " (above the largest int64)");
        if (exact_int_) return int_;
        detail::require(is_integer(), errc::malformed_input, "json::value::as_int", "expected an integer, found ",
                        number_text());
        return static_cast<std::int64_t>(num_);
    }
    /// The number as a non-negative integer (up to 2^64 - 1 for values that are exact as doubles).
    std::uint64_t as_uint() const {
        expect(kind::number, "as_uint");
        if (above_int64_) return uint_;
        if (exact_int_) {
            detail::require(int_ >= 0, errc::malformed_input, "json::value::as_uint",
                            "expected a non-negative integer, found ", int_);
            return static_cast<std::uint64_t>(int_);
        }
        detail::require(std::isfinite(num_) && num_ >= 0 && num_ == std::trunc(num_) && num_ < 18446744073709551616.0,
                        errc::malformed_input, "json::value::as_uint", "expected a non-negative integer, found ",
                        number_text());
        return static_cast<std::uint64_t>(num_);
    }
    const std::string& as_string() const {
        expect(kind::string, "as_string");
        return str_;
    }

    /// Array elements.
    const std::vector<value>& items() const {
        expect(kind::array, "items");
        return items_;
    }
    std::vector<value>& items() {
        expect(kind::array, "items");
        return items_;
    }
    /// Object members, in insertion order.
    const std::vector<std::pair<std::string, value>>& members() const {
        expect(kind::object, "members");
        return members_;
    }
    /// Number of array elements or object members (0 for scalars).
    std::size_t size() const noexcept {
        return kind_ == kind::array ? items_.size() : kind_ == kind::object ? members_.size() : 0;
    }
    /// Array element i (throws out_of_range past the end).
    const value& operator[](std::size_t i) const {
        expect(kind::array, "operator[]");
        detail::require(i < items_.size(), errc::out_of_range, "json::value::operator[]", "index ", i,
                        " is past the end of an array of ", items_.size());
        return items_[i];
    }

    /// The object member named `key`, or nullptr when there is none. Throws when this is not an object.
    const value* find(std::string_view key) const {
        expect(kind::object, "find");
        for (const auto& m : members_)
            if (m.first == key) return &m.second;
        return nullptr;
    }
    value* find(std::string_view key) {
        return const_cast<value*>(static_cast<const value&>(*this).find(key));
    }
    bool contains(std::string_view key) const { return find(key) != nullptr; }
    /// The object member named `key`; throws malformed_input naming the key when it is missing.
    const value& at(std::string_view key) const {
        const value* v = find(key);
        if (!v) detail::fail(errc::malformed_input, "json::value::at", "missing member \"", key, "\"");
        return *v;
    }

    /// Appends to an array; returns the new element.
    value& push_back(value v) {
        expect(kind::array, "push_back");
        items_.push_back(std::move(v));
        return items_.back();
    }
    /// Sets an object member (replacing one of the same key, else appending); returns *this so calls
    /// chain: obj.set("a", 1).set("b", 2).
    value& set(std::string key, value v) {
        expect(kind::object, "set");
        for (auto& m : members_)
            if (m.first == key) {
                m.second = std::move(v);
                return *this;
            }
        members_.emplace_back(std::move(key), std::move(v));
        return *this;
    }
    /// Removes an object member; returns whether there was one.
    bool erase(std::string_view key) {
        expect(kind::object, "erase");
        for (auto it = members_.begin(); it != members_.end(); ++it)
            if (it->first == key) {
                members_.erase(it);
                return true;
            }
        return false;
    }

    /// Structural equality (object members compared in order; numbers by value).
    friend bool operator==(const value& a, const value& b) {
        if (a.kind_ != b.kind_) return false;
        switch (a.kind_) {
            case kind::null: return true;
            case kind::boolean: return a.bool_ == b.bool_;
            case kind::number:
                if (a.exact_int_ && b.exact_int_)
                    return a.above_int64_ == b.above_int64_ && a.int_ == b.int_ && a.uint_ == b.uint_;
                return a.num_ == b.num_;
            case kind::string: return a.str_ == b.str_;
            case kind::array: return a.items_ == b.items_;
            case kind::object: return a.members_ == b.members_;
        }
        return false;
    }
    friend bool operator!=(const value& a, const value& b) { return !(a == b); }

    /// True when the number holds an exact integer (an integer literal, or built from an integer) that
    /// dump() writes digit for digit.
    bool holds_exact_int() const noexcept { return kind_ == kind::number && exact_int_; }

private:
    void expect(kind k, const char* what) const {
        if (kind_ != k)
            detail::fail(errc::malformed_input, "json::value", what, "() expected ", article(k), kind_name(k),
                         ", found ", article(kind_), kind_name(kind_));
    }
    static const char* article(kind k) noexcept {
        return (k == kind::array || k == kind::object) ? "an " : "a ";
    }
    std::string number_text() const {
        std::ostringstream os;
        os.imbue(std::locale::classic());
        os.precision(17);
        os << num_;
        return os.str();
    }

    kind kind_ = kind::null;
    bool bool_ = false;
    double num_ = 0;
    std::int64_t int_ = 0;          // the exact value when exact_int_ && !above_int64_
    std::uint64_t uint_ = 0;        // the exact value when above_int64_
    bool exact_int_ = false;
    bool above_int64_ = false;
    std::string str_;
    std::vector<value> items_;
    std::vector<std::pair<std::string, value>> members_;
};

}  // namespace json
}  // namespace plan

// Internals: the parser and the writer.
namespace detail {

class json_parser {
    using value = plan::json::value;
    static constexpr int max_depth = plan::json::max_depth;

public:
    explicit json_parser(std::string_view text) : s_(text) {}

    value parse_document() {
        skip_ws();
        value v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size()) error_here("trailing characters after the JSON value");
        return v;
    }

private:
    [[noreturn]] void error_at(std::size_t at, const std::string& what) const {
        std::size_t line = 1, col = 1;
        for (std::size_t i = 0; i < at && i < s_.size(); ++i) {
            if (s_[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        fail(errc::malformed_input, "json", "line ", line, ", column ", col, ": ", what);
    }
    [[noreturn]] void error_here(const std::string& what) const { error_at(pos_, what); }

    static std::string describe(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
        return buf;
    }

    void skip_ws() {
        while (pos_ < s_.size()) {
            const char c = s_[pos_];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
                ++pos_;
            else
                break;
        }
    }

    value parse_value(int depth) {
        if (pos_ >= s_.size()) error_here("unexpected end of input, expected a value");
        const char c = s_[pos_];
        switch (c) {
            case '{': return parse_object(depth + 1);
            case '[': return parse_array(depth + 1);
            case '"': return value(parse_string());
            case 't': return parse_literal("true", value(true));
            case 'f': return parse_literal("false", value(false));
            case 'n': return parse_literal("null", value());
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
                error_here("unexpected " + describe(c) + ", expected a value");
        }
    }

    value parse_literal(std::string_view word, value v) {
        if (s_.substr(pos_, word.size()) != word) error_here("invalid literal, expected '" + std::string(word) + "'");
        pos_ += word.size();
        return v;
    }

    void check_depth(int depth) const {
        if (depth > max_depth)
            error_here("nesting deeper than " + std::to_string(max_depth) + " arrays/objects");
    }

    value parse_array(int depth) {
        check_depth(depth);
        ++pos_;  // '['
        value arr = value::array();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return arr;
        }
        for (;;) {
            skip_ws();
            arr.push_back(parse_value(depth));
            skip_ws();
            if (pos_ >= s_.size()) error_here("unexpected end of input in an array, expected ',' or ']'");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == ']') {
                ++pos_;
                return arr;
            }
            error_here("unexpected " + describe(s_[pos_]) + " in an array, expected ',' or ']'");
        }
    }

    value parse_object(int depth) {
        check_depth(depth);
        ++pos_;  // '{'
        value obj = value::object();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return obj;
        }
        std::unordered_set<std::string> keys;
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size()) error_here("unexpected end of input in an object, expected a key");
            if (s_[pos_] != '"') error_here("unexpected " + describe(s_[pos_]) + " in an object, expected a key string");
            const std::size_t key_pos = pos_;
            std::string key = parse_string();
            if (!keys.insert(key).second) error_at(key_pos, "duplicate key \"" + key + "\"");
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':')
                error_here(pos_ >= s_.size() ? std::string("unexpected end of input, expected ':'")
                                             : "unexpected " + describe(s_[pos_]) + ", expected ':' after a key");
            ++pos_;
            skip_ws();
            value v = parse_value(depth);
            obj.set(std::move(key), std::move(v));  // keys are unique, so set appends
            skip_ws();
            if (pos_ >= s_.size()) error_here("unexpected end of input in an object, expected ',' or '}'");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == '}') {
                ++pos_;
                return obj;
            }
            error_here("unexpected " + describe(s_[pos_]) + " in an object, expected ',' or '}'");
        }
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::uint32_t parse_hex4() {
        if (pos_ + 4 > s_.size()) error_here("unexpected end of input in a \\u escape");
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= std::uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= std::uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= std::uint32_t(c - 'A' + 10);
            else
                error_here("invalid hex digit " + describe(c) + " in a \\u escape");
            ++pos_;
        }
        return v;
    }

    // One UTF-8 sequence starting at pos_ (first byte >= 0x80), validated (no overlongs, no
    // surrogates, at most U+10FFFF) and copied.
    void copy_utf8(std::string& out) {
        const std::size_t start = pos_;
        const auto b0 = static_cast<unsigned char>(s_[pos_]);
        int n = 0;
        std::uint32_t cp = 0;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            n = 1;
            cp = b0 & 0x1F;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            n = 2;
            cp = b0 & 0x0F;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            n = 3;
            cp = b0 & 0x07;
        } else {
            error_here("invalid UTF-8 lead " + describe(s_[pos_]) + " in a string");
        }
        if (pos_ + 1 + std::size_t(n) > s_.size()) error_here("truncated UTF-8 sequence in a string");
        for (int i = 1; i <= n; ++i) {
            const auto b = static_cast<unsigned char>(s_[pos_ + std::size_t(i)]);
            if ((b & 0xC0) != 0x80) error_at(pos_ + std::size_t(i), "invalid UTF-8 continuation " + describe(char(b)));
            cp = (cp << 6) | (b & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) error_here("overlong UTF-8 sequence in a string");
        if (cp >= 0xD800 && cp <= 0xDFFF) error_here("UTF-8 encoded surrogate in a string");
        if (cp > 0x10FFFF) error_here("UTF-8 code point above U+10FFFF in a string");
        pos_ += 1 + std::size_t(n);
        out.append(s_.data() + start, pos_ - start);
    }

    std::string parse_string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) error_here("unexpected end of input in a string (missing '\"')");
            const char c = s_[pos_];
            const auto u = static_cast<unsigned char>(c);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (u < 0x20) error_here("raw control character " + describe(c) + " in a string (escape it)");
            if (u >= 0x80) {
                copy_utf8(out);
                continue;
            }
            if (c != '\\') {
                out += c;
                ++pos_;
                continue;
            }
            const std::size_t esc = pos_;
            ++pos_;
            if (pos_ >= s_.size()) error_here("unexpected end of input in an escape");
            const char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::uint32_t cp = parse_hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) error_at(esc, "lone low surrogate in a \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                            error_at(esc, "high surrogate not followed by a \\u low surrogate");
                        pos_ += 2;
                        const std::uint32_t lo = parse_hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) error_at(esc, "high surrogate not followed by a low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: error_at(esc, "invalid escape '\\" + std::string(1, e) + "'");
            }
        }
    }

    value parse_number() {
        const std::size_t start = pos_;
        auto digit = [&](std::size_t i) { return i < s_.size() && s_[i] >= '0' && s_[i] <= '9'; };
        if (s_[pos_] == '-') ++pos_;
        if (!digit(pos_)) error_here("expected a digit in a number");
        if (s_[pos_] == '0') {
            ++pos_;
            if (digit(pos_)) error_here("leading zero in a number");
        } else {
            while (digit(pos_)) ++pos_;
        }
        bool integral = true;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            ++pos_;
            if (!digit(pos_)) error_here("expected a digit after '.' in a number");
            while (digit(pos_)) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digit(pos_)) error_here("expected a digit in a number's exponent");
            while (digit(pos_)) ++pos_;
        }
        const std::string_view text = s_.substr(start, pos_ - start);
        if (integral) {
            std::int64_t i = 0;
            if (to_int(text, i)) return value(i);
            std::uint64_t u = 0;
            if (text[0] != '-' && to_uint(text, u)) return value(u);
        }
        const double d = to_double(text);
        if (!std::isfinite(d)) {
            const std::string shown = text.size() > 40 ? std::string(text.substr(0, 32)) + "... (" +
                                                             std::to_string(text.size()) + " characters)"
                                                       : std::string(text);
            error_at(start, "number " + shown + " is out of the range of a double");
        }
        return value(d);
    }

    // True when a number that is not zero has a magnitude of at least 1: the decimal exponent of its first
    // non-zero digit is >= 0. A number out of a double's range is then an overflow, else an underflow.
    static bool magnitude_at_least_one(std::string_view t) {
        std::size_t i = t[0] == '-' ? 1 : 0;
        const std::size_t int_begin = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
        const std::size_t int_digits = i - int_begin;
        std::int64_t lead = 0;  // decimal exponent of the first non-zero digit, before the 'e' part
        bool nonzero = false;
        if (!(int_digits == 1 && t[int_begin] == '0')) {
            lead = std::int64_t(int_digits) - 1;  // no leading zeros in JSON
            nonzero = true;
        }
        if (i < t.size() && t[i] == '.') {
            ++i;
            for (std::int64_t j = 1; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i, ++j)
                if (!nonzero && t[i] != '0') lead = -j, nonzero = true;
        }
        if (!nonzero) return false;
        std::int64_t e = 0;
        if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
            ++i;
            const bool neg = i < t.size() && t[i] == '-';
            if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
            for (; i < t.size(); ++i) e = std::min<std::int64_t>(e * 10 + (t[i] - '0'), std::int64_t(1) << 40);  // saturates
            if (neg) e = -e;
        }
        return lead + e >= 0;
    }

    static bool to_int(std::string_view t, std::int64_t& out) {
        const bool neg = t[0] == '-';
        std::uint64_t mag = 0;
        for (std::size_t i = neg ? 1 : 0; i < t.size(); ++i) {
            const std::uint64_t d = std::uint64_t(t[i] - '0');
            if (mag > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
            mag = mag * 10 + d;
        }
        const std::uint64_t lim = neg ? std::uint64_t(std::numeric_limits<std::int64_t>::max()) + 1
                                      : std::uint64_t(std::numeric_limits<std::int64_t>::max());
        if (mag > lim) return false;
        out = neg ? (mag == lim ? std::numeric_limits<std::int64_t>::min() : -std::int64_t(mag)) : std::int64_t(mag);
        return true;
    }
    static bool to_uint(std::string_view t, std::uint64_t& out) {
        std::uint64_t mag = 0;
        for (char c : t) {
            const std::uint64_t d = std::uint64_t(c - '0');
            if (mag > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
            mag = mag * 10 + d;
        }
        out = mag;
        return true;
    }

    // Locale-independent text → double (the grammar was checked above).
    static double to_double(std::string_view t) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
        double d = 0;
        const auto r = std::from_chars(t.data(), t.data() + t.size(), d);
        if (r.ec == std::errc::result_out_of_range) return out_of_range(t);
        return d;
#else
        std::istringstream is{std::string(t)};
        is.imbue(std::locale::classic());
        double d = 0;
        is >> d;
        return is.fail() ? out_of_range(t) : d;  // out of range: failbit (and DBL_MAX or 0 stored)
#endif
    }
    // Underflow gives zero; overflow must be reported as infinite. Which one it is follows from the
    // number's magnitude (digits and exponent), not from the sign of its exponent: "1<400 zeros>e-10"
    // overflows too.
    static double out_of_range(std::string_view t) {
        const bool neg = t[0] == '-';
        return magnitude_at_least_one(t) ? (neg ? -HUGE_VAL : HUGE_VAL) : (neg ? -0.0 : 0.0);
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

using json_kind = plan::json::kind;

inline void json_dump_string(std::string& out, const std::string& s) {
    out += '"';
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (u < 0x20 || u == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", u);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

inline void json_dump_number(std::string& out, const plan::json::value& v) {
    if (v.holds_exact_int()) {
        const std::uint64_t u = v.as_number() >= 0 ? v.as_uint() : 0;
        out += v.as_number() >= 0 ? std::to_string(u) : std::to_string(v.as_int());
        return;
    }
    const double d = v.as_number();
    amxmm::detail::require(std::isfinite(d), errc::malformed_input, "json::dump", "cannot write ",
                           std::isnan(d) ? "NaN" : "an infinity", " (JSON has no such number)");
    if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {  // integral and exact: no ".0"
        if (d == 0 && std::signbit(d)) {
            out += "-0";
            return;
        }
        out += std::to_string(static_cast<std::int64_t>(d));
        return;
    }
    char buf[40];
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    const auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest text that reads back exactly
    out.append(buf, r.ptr);
#else
    std::snprintf(buf, sizeof buf, "%.17g", d);
    for (char* p = buf; *p; ++p)
        if (*p == ',') *p = '.';  // a locale's decimal comma
    out += buf;
#endif
}

inline void json_dump_value(std::string& out, const plan::json::value& v, int indent, int level) {
    using kind = plan::json::kind;
    auto newline = [&](int lvl) {
        if (indent < 0) return;
        out += '\n';
        out.append(std::size_t(indent) * std::size_t(lvl), ' ');
    };
    switch (v.type()) {
        case kind::null: out += "null"; return;
        case kind::boolean: out += v.as_bool() ? "true" : "false"; return;
        case kind::number: json_dump_number(out, v); return;
        case kind::string: json_dump_string(out, v.as_string()); return;
        case kind::array: {
            const auto& items = v.items();
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) out += ',';
                newline(level + 1);
                json_dump_value(out, items[i], indent, level + 1);
            }
            newline(level);
            out += ']';
            return;
        }
        case kind::object: {
            const auto& members = v.members();
            if (members.empty()) {
                out += "{}";
                return;
            }
            out += '{';
            for (std::size_t i = 0; i < members.size(); ++i) {
                if (i) out += ',';
                newline(level + 1);
                json_dump_string(out, members[i].first);
                out += indent < 0 ? ":" : ": ";
                json_dump_value(out, members[i].second, indent, level + 1);
            }
            newline(level);
            out += '}';
            return;
        }
    }
}

}  // namespace detail

namespace plan {
namespace json {

/// Parses one JSON document; see the top of this file for what is accepted.
inline value parse(std::string_view text) { return amxmm::detail::json_parser(text).parse_document(); }

/// Reads and parses a file. errc::system when it cannot be read; parse errors carry the path.
inline value parse_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        amxmm::detail::fail(errc::system, "json::parse_file", "cannot open '", path, "': ", std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) amxmm::detail::fail(errc::system, "json::parse_file", "cannot read '", path, "'");
    try {
        return parse(ss.str());
    } catch (const error& e) {
        throw error(e.code(), path + ": " + e.what());
    }
}

/// Writes `v` as JSON text: `indent` spaces per level with one member/element per line, or compact
/// (no whitespace at all) when indent < 0. Throws malformed_input for NaN or infinite numbers.
inline std::string dump(const value& v, int indent = 2) {
    std::string out;
    amxmm::detail::json_dump_value(out, v, indent, 0);
    return out;
}

}  // namespace json
}  // namespace plan
AMXMM_NAMESPACE_END

// ---- helpers for reading descriptions from JSON (used by plan/model.hpp, hardware.hpp, workload.hpp) ---
AMXMM_NAMESPACE_BEGIN
namespace detail {

/// Throws malformed_input "function: where: message" (where is a JSON path such as "gpus[0].name").
template <class... Parts>
[[noreturn]] void json_fail(const char* function, std::string_view where, Parts&&... parts) {
    fail(errc::malformed_input, function, where, ": ", std::forward<Parts>(parts)...);
}

/// Requires `v` to be an object whose member names are all in `allowed` (typos are errors, not ignored).
inline void json_require_object(const plan::json::value& v, std::initializer_list<std::string_view> allowed,
                                const char* function, std::string_view where) {
    if (!v.is_object()) json_fail(function, where, "expected an object, found ", plan::json::kind_name(v.type()));
    for (const auto& m : v.members()) {
        bool ok = false;
        for (std::string_view a : allowed) ok = ok || a == m.first;
        if (!ok) {
            std::string list;
            for (std::string_view a : allowed) (list += list.empty() ? "" : ", ") += a;
            json_fail(function, where, "unknown member \"", m.first, "\" (expected one of: ", list, ")");
        }
    }
}

/// Runs `get` on member `key` of `obj` when present (returning true), rethrowing a type error with the
/// member's path.
template <class Get>
bool json_member(const plan::json::value& obj, std::string_view key, const char* function, std::string_view where,
                 Get&& get) {
    const plan::json::value* v = obj.find(key);
    if (!v) return false;
    try {
        get(*v);
    } catch (const error& e) {
        std::string path(where);
        if (!path.empty()) path += '.';
        path += key;
        throw error(e.code(), concat(function, ": ", path, ": ", e.what()));
    }
    return true;
}

}  // namespace detail
AMXMM_NAMESPACE_END
