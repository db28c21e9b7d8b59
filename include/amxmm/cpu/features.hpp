// What this CPU and this OS let amxmm run: CPUID feature bits plus the OS-enabled register state
// (XCR0, read with XGETBV).
//
// A feature needs both halves. CPUID says the silicon implements an instruction set; XCR0 says the OS
// saves and restores the registers it uses on a context switch. AVX needs the YMM state (XCR0 bits 1-2),
// AVX-512 also the opmask and ZMM state (bits 5-7), and AMX the tile configuration and tile data state
// (bits 17-18). On Linux AMX needs a third step, a per-process permission request; that lives in
// amx_permission.hpp.
//
// Detection runs once per process; this header needs no special compiler flags.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "../core/version.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define AMXMM_ARCH_X86 1
#else
#define AMXMM_ARCH_X86 0
#endif

AMXMM_NAMESPACE_BEGIN

/// Instruction sets reported by CPUID and register state enabled by the OS. All false on non-x86.
struct cpu_features {
    // CPUID leaf 1
    bool sse42 = false;
    bool avx = false;
    bool fma = false;
    bool f16c = false;
    // CPUID leaf 7, subleaf 0
    bool avx2 = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512_vnni = false;
    bool avx512_vbmi = false;
    bool amx_tile = false;  ///< tile registers and LDTILECFG/STTILECFG/TILELOADD/...
    bool amx_int8 = false;  ///< TDPBSSD & co: int8 tile dot products into int32
    bool amx_bf16 = false;  ///< TDPBF16PS: bf16 tile dot products into fp32
    // CPUID leaf 7, subleaf 1
    bool avx512_bf16 = false;
    bool avx_vnni = false;
    // OS state (XCR0), valid only when CPUID reports OSXSAVE
    bool os_avx = false;     ///< XCR0 bits 1, 2: SSE and YMM state saved by the OS
    bool os_avx512 = false;  ///< XCR0 bits 5, 6, 7: opmask, ZMM_Hi256, Hi16_ZMM state saved by the OS
    bool os_amx = false;     ///< XCR0 bits 17, 18: XTILECFG and XTILEDATA state saved by the OS

    std::string vendor;  ///< e.g. "GenuineIntel", "AuthenticAMD"; empty if unknown
    std::string brand;   ///< e.g. "Intel(R) Xeon(R) Platinum 8480+"; empty if unknown
};

namespace detail {

#if AMXMM_ARCH_X86
struct cpuid_regs {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    bool valid = false;  ///< false when the leaf is above the CPU's maximum
};

inline cpuid_regs cpuid(unsigned leaf, unsigned subleaf) noexcept {
    cpuid_regs r;
    r.valid = __get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx) != 0;
    if (!r.valid) r = cpuid_regs{};
    return r;
}

constexpr bool bit(unsigned reg, unsigned n) noexcept { return ((reg >> n) & 1u) != 0; }

/// XGETBV with ECX = 0 (XCR0). Only valid when CPUID.1:ECX.OSXSAVE[27] is set; #UD otherwise.
/// Written as inline asm so it needs no -mxsave / target attribute.
inline std::uint64_t read_xcr0() noexcept {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

inline std::string trim(std::string s) {
    const auto first = s.find_first_not_of(' ');
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(' ');
    return s.substr(first, last - first + 1);
}
#endif

inline cpu_features detect_cpu_features() {
    cpu_features f;
#if AMXMM_ARCH_X86
    // Leaf 0: highest standard leaf, vendor string in EBX, EDX, ECX (in that order).
    const cpuid_regs l0 = cpuid(0, 0);
    if (!l0.valid) return f;
    const unsigned max_leaf = l0.eax;
    {
        char v[13] = {};
        std::memcpy(v + 0, &l0.ebx, 4);
        std::memcpy(v + 4, &l0.edx, 4);
        std::memcpy(v + 8, &l0.ecx, 4);
        f.vendor = v;
    }

    bool osxsave = false;
    if (max_leaf >= 1) {
        const cpuid_regs l1 = cpuid(1, 0);
        f.sse42 = bit(l1.ecx, 20);
        f.fma = bit(l1.ecx, 12);
        osxsave = bit(l1.ecx, 27);
        f.avx = bit(l1.ecx, 28);
        f.f16c = bit(l1.ecx, 29);
    }
    if (max_leaf >= 7) {
        const cpuid_regs l7 = cpuid(7, 0);
        f.avx2 = bit(l7.ebx, 5);
        f.avx512f = bit(l7.ebx, 16);
        f.avx512dq = bit(l7.ebx, 17);
        f.avx512bw = bit(l7.ebx, 30);
        f.avx512vl = bit(l7.ebx, 31);
        f.avx512_vbmi = bit(l7.ecx, 1);
        f.avx512_vnni = bit(l7.ecx, 11);
        f.amx_bf16 = bit(l7.edx, 22);
        f.amx_tile = bit(l7.edx, 24);
        f.amx_int8 = bit(l7.edx, 25);
        // Leaf 7 EAX holds the highest subleaf; subleaf 1 exists only when it is >= 1.
        if (l7.eax >= 1) {
            const cpuid_regs l71 = cpuid(7, 1);
            f.avx_vnni = bit(l71.eax, 4);
            f.avx512_bf16 = bit(l71.eax, 5);
        }
    }
    if (osxsave) {
        const std::uint64_t xcr0 = read_xcr0();
        const auto has = [xcr0](std::uint64_t mask) { return (xcr0 & mask) == mask; };
        f.os_avx = has((1ull << 1) | (1ull << 2));
        f.os_avx512 = f.os_avx && has((1ull << 5) | (1ull << 6) | (1ull << 7));
        f.os_amx = has((1ull << 17) | (1ull << 18));
    }

    // Brand string: extended leaves 0x80000002..4, 16 bytes each.
    const cpuid_regs ext = cpuid(0x80000000u, 0);
    if (ext.valid && ext.eax >= 0x80000004u) {
        char b[49] = {};
        for (unsigned i = 0; i < 3; ++i) {
            const cpuid_regs r = cpuid(0x80000002u + i, 0);
            std::memcpy(b + 16 * i + 0, &r.eax, 4);
            std::memcpy(b + 16 * i + 4, &r.ebx, 4);
            std::memcpy(b + 16 * i + 8, &r.ecx, 4);
            std::memcpy(b + 16 * i + 12, &r.edx, 4);
        }
        f.brand = trim(b);
    }
#endif
    return f;
}

}  // namespace detail

/// Features of the CPU this process runs on, detected on first call (thread safe) and cached.
inline const cpu_features& detected_cpu_features() {
    static const cpu_features features = detail::detect_cpu_features();
    return features;
}

/// One line for logs: vendor, brand, and the names of the features present, e.g.
/// "GenuineIntel | Intel(R) Xeon(R) ... | sse4.2 avx avx2 fma f16c ... amx_tile amx_int8 amx_bf16 | os: avx avx512 amx".
inline std::string to_string(const cpu_features& f) {
    std::string s = (f.vendor.empty() ? std::string("unknown vendor") : f.vendor) + " | " +
                    (f.brand.empty() ? std::string("unknown brand") : f.brand) + " |";
    const auto add = [&s](bool on, const char* name) {
        if (on) (s += ' ') += name;
    };
    add(f.sse42, "sse4.2");
    add(f.avx, "avx");
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx_vnni, "avx_vnni");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512dq, "avx512dq");
    add(f.avx512_vnni, "avx512_vnni");
    add(f.avx512_vbmi, "avx512_vbmi");
    add(f.avx512_bf16, "avx512_bf16");
    add(f.amx_tile, "amx_tile");
    add(f.amx_int8, "amx_int8");
    add(f.amx_bf16, "amx_bf16");
    s += " | os:";
    add(f.os_avx, "avx");
    add(f.os_avx512, "avx512");
    add(f.os_amx, "amx");
    return s;
}

AMXMM_NAMESPACE_END
