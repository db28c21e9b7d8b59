// cpu layer: feature detection, AMX permission, ISA choice (incl. the AMXMM_ISA cap) and the tile
// configuration guard (on AMX hardware; reported as skipped elsewhere).
#include <amxmm/cpu/cpu.hpp>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "catch_compat.hpp"

using amxmm::isa;

namespace {

constexpr isa all_isas[] = {isa::scalar, isa::avx2, isa::avx512_vnni, isa::amx, isa::amx_emulated};
constexpr isa hardware_isas_best_first[] = {isa::amx, isa::avx512_vnni, isa::avx2, isa::scalar};

int rank_of(isa i) { return amxmm::detail::isa_rank(i); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Sets (or with nullptr unsets) AMXMM_ISA for one scope and puts the previous value back afterwards.
class scoped_amxmm_isa_env {
public:
    explicit scoped_amxmm_isa_env(const char* value) {
        if (const char* old = std::getenv("AMXMM_ISA")) old_ = std::string(old);
        set(value);
    }
    ~scoped_amxmm_isa_env() { set(old_ ? old_->c_str() : nullptr); }
    scoped_amxmm_isa_env(const scoped_amxmm_isa_env&) = delete;
    scoped_amxmm_isa_env& operator=(const scoped_amxmm_isa_env&) = delete;

private:
    static void set(const char* value) {
        if (value)
            ::setenv("AMXMM_ISA", value, 1);
        else
            ::unsetenv("AMXMM_ISA");
    }
    std::optional<std::string> old_;
};

/// The best supported hardware ISA ranked at or below `cap` (what a cap must choose).
isa expected_capped(isa cap) {
    for (isa i : hardware_isas_best_first)
        if (rank_of(i) <= rank_of(cap) && amxmm::isa_supported(i)) return i;
    return isa::scalar;
}

}  // namespace

TEST_CASE("cpu: detected features and default ISA (report)", "[cpu]") {
    const amxmm::cpu_features& f = amxmm::detected_cpu_features();
    WARN("cpu features: " << amxmm::to_string(f));
    WARN("AMX permission: " << (amxmm::request_amx_permission().granted ? "granted" : "not granted") << " - "
                            << amxmm::request_amx_permission().reason);
    const amxmm::isa_choice& d = amxmm::default_isa();
    WARN("default_isa(): " << amxmm::to_string(d.chosen) << " - " << d.reason);
    CHECK(amxmm::isa_supported(d.chosen));
    CHECK(starts_with(d.reason, std::string(amxmm::to_string(d.chosen)) + ": "));
    // Same object every time: computed once.
    CHECK(&amxmm::default_isa() == &d);
    CHECK(&amxmm::detected_cpu_features() == &f);
}

TEST_CASE("cpu: parse_isa round trips every name and rejects anything else", "[cpu]") {
    for (isa i : all_isas) {
        INFO(amxmm::to_string(i));
        const std::optional<isa> parsed = amxmm::parse_isa(amxmm::to_string(i));
        REQUIRE(parsed.has_value());
        CHECK(*parsed == i);
    }
    CHECK(std::string(amxmm::to_string(isa::amx)) == "amx");
    CHECK(std::string(amxmm::to_string(isa::amx_emulated)) == "amx_emulated");
    CHECK(std::string(amxmm::to_string(isa::avx512_vnni)) == "avx512_vnni");
    CHECK(std::string(amxmm::to_string(isa::avx2)) == "avx2");
    CHECK(std::string(amxmm::to_string(isa::scalar)) == "scalar");

    for (const char* junk : {"", "AMX", "Amx", " amx", "amx ", "amx_emu", "avx512", "avx512vnni", "avx-512",
                             "avx", "sse", "native", "auto", "best", "scalar\n", "0", "3"}) {
        INFO("'" << junk << "'");
        CHECK_FALSE(amxmm::parse_isa(junk).has_value());
    }
    static_assert(amxmm::parse_isa("avx2") == isa::avx2, "parse_isa is usable in constant expressions");
}

TEST_CASE("cpu: isa_supported and isa_unsupported_reason agree and are consistent", "[cpu]") {
    for (isa i : all_isas) {
        INFO(amxmm::to_string(i) << ": " << amxmm::isa_unsupported_reason(i));
        CHECK(amxmm::isa_supported(i) == amxmm::isa_unsupported_reason(i).empty());
    }
    CHECK(amxmm::isa_supported(isa::scalar));
    CHECK(amxmm::isa_supported(isa::amx_emulated));
    // Each hardware tier requires the one below it.
    if (amxmm::isa_supported(isa::amx)) CHECK(amxmm::isa_supported(isa::avx512_vnni));
    if (amxmm::isa_supported(isa::avx512_vnni)) CHECK(amxmm::isa_supported(isa::avx2));

    const amxmm::cpu_features& f = amxmm::detected_cpu_features();
    CHECK_FALSE((f.os_avx512 && !f.os_avx));
    if (amxmm::isa_supported(isa::amx)) {
        CHECK(f.amx_tile);
        CHECK(f.amx_int8);
        CHECK(f.amx_bf16);
        CHECK(f.os_amx);
        CHECK(amxmm::request_amx_permission().granted);
    } else {
        const std::string why = amxmm::isa_unsupported_reason(isa::amx);
        INFO(why);
        CHECK((contains(why, "AMX") || contains(why, "AVX") || contains(why, "arch_prctl")));
    }
    if (!f.amx_tile && !f.amx_int8 && !f.amx_bf16) {
        CHECK_FALSE(amxmm::request_amx_permission().granted);
        CHECK(amxmm::request_amx_permission().reason == "CPU has no AMX-TILE/INT8/BF16");
    }
    if (amxmm::request_amx_permission().granted) {
        CHECK(f.amx_tile);
        CHECK(f.os_amx);
    }
    CHECK(&amxmm::request_amx_permission() == &amxmm::request_amx_permission());

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // Cross-check with the compiler runtime's own detection, which also folds in the XCR0 state.
    CHECK_FALSE(f.vendor.empty());
    CHECK(static_cast<bool>(__builtin_cpu_supports("avx2")) == (f.avx2 && f.os_avx));
    CHECK(static_cast<bool>(__builtin_cpu_supports("fma")) == (f.fma && f.os_avx));
    CHECK(static_cast<bool>(__builtin_cpu_supports("avx512f")) == (f.avx512f && f.os_avx512));
    CHECK(static_cast<bool>(__builtin_cpu_supports("avx512bw")) == (f.avx512bw && f.os_avx512));
    CHECK(static_cast<bool>(__builtin_cpu_supports("avx512vnni")) == (f.avx512_vnni && f.os_avx512));
#endif
}

TEST_CASE("cpu: supported_isas lists what runs, best first, emulator last", "[cpu]") {
    const std::vector<isa> list = amxmm::supported_isas();
    REQUIRE(list.size() >= 2);
    CHECK(list.back() == isa::amx_emulated);
    CHECK(list[list.size() - 2] == isa::scalar);
    for (std::size_t k = 0; k + 2 < list.size(); ++k) CHECK(rank_of(list[k]) > rank_of(list[k + 1]));
    for (isa i : list) CHECK(amxmm::isa_supported(i));
    for (isa i : hardware_isas_best_first) {
        bool listed = false;
        for (isa j : list) listed = listed || (i == j);
        CHECK(listed == amxmm::isa_supported(i));
    }
}

TEST_CASE("cpu: choose_isa with explicit requests", "[cpu]") {
    // Explicit requests never consult AMXMM_ISA, even an invalid one.
    scoped_amxmm_isa_env env("not-an-isa");

    SECTION("amx_emulated is forced") {
        const amxmm::isa_choice c = amxmm::choose_isa(isa::amx_emulated);
        CHECK(c.chosen == isa::amx_emulated);
        CHECK(c.reason == "amx_emulated: forced by isa=amx_emulated");
    }
    SECTION("any other request caps the choice") {
        for (isa cap : hardware_isas_best_first) {
            const amxmm::isa_choice c = amxmm::choose_isa(cap);
            INFO("request " << amxmm::to_string(cap) << " -> " << amxmm::to_string(c.chosen) << ": " << c.reason);
            CHECK(c.chosen != isa::amx_emulated);
            CHECK(amxmm::isa_supported(c.chosen));
            CHECK(rank_of(c.chosen) <= rank_of(cap));
            CHECK(c.chosen == expected_capped(cap));
            CHECK(starts_with(c.reason, std::string(amxmm::to_string(c.chosen)) + ": "));
            if (amxmm::isa_supported(cap)) {
                CHECK(c.chosen == cap);
            } else {
                // Says that the requested one was unavailable, and why.
                CHECK(contains(c.reason, std::string("isa=") + amxmm::to_string(cap) + " requested but "));
                CHECK(contains(c.reason, amxmm::isa_unsupported_reason(cap)));
            }
            if (c.chosen == cap && rank_of(expected_capped(isa::amx)) > rank_of(cap))
                CHECK(c.reason == std::string(amxmm::to_string(cap)) + ": capped by isa=" + amxmm::to_string(cap));
        }
        CHECK(amxmm::choose_isa(isa::scalar).chosen == isa::scalar);
    }
    SECTION("an out-of-range enum value is rejected") {
        CHECK_THROWS_AS(amxmm::choose_isa(static_cast<isa>(42)), amxmm::error);
    }
}

TEST_CASE("cpu: automatic choice is the best supported hardware ISA, never the emulator", "[cpu]") {
    scoped_amxmm_isa_env env(nullptr);
    const amxmm::isa_choice c = amxmm::choose_isa(std::nullopt);
    INFO(c.reason);
    CHECK(c.chosen != isa::amx_emulated);
    CHECK(amxmm::isa_supported(c.chosen));
    CHECK(c.chosen == expected_capped(isa::amx));
    CHECK(c.chosen == amxmm::supported_isas().front());
    if (c.chosen == isa::amx)
        CHECK(c.reason == "amx: best available");
    else
        CHECK(contains(c.reason, "AMX unavailable (" + amxmm::isa_unsupported_reason(isa::amx) + ")"));
    // Each missing ISA is explained once, though AMX's reason nests AVX-512 VNNI's, which nests AVX2's (on a
    // machine without AVX-512, "AVX-512 VNNI unavailable (...)" used to follow AMX's reason a second time).
    for (const char* entry : {"AVX-512 VNNI unavailable (", "AVX2 unavailable ("}) {
        const std::size_t first = c.reason.find(entry);
        CHECK((first == std::string::npos || c.reason.find(entry, first + 1) == std::string::npos));
    }
}

TEST_CASE("cpu: AMXMM_ISA environment variable", "[cpu]") {
    SECTION("unset and empty mean no request") {
        isa unset_choice = isa::amx_emulated;
        {
            scoped_amxmm_isa_env env(nullptr);
            unset_choice = amxmm::choose_isa(std::nullopt).chosen;
        }
        scoped_amxmm_isa_env env("");
        CHECK(amxmm::choose_isa(std::nullopt).chosen == unset_choice);
        CHECK(unset_choice != isa::amx_emulated);
    }
    SECTION("a hardware name caps") {
        for (isa cap : hardware_isas_best_first) {
            scoped_amxmm_isa_env env(amxmm::to_string(cap));
            const amxmm::isa_choice c = amxmm::choose_isa(std::nullopt);
            INFO("AMXMM_ISA=" << amxmm::to_string(cap) << " -> " << c.reason);
            CHECK(c.chosen == expected_capped(cap));
            CHECK(amxmm::isa_supported(c.chosen));
            CHECK(contains(c.reason, std::string("AMXMM_ISA=") + amxmm::to_string(cap)));
            if (!amxmm::isa_supported(cap))
                CHECK(contains(c.reason, std::string("AMXMM_ISA=") + amxmm::to_string(cap) + " requested but "));
        }
        scoped_amxmm_isa_env env("avx2");
        CHECK(rank_of(amxmm::choose_isa(std::nullopt).chosen) <= rank_of(isa::avx2));
    }
    SECTION("amx_emulated forces the emulator") {
        scoped_amxmm_isa_env env("amx_emulated");
        const amxmm::isa_choice c = amxmm::choose_isa(std::nullopt);
        CHECK(c.chosen == isa::amx_emulated);
        CHECK(c.reason == "amx_emulated: forced by AMXMM_ISA=amx_emulated");
    }
    SECTION("an invalid value throws, naming the variable, the value and the accepted names") {
        for (const char* bad : {"bogus", "AMX", "avx512"}) {
            scoped_amxmm_isa_env env(bad);
            INFO("AMXMM_ISA=" << bad);
            bool threw = false;
            try {
                (void)amxmm::choose_isa(std::nullopt);
            } catch (const amxmm::error& e) {
                threw = true;
                const std::string msg = e.what();
                INFO(msg);
                CHECK(e.code() == amxmm::errc::invalid_argument);
                CHECK(contains(msg, "AMXMM_ISA"));
                CHECK(contains(msg, std::string("\"") + bad + "\""));
                for (isa i : all_isas) CHECK(contains(msg, amxmm::to_string(i)));
            }
            CHECK(threw);
        }
    }
    SECTION("an explicit request wins over the variable") {
        scoped_amxmm_isa_env env("scalar");
        CHECK(amxmm::choose_isa(isa::amx_emulated).chosen == isa::amx_emulated);
        CHECK(amxmm::choose_isa(std::nullopt).chosen == isa::scalar);
    }
}

#if defined(__x86_64__)

TEST_CASE("cpu: tile_config_bytes layout", "[cpu][amx]") {
    amxmm::tile_config_bytes cfg;
    for (unsigned char b : cfg.bytes) CHECK(b == 0);
    static_assert(sizeof(amxmm::tile_config_bytes) == 64, "LDTILECFG operand is 64 bytes");
    static_assert(alignof(amxmm::tile_config_bytes) == 64, "64-byte aligned");
    cfg.set_palette(1);
    cfg.set_tile(0, 16, 64);
    cfg.set_tile(3, 5, 0x1234);
    cfg.set_tile(15, 7, 2);
    CHECK(cfg.bytes[0] == 1);
    CHECK(cfg.palette() == 1);
    CHECK(cfg.start_row() == 0);
    CHECK(cfg.bytes[16] == 64);
    CHECK(cfg.bytes[17] == 0);
    CHECK(cfg.bytes[48] == 16);
    CHECK(cfg.bytes[16 + 6] == 0x34);
    CHECK(cfg.bytes[16 + 7] == 0x12);
    CHECK(cfg.bytes[48 + 3] == 5);
    CHECK(cfg.bytes[16 + 30] == 2);
    CHECK(cfg.bytes[48 + 15] == 7);
    CHECK(cfg.colsb(3) == 0x1234);
    CHECK(cfg.rows(3) == 5);
    CHECK(cfg.colsb(15) == 2);
    amxmm::tile_config_bytes other = cfg;
    CHECK(other == cfg);
    other.set_tile(1, 1, 4);
    CHECK(other != cfg);
}

namespace {

struct guard_check_result {
    amxmm::tile_config_bytes inside_guard;       // STTILECFG while the guard holds `theirs`
    amxmm::tile_config_bytes saved_by_guard;     // guard.saved()
    amxmm::tile_config_bytes after_guard;        // STTILECFG after the guard is gone (must be `mine`)
    amxmm::tile_config_bytes after_nested;       // after two nested guards (must be `mine`)
    amxmm::tile_config_bytes after_from_release; // guard entered with no config loaded (must be all zero)
    bool tile_copy_ok = false;                   // a tile load/store works under the guard's config
};

amxmm::tile_config_bytes make_config(unsigned rows0, unsigned colsb0, unsigned rows1, unsigned colsb1) {
    amxmm::tile_config_bytes c;
    c.set_palette(1);
    c.set_tile(0, rows0, colsb0);
    c.set_tile(1, rows1, colsb1);
    c.set_tile(2, 4, 12);
    return c;
}

/// Hardware AMX only. `mine` plays the caller's (e.g. ggml's) config, `theirs` amxmm's.
AMXMM_TARGET_AMX_TILE guard_check_result run_guard_check(const amxmm::tile_config_bytes& mine,
                                                          const amxmm::tile_config_bytes& theirs) {
    guard_check_result r;
    amxmm::load_tile_config(mine);
    {
        amxmm::tile_config_guard guard(theirs);
        r.inside_guard = amxmm::current_tile_config();
        r.saved_by_guard = guard.saved();

        // Tile 1 of `theirs` is rows(1) x colsb(1) bytes: load it from src, store it to dst.
        alignas(64) unsigned char src[16 * 64];
        alignas(64) unsigned char dst[16 * 64];
        for (int k = 0; k < 16 * 64; ++k) {
            src[k] = static_cast<unsigned char>(k * 7 + 1);
            dst[k] = 0;
        }
        // GCC 12/13 _tile_loadd is asm with no memory operand or clobber: make src visible first.
        __asm__ volatile("" : : "m"(src), "m"(dst) : "memory");
        _tile_loadd(1, src, 64);
        _tile_stored(1, dst, 64);
        __asm__ volatile("" : "+m"(dst) : : "memory");
        r.tile_copy_ok = true;
        for (unsigned row = 0; row < theirs.rows(1); ++row)
            for (unsigned col = 0; col < theirs.colsb(1); ++col)
                r.tile_copy_ok = r.tile_copy_ok && dst[row * 64 + col] == src[row * 64 + col];
    }
    r.after_guard = amxmm::current_tile_config();
    {
        amxmm::tile_config_guard outer(theirs);
        {
            amxmm::tile_config_guard inner(make_config(2, 8, 3, 16));
        }
    }
    r.after_nested = amxmm::current_tile_config();

    amxmm::release_tiles();
    {
        amxmm::tile_config_guard guard(theirs);
    }
    r.after_from_release = amxmm::current_tile_config();
    amxmm::release_tiles();
    return r;
}

}  // namespace

TEST_CASE("cpu: tile_config_guard restores the caller's tile configuration (hardware AMX)", "[cpu][amx]") {
    if (!amxmm::isa_supported(isa::amx)) {
        WARN("hardware tile_config_guard check skipped: AMX unavailable (" << amxmm::isa_unsupported_reason(isa::amx)
                                                                           << ")");
        return;
    }
    const amxmm::tile_config_bytes mine = make_config(16, 64, 8, 32);
    const amxmm::tile_config_bytes theirs = make_config(12, 48, 16, 64);
    const guard_check_result r = run_guard_check(mine, theirs);
    CHECK(r.inside_guard == theirs);
    CHECK(r.saved_by_guard == mine);
    CHECK(r.after_guard == mine);
    CHECK(r.after_nested == mine);
    CHECK(r.after_from_release == amxmm::tile_config_bytes{});
    CHECK(r.tile_copy_ok);
}

#endif  // defined(__x86_64__)
