// plan/json.hpp: parse/dump round trips, numbers, escapes and UTF-8, malformed input with line and
// column, the depth limit, duplicate keys, type errors, NaN/Inf refused on dump.

#include <amxmm/plan/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "catch_compat.hpp"
#include "error_capture.hpp"

namespace {

namespace json = amxmm::plan::json;
using amxmm::errc;
using amxmm_test::catch_error;
using amxmm_test::contains;

std::string parse_error(const std::string& text) {
    const auto c = catch_error([&] { json::parse(text); });
    INFO(text);
    REQUIRE(c.thrown);
    CHECK(c.code == errc::malformed_input);
    return c.what;
}

}  // namespace

TEST_CASE("json: scalars, arrays and objects parse and dump", "[plan][json]") {
    const json::value v = json::parse(R"( {"a": [1, -2, 2.5, true, false, null, "x"], "b": {}, "c": []} )");
    REQUIRE(v.is_object());
    REQUIRE(v.members().size() == 3);
    CHECK(v.members()[0].first == "a");
    const auto& a = v.at("a").items();
    REQUIRE(a.size() == 7);
    CHECK(a[0].as_int() == 1);
    CHECK(a[1].as_int() == -2);
    CHECK(a[2].as_number() == 2.5);
    CHECK(a[3].as_bool());
    CHECK_FALSE(a[4].as_bool());
    CHECK(a[5].is_null());
    CHECK(a[6].as_string() == "x");
    CHECK(v.at("b").is_object());
    CHECK(v.at("c").is_array());
    CHECK(v.find("zz") == nullptr);
    CHECK(json::dump(v, -1) == R"({"a":[1,-2,2.5,true,false,null,"x"],"b":{},"c":[]})");
    CHECK(json::dump(v) == "{\n  \"a\": [\n    1,\n    -2,\n    2.5,\n    true,\n    false,\n    null,\n    \"x\"\n  ],\n"
                           "  \"b\": {},\n  \"c\": []\n}");
    CHECK(json::parse(json::dump(v)) == v);
    CHECK(json::parse(json::dump(v, 0)) == v);
}

TEST_CASE("json: building values; set replaces, members keep insertion order", "[plan][json]") {
    json::value o = json::value::object();
    o.set("z", 1).set("a", std::string("s")).set("m", json::value::array());
    o.set("z", 2);
    REQUIRE(o.members().size() == 3);
    CHECK(o.members()[0].first == "z");
    CHECK(o.at("z").as_int() == 2);
    json::value& arr = *o.find("m");
    arr.push_back(std::uint64_t{7});
    arr.push_back(3.25f);
    arr.push_back(nullptr);
    arr.push_back(std::size_t{9});
    arr.push_back(static_cast<long long>(-4));
    CHECK(json::dump(o, -1) == R"({"z":2,"a":"s","m":[7,3.25,null,9,-4]})");
    CHECK(o.erase("a"));
    CHECK_FALSE(o.contains("a"));
}

TEST_CASE("json: numbers round-trip", "[plan][json]") {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> mant(-1, 1);
    std::uniform_int_distribution<int> exp(-300, 300);
    for (int i = 0; i < 2000; ++i) {
        const double d = std::ldexp(mant(rng), exp(rng) / 1);
        const json::value back = json::parse(json::dump(json::value(d)));
        INFO(json::dump(json::value(d)));
        CHECK(back.as_number() == d);
    }
    CHECK(json::dump(json::value(3.0)) == "3");          // integral doubles print without ".0"
    CHECK(json::dump(json::value(-0.5)) == "-0.5");
    CHECK(json::dump(json::value(0.1)) == "0.1");
    CHECK(json::dump(json::value(1e300)) == "1e+300");
    // Exact 64-bit integers survive (beyond 2^53).
    for (const char* t : {"9007199254740993", "-9223372036854775808", "9223372036854775807", "18446744073709551615"})
        CHECK(json::dump(json::parse(t)) == t);
    CHECK(json::parse("18446744073709551615").as_uint() == std::numeric_limits<std::uint64_t>::max());
    CHECK(json::parse("1e3").as_int() == 1000);
    CHECK(json::parse("2.5e-1").as_number() == 0.25);
    CHECK(json::parse("-0").as_number() == 0);
    CHECK(json::parse("1e-400").as_number() == 0);  // underflow reads as 0
    CHECK(json::parse("123456789012345678901234567890").as_number() == Approx(1.2345678901234568e29));
}

TEST_CASE("json: type errors name what was expected", "[plan][json]") {
    const json::value v = json::parse(R"({"s": "x", "n": 1.5, "neg": -1, "a": []})");
    auto c = catch_error([&] { v.at("s").as_number(); });
    CHECK(c.code == errc::malformed_input);
    CHECK(contains(c.what, "expected a number, found a string"));
    c = catch_error([&] { v.at("n").as_int(); });
    CHECK(contains(c.what, "expected an integer"));
    c = catch_error([&] { v.at("neg").as_uint(); });
    CHECK(contains(c.what, "non-negative"));
    c = catch_error([&] { v.at("missing"); });
    CHECK(c.code == errc::malformed_input);
    CHECK(contains(c.what, "\"missing\""));
    c = catch_error([&] { v.at("a").at("k"); });
    CHECK(contains(c.what, "expected an object, found an array"));
    c = catch_error([&] { v.at("a")[0]; });
    CHECK(c.code == errc::out_of_range);
    c = catch_error([&] { json::value(1).push_back(2); });
    CHECK(contains(c.what, "expected an array, found a number"));
}

TEST_CASE("json: strings, escapes and UTF-8", "[plan][json]") {
    CHECK(json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
    CHECK(json::parse(R"("\u00e9\u4e2d")").as_string() == "\xC3\xA9\xE4\xB8\xAD");
    CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // surrogate pair joined
    CHECK(json::parse("\"\xF0\x9F\x98\x80 raw\"").as_string() == "\xF0\x9F\x98\x80 raw");
    const std::string ctl("a\x01z\x7f", 4);
    CHECK(json::dump(json::value(ctl)) == "\"a\\u0001z\\u007f\"");
    CHECK(json::parse(json::dump(json::value(ctl))).as_string() == ctl);
    const std::string all = "q\"uote\\ \n\t\xC3\xA9";
    CHECK(json::parse(json::dump(json::value(all))).as_string() == all);

    CHECK(contains(parse_error(R"("\q")"), "invalid escape"));
    CHECK(contains(parse_error(R"("\ud800")"), "surrogate"));
    CHECK(contains(parse_error(R"("\ud800\u0041")"), "surrogate"));
    CHECK(contains(parse_error(R"("\udc00")"), "lone low surrogate"));
    CHECK(contains(parse_error(R"("\u12g4")"), "hex digit"));
    CHECK(contains(parse_error("\"a\nb\""), "control character"));
    CHECK(contains(parse_error("\"\xC3\""), "UTF-8"));           // truncated sequence
    CHECK(contains(parse_error("\"\xC0\xAF\""), "UTF-8"));       // overlong
    CHECK(contains(parse_error("\"\xED\xA0\x80\""), "surrogate")); // UTF-8 encoded surrogate
    CHECK(contains(parse_error("\"\xFF\""), "UTF-8"));
    CHECK(contains(parse_error("\"abc"), "end of input"));
}

TEST_CASE("json: malformed input gives line and column", "[plan][json]") {
    CHECK(contains(parse_error("{\n  \"a\": tru\n}"), "json: line 2, column 8:"));
    CHECK(contains(parse_error("[1, 2"), "line 1, column 6"));
    CHECK(contains(parse_error("[1] x"), "trailing characters"));
    CHECK(contains(parse_error("{\"a\": 1, \"a\": 2}"), "duplicate key \"a\""));
    CHECK(contains(parse_error("{\"a\" 1}"), "expected ':'"));
    CHECK(contains(parse_error("{\"a\": 1,}"), "expected a key"));
    CHECK(contains(parse_error("[1,]"), "expected a value"));
    CHECK(contains(parse_error("01"), "leading zero"));
    CHECK(contains(parse_error("1."), "after '.'"));
    CHECK(contains(parse_error(".5"), "expected a value"));
    CHECK(contains(parse_error("+1"), "expected a value"));
    CHECK(contains(parse_error("1e"), "exponent"));
    CHECK(contains(parse_error("NaN"), "expected a value"));
    CHECK(contains(parse_error("1e999"), "out of the range"));
    CHECK(contains(parse_error(""), "end of input"));
    CHECK(contains(parse_error("   "), "end of input"));
    CHECK(contains(parse_error("{\"a\":1}\n\n  }"), "line 3, column 3"));
    CHECK(contains(parse_error("[1 2]"), "expected ',' or ']'"));
}

TEST_CASE("json: nesting deeper than 256 is refused", "[plan][json]") {
    const std::string ok = std::string(256, '[') + std::string(256, ']');
    CHECK_NOTHROW(json::parse(ok));
    const std::string deep = std::string(257, '[') + std::string(257, ']');
    CHECK(contains(parse_error(deep), "nesting deeper than 256"));
    std::string objs;
    for (int i = 0; i < 300; ++i) objs += "{\"a\":";
    CHECK(contains(parse_error(objs), "nesting deeper"));
    CHECK(contains(parse_error(std::string(100000, '[')), "nesting deeper"));  // no stack overflow
}

TEST_CASE("json: NaN and infinities cannot be dumped", "[plan][json]") {
    for (double d : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
        json::value a = json::value::array();
        a.push_back(d);
        const auto c = catch_error([&] { json::dump(a); });
        CHECK(c.thrown);
        CHECK(c.code == errc::malformed_input);
    }
}

TEST_CASE("json: parse_file", "[plan][json]") {
    const auto c = catch_error([] { json::parse_file("/nonexistent/amxmm/x.json"); });
    CHECK(c.code == errc::system);
    CHECK(contains(c.what, "/nonexistent/amxmm/x.json"));
}

TEST_CASE("json: numbers above a double's range are errors whatever their exponent", "[plan][json]") {
    const std::string big = "1" + std::string(400, '0');  // 1e400 written out: parsed as 0 before
    CHECK(contains(parse_error(big), "out of the range of a double"));
    CHECK(contains(parse_error("-" + big), "out of the range of a double"));
    CHECK(contains(parse_error(big + "e-10"), "out of the range of a double"));   // 1e390
    CHECK(contains(parse_error(big + ".5e-50"), "out of the range of a double"));  // 1e350
    CHECK(contains(parse_error("0.0001e400"), "out of the range of a double"));    // 1e396
    CHECK(contains(parse_error(R"({"gpus": [{"memory_bytes": )" + big + "}]}"), "line 1, column 28"));
    CHECK(parse_error(big).size() < 200);  // the text is abridged in the message
    // Underflow still reads as 0, also when written with many digits.
    CHECK(json::parse("0." + std::string(400, '0') + "1").as_number() == 0);
    CHECK(json::parse(big + "e-800").as_number() == 0);  // 1e-400
    CHECK(json::parse("1" + std::string(300, '0')).as_number() == Approx(1e300));
    CHECK(json::parse(big + "e-100").as_number() == Approx(1e300));
    CHECK(json::parse("0." + std::string(400, '0') + "e5").as_number() == 0);  // zero, not out of range
}
