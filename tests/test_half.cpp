#include "catch_compat.hpp"

// fp16 / bf16 conversions (include/amxmm/core/half.hpp) must be bit-identical to the x86 instructions
// VCVTPS2PH (imm = round to nearest even), VCVTPH2PS and VCVTNEPS2BF16. Three kinds of oracle:
//   * hand-computed expectations (run everywhere);
//   * exact models written here independently of half.hpp: the value is scaled by a power of two (exact
//     in double) and rounded with std::nearbyint, i.e. IEEE round-to-nearest-even (run everywhere);
//   * the hardware instructions themselves, in functions with per-function target attributes, called
//     only when CPUID/XGETBV say the machine and the OS support them (skipped with a WARN otherwise).
// Every float travels as its bit pattern (std::uint32_t) so that NaN payloads survive the test harness.

#include <amxmm/core/half.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define AMXMM_TEST_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace {

using u16 = std::uint16_t;
using u32 = std::uint32_t;

u32 bits_of(float f) {
    u32 u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
float float_of(u32 u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

std::string hex(u32 v, int digits) {
    std::ostringstream os;
    os << "0x" << std::hex << std::setw(digits) << std::setfill('0') << v;
    return os.str();
}

// ---- the library under test, on bit patterns ----------------------------------------------------------
u16 lib_fp32_to_fp16(u32 x) { return amxmm::fp32_to_fp16(float_of(x)).bits; }
u16 lib_fp32_to_bf16(u32 x) { return amxmm::fp32_to_bf16(float_of(x)).bits; }
u32 lib_fp16_to_fp32(u16 h) { return bits_of(amxmm::fp16_to_fp32(amxmm::fp16{h})); }
u32 lib_bf16_to_fp32(u16 b) { return bits_of(amxmm::bf16_to_fp32(amxmm::bf16{b})); }

// ---- independent exact models -------------------------------------------------------------------------
// NaN rule of both narrowing instructions (Intel SDM): the result is a quiet NaN with the same sign whose
// payload is the top payload bits of the input (the quiet bit is forced on).

// fp32 -> binary16, round to nearest even; overflow to inf; fp16 subnormals produced; fp32 denormals are
// ordinary (tiny) inputs.
u16 model_fp32_to_fp16(u32 x) {
    const u16 sign = static_cast<u16>((x >> 16) & 0x8000u);
    const u32 ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return static_cast<u16>(sign | 0x7c00u | 0x0200u | ((ax >> 13) & 0x3ffu));
    if (ax == 0x7f800000u) return static_cast<u16>(sign | 0x7c00u);
    const double a = float_of(ax);
    if (a == 0.0) return sign;
    int e = 0;
    (void)std::frexp(a, &e);                          // a in [2^(e-1), 2^e)
    const int ulp_exp = std::max(e - 1 - 10, -24);    // fp16: 10 fraction bits; subnormal spacing 2^-24
    const double n = std::nearbyint(std::ldexp(a, -ulp_exp));  // exact scaling, then RNE to an integer
    const double r = std::ldexp(n, ulp_exp);
    if (r >= 65536.0) return static_cast<u16>(sign | 0x7c00u);
    if (r < 0x1p-14) return static_cast<u16>(sign | static_cast<u16>(n));  // subnormal: n units of 2^-24
    int er = 0;
    const double fr = std::frexp(r, &er);  // r = fr * 2^er, fr in [0.5, 1)
    const u32 mant = static_cast<u32>((fr * 2.0 - 1.0) * 1024.0);
    return static_cast<u16>(sign | static_cast<u32>((er - 1 + 15) << 10) | mant);
}

// fp32 -> bf16 with VCVTNEPS2BF16's rules: denormal inputs are zero, round to nearest even.
u16 model_fp32_to_bf16(u32 x) {
    const u16 sign = static_cast<u16>((x >> 16) & 0x8000u);
    const u32 ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return static_cast<u16>((x >> 16) | 0x0040u);
    if (ax == 0x7f800000u) return static_cast<u16>(sign | 0x7f80u);
    if (ax < 0x00800000u) return sign;
    const double a = float_of(ax);
    int e = 0;
    (void)std::frexp(a, &e);
    const int ulp_exp = e - 1 - 7;  // bf16: 7 fraction bits
    const double r = std::ldexp(std::nearbyint(std::ldexp(a, -ulp_exp)), ulp_exp);
    if (r >= 0x1p128) return static_cast<u16>(sign | 0x7f80u);
    return static_cast<u16>(sign | (bits_of(static_cast<float>(r)) >> 16));  // r has <= 8 significant bits
}

// binary16 -> fp32, exact; NaNs quieted with their payload kept.
u32 model_fp16_to_fp32(u16 h) {
    const u32 sign = u32(h & 0x8000u) << 16;
    const int e = (h >> 10) & 0x1f;
    const u32 m = h & 0x3ffu;
    if (e == 0x1f) return m ? (sign | 0x7fc00000u | (m << 13)) : (sign | 0x7f800000u);
    const double v = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(double(1024u + m), e - 25);
    return sign | bits_of(static_cast<float>(v));
}

// ---- hardware --------------------------------------------------------------------------------------------
struct hw_caps {
    bool f16c = false;
    bool avx512bf16 = false;
};

#if defined(AMXMM_TEST_X86)
std::uint64_t read_xcr0() {
    u32 lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (std::uint64_t(hi) << 32) | lo;
}

// CPUID + XGETBV rather than __builtin_cpu_supports: Clang (up to at least 14) rejects "f16c" there.
hw_caps detect_hw() {
    hw_caps caps;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return caps;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!osxsave) return caps;
    const std::uint64_t xcr0 = read_xcr0();
    const bool ymm_state = (xcr0 & 0x6u) == 0x6u;     // SSE + AVX state enabled by the OS
    const bool zmm_state = (xcr0 & 0xe6u) == 0xe6u;   // + opmask, ZMM_Hi256, Hi16_ZMM
    caps.f16c = f16c && avx && ymm_state;
    if (__get_cpuid_max(0, nullptr) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        const bool avx512f = b & (1u << 16);
        __cpuid_count(7, 1, a, b, c, d);
        const bool bf16 = a & (1u << 5);
        caps.avx512bf16 = avx512f && bf16 && zmm_state;
    }
    return caps;
}

__attribute__((target("f16c"))) void hw_fp32_to_fp16(const u32* in, u16* out, std::size_t n) {
    for (std::size_t i = 0; i < n; i += 4) {
        u32 src[4] = {0, 0, 0, 0};
        u16 dst[8];
        const std::size_t len = std::min<std::size_t>(4, n - i);
        std::memcpy(src, in + i, len * sizeof(u32));
        __m128 v;
        std::memcpy(&v, src, sizeof v);
        const __m128i h = _mm_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);  // VCVTPS2PH, imm 0 = RNE
        std::memcpy(dst, &h, sizeof dst);
        std::memcpy(out + i, dst, len * sizeof(u16));
    }
}

__attribute__((target("f16c"))) void hw_fp16_to_fp32(const u16* in, u32* out, std::size_t n) {
    for (std::size_t i = 0; i < n; i += 4) {
        u16 src[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        u32 dst[4];
        const std::size_t len = std::min<std::size_t>(4, n - i);
        std::memcpy(src, in + i, len * sizeof(u16));
        __m128i h;
        std::memcpy(&h, src, sizeof h);
        const __m128 v = _mm_cvtph_ps(h);  // VCVTPH2PS
        std::memcpy(dst, &v, sizeof dst);
        std::memcpy(out + i, dst, len * sizeof(u32));
    }
}

__attribute__((target("avx512f,avx512bf16"))) void hw_fp32_to_bf16(const u32* in, u16* out, std::size_t n) {
    for (std::size_t i = 0; i < n; i += 16) {
        u32 src[16] = {};
        u16 dst[16];
        const std::size_t len = std::min<std::size_t>(16, n - i);
        std::memcpy(src, in + i, len * sizeof(u32));
        // Unaligned loads/stores rather than 64-byte vector locals: GCC 13 with ASan has been seen to
        // fault on a realigned stack slot here.
        const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src));  // VCVTNEPS2BF16
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), reinterpret_cast<const __m256i&>(b));
        std::memcpy(out + i, dst, len * sizeof(u16));
    }
}
#else
hw_caps detect_hw() { return {}; }
#endif

const hw_caps& hw() {
    static const hw_caps caps = detect_hw();
    return caps;
}

// The instructions' behaviour on denormals depends on MXCSR.DAZ/FTZ only for VCVTPS2PH; the test process
// must run with the defaults (both off) for the comparison to mean anything.
bool mxcsr_is_default_for_denormals() {
#if defined(AMXMM_TEST_X86)
    return (_mm_getcsr() & 0x8040u) == 0;  // FTZ (bit 15) and DAZ (bit 6) clear
#else
    return true;
#endif
}

// ---- inputs --------------------------------------------------------------------------------------------
// Hand-picked fp32 bit patterns: boundaries of both formats, zeros, denormals, infinities, NaNs.
std::vector<u32> special_patterns() {
    std::vector<u32> v = {
        0x00000000u, 0x80000000u,                            // +-0
        0x00000001u, 0x80000001u, 0x007fffffu, 0x807fffffu,  // fp32 denormals
        0x00400000u, 0x00000100u, 0x007ff000u,
        0x00800000u, 0x80800000u, 0x00800001u, 0x00ffffffu,  // smallest fp32 normals
        0x7f800000u, 0xff800000u,                            // +-inf
        0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7e8000u, 0x7f7f8001u,  // near FLT_MAX
        0x7fc00000u, 0xffc00000u, 0x7fc00001u, 0x7fffffffu, 0xffffffffu, 0x7fe00000u,  // quiet NaNs
        0x7fd55555u, 0xffaaaaaau,
        0x7f800001u, 0xff800001u, 0x7fa00000u, 0x7f802000u, 0x7f801fffu, 0x7fbfffffu,  // signalling NaNs
        0x7f810000u, 0x7f80ffffu, 0xff810001u,
        bits_of(65504.0f), bits_of(-65504.0f), bits_of(65520.0f), bits_of(-65520.0f),
        bits_of(65520.0f) - 1u, bits_of(65520.0f) + 1u, bits_of(65536.0f), bits_of(65505.0f),
        bits_of(0x1p-14f), bits_of(0x1p-14f) - 1u, bits_of(0x1p-14f) + 1u,   // smallest fp16 normal
        bits_of(0x1p-24f), bits_of(0x1p-24f) - 1u, bits_of(0x1p-24f) + 1u,   // smallest fp16 subnormal
        bits_of(0x1p-25f), bits_of(0x1p-25f) - 1u, bits_of(0x1p-25f) + 1u,   // half of it: tie
        bits_of(-0x1p-25f), bits_of(3 * 0x1p-26f), bits_of(3 * 0x1p-25f), bits_of(5 * 0x1p-25f),
        bits_of(0x1p-26f), bits_of(0x1p-30f), bits_of(0x1p-126f), bits_of(0x1p-14f - 0x1p-25f),
        bits_of(0x1p-14f - 0x1p-24f), bits_of(0x1p-14f * (2 - 0x1p-11f)),
        bits_of(1.0f), bits_of(-1.0f), bits_of(1 + 0x1p-11f), bits_of(1 + 3 * 0x1p-11f),
        bits_of(1 + 0x1p-8f), bits_of(1 + 3 * 0x1p-8f), 0x3f808001u, 0x3f80ffffu, 0x3f807fffu,
        bits_of(2049.0f), bits_of(2051.0f), bits_of(0.1f), bits_of(1.0f / 3.0f),
    };
    return v;
}

// For every sign and every fp32 exponent: mantissas whose low k bits are exactly one half of 2^(k+1)
// (a tie when k+1 bits are dropped), one less and one more, under an upper part that is zero, odd (a one
// just above the tie bit), all ones and random. Every rounding position of fp16 (normal: 13 dropped bits;
// subnormal: 14..24) and of bf16 (16) therefore sees exact ties with odd and even kept parts.
std::vector<u32> sweep_patterns() {
    std::mt19937 rng(20251125u);
    std::vector<u32> v;
    v.reserve(2 * 256 * (23 * 3 * 4 + 2));
    for (u32 sign = 0; sign < 2; ++sign) {
        for (u32 exp = 0; exp < 256; ++exp) {
            const u32 head = (sign << 31) | (exp << 23);
            v.push_back(head);
            v.push_back(head | 0x7fffffu);
            for (int k = 0; k < 23; ++k) {
                const u32 above_mask = 0x7fffffu & ~((2u << k) - 1u);  // bits above the tie bit
                const u32 highs[4] = {0u, (2u << k) & 0x7fffffu, above_mask, u32(rng()) & above_mask};
                const u32 lows[3] = {1u << k, (1u << k) - 1u, (1u << k) + 1u};
                for (u32 hi : highs)
                    for (u32 lo : lows) v.push_back(head | ((hi | lo) & 0x7fffffu));
            }
        }
    }
    return v;
}

// Random fp32 patterns: uniform over all 2^32 bit patterns (all exponents alike), and, when
// `fp16_range` is set, with the exponent drawn from [96, 146] where fp16 results are subnormal..overflow.
std::vector<u32> random_patterns(std::mt19937& rng, std::size_t n, bool fp16_range) {
    std::vector<u32> v(n);
    std::uniform_int_distribution<u32> exp_dist(96, 146);
    for (auto& x : v) {
        x = u32(rng());
        if (fp16_range) x = (x & 0x807fffffu) | (exp_dist(rng) << 23);
    }
    return v;
}

// Counts mismatches and keeps a few for the report.
struct mismatches {
    std::size_t count = 0;
    std::size_t checked = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ < 8) first += what + "\n";
    }
    std::string report() const {
        std::ostringstream os;
        os << count << " mismatches in " << checked << " inputs\n" << first;
        return os.str();
    }
};

void compare_narrowing(const std::vector<u32>& in, const std::vector<u16>& want, u16 (*lib)(u32),
                       mismatches& mm) {
    for (std::size_t i = 0; i < in.size(); ++i) {
        const u16 got = lib(in[i]);
        if (got != want[i])
            mm.add("input " + hex(in[i], 8) + ": amxmm " + hex(got, 4) + ", expected " + hex(want[i], 4));
    }
    mm.checked += in.size();
}

void model_check(const std::vector<u32>& in, u16 (*lib)(u32), u16 (*model)(u32), mismatches& mm) {
    std::vector<u16> want(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) want[i] = model(in[i]);
    compare_narrowing(in, want, lib, mm);
}

}  // namespace

TEST_CASE("half: hand-computed fp32 -> fp16", "[half]") {
    struct row {
        u32 in;
        u16 want;
    };
    const row rows[] = {
        {bits_of(1.0f), 0x3c00},
        {bits_of(-2.0f), 0xc000},
        {bits_of(0.5f), 0x3800},
        {0x00000000u, 0x0000},
        {0x80000000u, 0x8000},
        {bits_of(65504.0f), 0x7bff},               // largest finite fp16
        {bits_of(65520.0f) - 1u, 0x7bff},          // 65519.996: just below the tie, rounds down
        {bits_of(65520.0f), 0x7c00},               // tie between 65504 (odd mantissa 0x3ff) and 2^16: up -> inf
        {bits_of(-65520.0f), 0xfc00},
        {bits_of(1e10f), 0x7c00},
        {0x7f800000u, 0x7c00},
        {0xff800000u, 0xfc00},
        {bits_of(0x1p-14f), 0x0400},               // smallest normal
        {bits_of(0x1p-24f), 0x0001},               // smallest subnormal
        {bits_of(0x1p-25f), 0x0000},               // tie between 0 and 2^-24: even -> 0
        {bits_of(-0x1p-25f), 0x8000},
        {bits_of(0x1p-25f) + 1u, 0x0001},          // just above the tie
        {bits_of(3 * 0x1p-26f), 0x0001},           // 0.75 * 2^-24 -> 1 unit
        {bits_of(3 * 0x1p-25f), 0x0002},           // 1.5 units: tie, even -> 2
        {bits_of(5 * 0x1p-25f), 0x0002},           // 2.5 units: tie, even -> 2
        {bits_of(0x1p-26f), 0x0000},
        {0x00000001u, 0x0000},                     // fp32 denormals are tiny values, not errors
        {0x807fffffu, 0x8000},
        {bits_of(0x1p-14f - 0x1p-25f), 0x0400},    // 1023.5 units: tie, 1023 odd -> up to the smallest normal
        {bits_of(0x1p-14f - 0x1p-24f), 0x03ff},    // largest subnormal, exact
        {bits_of(0x1p-14f * (2 - 0x1p-11f)), 0x0800},  // tie above 0x07ff (odd): carries into the exponent
        {bits_of(1 + 0x1p-11f), 0x3c00},           // tie, kept mantissa 0 even -> down
        {bits_of(1 + 3 * 0x1p-11f), 0x3c02},       // tie, kept mantissa 1 odd -> up
        {bits_of(1 + 0x1p-11f + 0x1p-23f), 0x3c01},  // just above a tie -> up
        {bits_of(2049.0f), 0x6800},                // spacing 2 at 2048: tie, 2048 even
        {bits_of(2051.0f), 0x6802},                // tie between 2050 (odd) and 2052
        {0x7fc00000u, 0x7e00},                     // quiet NaN
        {0xffc00000u, 0xfe00},
        {0x7f800001u, 0x7e00},                     // signalling NaN, payload only in dropped bits: quieted
        {0x7fa00000u, 0x7f00},                     // sNaN payload bit 21 -> fp16 payload bit 8, quieted
        {0x7fffe000u, 0x7fff},                     // all payload bits kept
    };
    for (const row& r : rows) {
        INFO("input " << hex(r.in, 8) << " (" << float_of(r.in) << ")");
        CHECK(hex(lib_fp32_to_fp16(r.in), 4) == hex(r.want, 4));
        CHECK(hex(model_fp32_to_fp16(r.in), 4) == hex(r.want, 4));  // the model agrees with the hand values
    }
}

TEST_CASE("half: hand-computed fp16 -> fp32", "[half]") {
    struct row {
        u16 in;
        u32 want;
    };
    const row rows[] = {
        {0x3c00, 0x3f800000u},                     // 1
        {0xc000, 0xc0000000u},                     // -2
        {0x0000, 0x00000000u},
        {0x8000, 0x80000000u},                     // -0 keeps its sign
        {0x0001, bits_of(0x1p-24f)},               // 0x33800000
        {0x03ff, bits_of(1023 * 0x1p-24f)},        // largest subnormal
        {0x0400, bits_of(0x1p-14f)},
        {0x7bff, bits_of(65504.0f)},
        {0xfbff, bits_of(-65504.0f)},
        {0x3555, bits_of((1024 + 0x155) * 0x1p-12f)},  // exponent 13-15 = -2, mantissa 0x155
        {0x7c00, 0x7f800000u},
        {0xfc00, 0xff800000u},
        {0x7e00, 0x7fc00000u},                     // quiet NaN
        {0x7c01, 0x7fc02000u},                     // signalling NaN: payload << 13, quiet bit set
        {0xfd55, 0xffeaa000u},                     // 0x155 << 13 = 0x2aa000
        {0x7fff, 0x7fffe000u},
    };
    for (const row& r : rows) {
        INFO("input " << hex(r.in, 4));
        CHECK(hex(lib_fp16_to_fp32(r.in), 8) == hex(r.want, 8));
        CHECK(hex(model_fp16_to_fp32(r.in), 8) == hex(r.want, 8));
    }
}

TEST_CASE("half: hand-computed fp32 -> bf16 and bf16 -> fp32", "[half]") {
    struct row {
        u32 in;
        u16 want;
    };
    const row rows[] = {
        {bits_of(1.0f), 0x3f80},
        {0x3f808000u, 0x3f80},                     // 1 + 2^-8: tie, kept 0x3f80 even -> down
        {0x3f818000u, 0x3f82},                     // 1 + 3*2^-8: tie, kept 0x3f81 odd -> up
        {0x3f808001u, 0x3f81},                     // just above a tie
        {0x3f807fffu, 0x3f80},                     // just below a tie
        {0x3f80ffffu, 0x3f81},
        {bits_of(-1.0f), 0xbf80},
        {0x80000000u, 0x8000},
        {0x7f7fffffu, 0x7f80},                     // FLT_MAX rounds up to inf
        {0x7f7f7fffu, 0x7f7f},
        {0x7f7f8000u, 0x7f80},                     // tie above 0x7f7f (odd) -> inf
        {0x7f7e8000u, 0x7f7e},                     // tie above 0x7f7e (even) -> stays
        {0x7f800000u, 0x7f80},
        {0xff800000u, 0xff80},
        {0x00000001u, 0x0000},                     // fp32 denormals become signed zero ...
        {0x007fffffu, 0x0000},                     // ... even where RNE would give the smallest normal
        {0x807fffffu, 0x8000},
        {0x00800000u, 0x0080},                     // smallest normal is kept
        {0x7fc00000u, 0x7fc0},                     // quiet NaN
        {0x7f800001u, 0x7fc0},                     // sNaN, payload in dropped bits: quieted
        {0x7f810000u, 0x7fc1},                     // sNaN payload bit 16 kept, quieted
        {0xff800001u, 0xffc0},
    };
    for (const row& r : rows) {
        INFO("input " << hex(r.in, 8));
        CHECK(hex(lib_fp32_to_bf16(r.in), 4) == hex(r.want, 4));
        CHECK(hex(model_fp32_to_bf16(r.in), 4) == hex(r.want, 4));
    }
    CHECK(lib_bf16_to_fp32(0x3f80) == 0x3f800000u);
    CHECK(lib_bf16_to_fp32(0xc049) == 0xc0490000u);
    CHECK(lib_bf16_to_fp32(0x7fc1) == 0x7fc10000u);  // exact, NaN payload untouched
    CHECK(lib_bf16_to_fp32(0x0001) == 0x00010000u);
}

TEST_CASE("half: all 65536 fp16 patterns -> fp32 against the exact model, and round trips", "[half]") {
    mismatches to32, back16, bf_back;
    for (u32 h = 0; h < 65536; ++h) {
        const u16 hb = static_cast<u16>(h);
        const u32 got = lib_fp16_to_fp32(hb);
        if (got != model_fp16_to_fp32(hb))
            to32.add("fp16 " + hex(h, 4) + ": amxmm " + hex(got, 8) + ", model " + hex(model_fp16_to_fp32(hb), 8));
        // fp16 -> fp32 -> fp16 is the identity except that signalling NaNs come back quiet.
        const bool nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
        const u16 want_back = nan ? static_cast<u16>(h | 0x0200u) : hb;
        if (lib_fp32_to_fp16(got) != want_back)
            back16.add("fp16 " + hex(h, 4) + " came back as " + hex(lib_fp32_to_fp16(got), 4));
        // bf16 -> fp32 -> bf16 is the identity except quieted NaNs and flushed denormals.
        const bool bf_denormal = (h & 0x7f80u) == 0 && (h & 0x7fu) != 0;
        const bool bf_nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
        const u16 want_bf = bf_nan ? static_cast<u16>(h | 0x0040u) : bf_denormal ? static_cast<u16>(h & 0x8000u) : hb;
        if (lib_fp32_to_bf16(lib_bf16_to_fp32(hb)) != want_bf)
            bf_back.add("bf16 " + hex(h, 4) + " came back as " + hex(lib_fp32_to_bf16(lib_bf16_to_fp32(hb)), 4));
    }
    to32.checked = back16.checked = bf_back.checked = 65536;
    INFO(to32.report());
    CHECK(to32.count == 0);
    INFO(back16.report());
    CHECK(back16.count == 0);
    INFO(bf_back.report());
    CHECK(bf_back.count == 0);
}

TEST_CASE("half: fp32 -> fp16 / bf16 against the exact models (sweep + random)", "[half]") {
    const std::vector<u32> specials = special_patterns();
    const std::vector<u32> sweep = sweep_patterns();
    std::mt19937 rng(0x5eed16u);
    const std::vector<u32> uniform = random_patterns(rng, 1'000'000, false);
    const std::vector<u32> focused = random_patterns(rng, 1'000'000, true);
    mismatches fp16_mm, bf16_mm;
    for (const auto* in : {&specials, &sweep, &uniform, &focused}) {
        model_check(*in, lib_fp32_to_fp16, model_fp32_to_fp16, fp16_mm);
        model_check(*in, lib_fp32_to_bf16, model_fp32_to_bf16, bf16_mm);
    }
    INFO("fp32 -> fp16: " << fp16_mm.report());
    CHECK(fp16_mm.count == 0);
    INFO("fp32 -> bf16: " << bf16_mm.report());
    CHECK(bf16_mm.count == 0);
}

#if defined(__FLT16_MANT_DIG__)
TEST_CASE("half: fp32 -> fp16 agrees with the compiler's _Float16 for every non-NaN input", "[half]") {
    // A third, independent oracle where the compiler has _Float16 (soft-float or F16C code from the
    // compiler's runtime). NaN payload rules are not specified for it, so NaNs are left out.
    const std::vector<u32> specials = special_patterns();
    const std::vector<u32> sweep = sweep_patterns();
    std::mt19937 rng(0xf16f16u);
    const std::vector<u32> focused = random_patterns(rng, 500'000, true);
    mismatches mm;
    for (const auto* in : {&specials, &sweep, &focused}) {
        for (u32 x : *in) {
            if ((x & 0x7fffffffu) > 0x7f800000u) continue;
            volatile float f = float_of(x);
            const _Float16 h = static_cast<_Float16>(f);
            u16 want;
            std::memcpy(&want, &h, sizeof want);
            if (lib_fp32_to_fp16(x) != want)
                mm.add("input " + hex(x, 8) + ": amxmm " + hex(lib_fp32_to_fp16(x), 4) + ", _Float16 " + hex(want, 4));
            ++mm.checked;
        }
    }
    INFO(mm.report());
    CHECK(mm.count == 0);
}
#endif

TEST_CASE("half: fp16 conversions are bit-identical to F16C (VCVTPS2PH imm=0, VCVTPH2PS)", "[half][hardware]") {
    if (!hw().f16c) {
        WARN("skipped: this machine (or OS) has no F16C, so fp16 conversions were not compared with VCVTPS2PH/VCVTPH2PS");
        return;
    }
#if defined(AMXMM_TEST_X86)
    REQUIRE(mxcsr_is_default_for_denormals());

    SECTION("all 65536 fp16 patterns through VCVTPH2PS, NaNs included") {
        std::vector<u16> in(65536);
        for (u32 h = 0; h < 65536; ++h) in[h] = static_cast<u16>(h);
        std::vector<u32> want(in.size());
        hw_fp16_to_fp32(in.data(), want.data(), in.size());
        mismatches mm;
        for (u32 h = 0; h < 65536; ++h) {
            const u32 got = lib_fp16_to_fp32(in[h]);
            if (got != want[h]) mm.add("fp16 " + hex(h, 4) + ": amxmm " + hex(got, 8) + ", VCVTPH2PS " + hex(want[h], 8));
        }
        mm.checked = 65536;
        INFO(mm.report());
        CHECK(mm.count == 0);
    }

    SECTION("fp32 -> fp16: specials, exponent/tie sweep and random patterns through VCVTPS2PH") {
        mismatches mm;
        auto run = [&mm](const std::vector<u32>& in) {
            std::vector<u16> want(in.size());
            hw_fp32_to_fp16(in.data(), want.data(), in.size());
            compare_narrowing(in, want, lib_fp32_to_fp16, mm);
        };
        run(special_patterns());
        run(sweep_patterns());
        std::mt19937 rng(0xc0ffee16u);
        for (int chunk = 0; chunk < 6; ++chunk) run(random_patterns(rng, 1'000'000, false));
        for (int chunk = 0; chunk < 4; ++chunk) run(random_patterns(rng, 1'000'000, true));
        INFO(mm.report());
        CHECK(mm.checked > 10'000'000u);
        CHECK(mm.count == 0);
    }
#endif
}

TEST_CASE("half: fp32 -> bf16 is bit-identical to AVX512_BF16 (VCVTNEPS2BF16)", "[half][hardware]") {
    if (!hw().avx512bf16) {
        WARN("skipped: this machine (or OS) has no AVX512_BF16, so fp32 -> bf16 was not compared with VCVTNEPS2BF16");
        return;
    }
#if defined(AMXMM_TEST_X86)
    mismatches mm;
    auto run = [&mm](const std::vector<u32>& in) {
        std::vector<u16> want(in.size());
        hw_fp32_to_bf16(in.data(), want.data(), in.size());
        compare_narrowing(in, want, lib_fp32_to_bf16, mm);
    };
    run(special_patterns());
    run(sweep_patterns());
    std::mt19937 rng(0xbf16bf16u);
    for (int chunk = 0; chunk < 8; ++chunk) run(random_patterns(rng, 1'000'000, false));
    // Denormal, tiny-normal and near-overflow exponents, where the instruction's special rules live.
    for (int chunk = 0; chunk < 2; ++chunk) {
        std::vector<u32> edge = random_patterns(rng, 500'000, false);
        for (std::size_t i = 0; i < edge.size(); ++i) {
            static const u32 exps[] = {0, 1, 2, 253, 254, 255};
            edge[i] = (edge[i] & 0x807fffffu) | (exps[i % 6] << 23);
        }
        run(edge);
    }
    INFO(mm.report());
    CHECK(mm.checked > 9'000'000u);
    CHECK(mm.count == 0);
#endif
}
