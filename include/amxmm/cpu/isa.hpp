// Which instruction-set back end amxmm computes with, and how it is chosen at run time.
//
// One amxmm binary runs on any x86-64 CPU: every back end is compiled (with per-function target
// attributes) and the best one this machine supports is picked when the program runs. From fastest to
// slowest:
//
//   amx          Intel AMX tile unit (Sapphire Rapids and later): 16x64-byte tile registers and
//                tile dot-product instructions (int8 and bf16). Needs CPU support, OS state in XCR0
//                and, on Linux, a per-process permission (amx_permission.hpp); also AVX-512 VNNI for the
//                code around the tiles.
//   avx512_vnni  512-bit vectors with int8 dot-product instructions (VPDPBUSD).
//   avx2         256-bit vectors with FMA and F16C.
//   scalar       plain C++; runs anywhere.
//
// amx_emulated is a plain-C++ model of the AMX tile unit (same tile shapes, same VNNI layout, same
// numerics). It runs anywhere and is how the AMX code path is tested on machines without AMX; it is
// slow and therefore never chosen automatically, only when asked for.
//
// The environment variable AMXMM_ISA caps the choice (AMXMM_ISA=avx2 uses avx2 or scalar, never
// AVX-512 or AMX) or, with AMXMM_ISA=amx_emulated, forces the emulator. Every choice carries a one-sentence
// reason, so "why is this slow?" has an answer.
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/version.hpp"
#include "amx_permission.hpp"
#include "features.hpp"

AMXMM_NAMESPACE_BEGIN

/// Compute back ends. The numeric values are stable (they may be logged or stored).
enum class isa {
    scalar = 0,
    avx2 = 1,
    avx512_vnni = 2,
    amx = 3,
    amx_emulated = 4,  ///< software model of the AMX tile unit; never chosen automatically
};

/// The name used by AMXMM_ISA and parse_isa: "scalar", "avx2", "avx512_vnni", "amx", "amx_emulated".
constexpr const char* to_string(isa i) noexcept {
    switch (i) {
        case isa::scalar: return "scalar";
        case isa::avx2: return "avx2";
        case isa::avx512_vnni: return "avx512_vnni";
        case isa::amx: return "amx";
        case isa::amx_emulated: return "amx_emulated";
    }
    return "unknown";
}

/// Inverse of to_string: exactly one of the five names (case-sensitive), else nullopt.
constexpr std::optional<isa> parse_isa(std::string_view name) noexcept {
    for (isa i : {isa::amx, isa::amx_emulated, isa::avx512_vnni, isa::avx2, isa::scalar})
        if (name == to_string(i)) return i;
    return std::nullopt;
}

namespace detail {

/// The hardware back ends, best first; the automatic choice walks this list.
constexpr isa ranked_hardware_isas[] = {isa::amx, isa::avx512_vnni, isa::avx2, isa::scalar};

/// Position in the automatic ranking: amx 3 > avx512_vnni 2 > avx2 1 > scalar 0.
constexpr int isa_rank(isa i) noexcept { return i == isa::amx_emulated ? -1 : static_cast<int>(i); }

/// Name for sentences: "AMX", "AVX-512 VNNI", "AVX2", "scalar", "AMX emulation".
constexpr const char* isa_display_name(isa i) noexcept {
    switch (i) {
        case isa::scalar: return "scalar";
        case isa::avx2: return "AVX2";
        case isa::avx512_vnni: return "AVX-512 VNNI";
        case isa::amx: return "AMX";
        case isa::amx_emulated: return "AMX emulation";
    }
    return "unknown";
}

inline void append_reason(std::string& to, const std::string& reason) {
    if (reason.empty()) return;
    if (!to.empty()) to += "; ";
    to += reason;
}

inline std::string cpu_lacks(std::initializer_list<std::pair<bool, const char*>> features) {
    std::string missing;
    for (const auto& [present, name] : features)
        if (!present) (missing += missing.empty() ? "CPU lacks " : ", ") += name;
    return missing;
}

/// "AVX2 unavailable (CPU lacks AVX2)": how a reason names an ISA that is not there and why, nested in a
/// better ISA's reason (which needs it) and in choose_isa's sentence alike.
inline std::string unavailable_entry(isa i, const std::string& why) {
    return std::string(isa_display_name(i)) + " unavailable (" + why + ")";
}

inline std::string avx2_unsupported_reason(const cpu_features& f) {
    std::string why = cpu_lacks({{f.avx2, "AVX2"}, {f.fma, "FMA"}, {f.f16c, "F16C"}});
    if (!f.os_avx) append_reason(why, "OS does not enable AVX state in XCR0");
    return why;
}

inline std::string avx512_vnni_unsupported_reason(const cpu_features& f) {
    std::string why = cpu_lacks({{f.avx512f, "AVX512F"},
                                 {f.avx512bw, "AVX512BW"},
                                 {f.avx512vl, "AVX512VL"},
                                 {f.avx512dq, "AVX512DQ"},
                                 {f.avx512_vnni, "AVX512_VNNI"}});
    if (!f.os_avx512) append_reason(why, "OS does not enable AVX-512 state in XCR0");
    if (std::string avx2 = avx2_unsupported_reason(f); !avx2.empty())
        append_reason(why, unavailable_entry(isa::avx2, avx2));
    return why;
}

inline std::string amx_unsupported_reason(const cpu_features& f) {
    std::string why = amx_cpu_missing(f);
    if (!f.os_amx) append_reason(why, "OS does not enable AMX tile state in XCR0");
    if (std::string avx512 = avx512_vnni_unsupported_reason(f); !avx512.empty())
        append_reason(why, unavailable_entry(isa::avx512_vnni, avx512));
    // The AMX kernels expand weight panels to bf16 with VCVTNE2PS2BF16 (every AMX CPU has it).
    if (!f.avx512_bf16) append_reason(why, "CPU lacks AVX512_BF16");
    // ... and int8 ones with VPERMB (likewise).
    if (!f.avx512_vbmi) append_reason(why, "CPU lacks AVX512_VBMI");
    // Ask the OS only when everything else is in place.
    if (why.empty()) {
        const amx_permission_status& permission = request_amx_permission();
        if (!permission.granted) why = permission.reason;
    }
    return why;
}

}  // namespace detail

/// Why this machine cannot run `i`, in words; empty when it can. For amx the first call may request
/// the AMX permission from the OS (see request_amx_permission).
inline std::string isa_unsupported_reason(isa i) {
    const cpu_features& f = detected_cpu_features();
    switch (i) {
        case isa::scalar:
        case isa::amx_emulated: return {};
        case isa::avx2: return detail::avx2_unsupported_reason(f);
        case isa::avx512_vnni: return detail::avx512_vnni_unsupported_reason(f);
        case isa::amx: return detail::amx_unsupported_reason(f);
    }
    return "unknown isa value " + std::to_string(static_cast<int>(i));
}

/// True when this machine (CPU, OS state and, for amx, the process's AMX permission) can run `i`.
/// scalar and amx_emulated are always supported.
inline bool isa_supported(isa i) { return isa_unsupported_reason(i).empty(); }

/// A chosen back end and the sentence that explains the choice, e.g.
/// "amx: best available", "avx512_vnni: AMX unavailable (CPU has no AMX-TILE/INT8/BF16)",
/// "avx2: capped by AMXMM_ISA=avx2", "amx_emulated: forced by AMXMM_ISA=amx_emulated".
struct isa_choice {
    isa chosen = isa::scalar;
    std::string reason;
};

/// Chooses the back end to compute with.
///
/// `requested` empty: read the environment variable AMXMM_ISA (unset or empty means no request).
/// No request: the best supported of amx > avx512_vnni > avx2 > scalar.
/// A request for amx_emulated forces the emulator. A request for any other ISA is a cap: the best
/// supported ISA ranked at or below it (scalar always qualifies); the reason says when the requested
/// ISA itself was unavailable and why.
/// Throws amxmm::error (errc::invalid_argument) when AMXMM_ISA holds something other than an ISA name.
/// The result is always supported by this machine.
inline isa_choice choose_isa(std::optional<isa> requested) {
    std::string label;  // how the request is quoted in the reason, e.g. "AMXMM_ISA=avx2"
    if (requested) {
        const int value = static_cast<int>(*requested);
        detail::require(value >= static_cast<int>(isa::scalar) && value <= static_cast<int>(isa::amx_emulated),
                        errc::invalid_argument, "amxmm::choose_isa", "requested isa value ", value, " is not an amxmm::isa");
        label = std::string("isa=") + to_string(*requested);
    } else if (const char* env = std::getenv("AMXMM_ISA"); env != nullptr && *env != '\0') {
        requested = parse_isa(env);
        detail::require(requested.has_value(), errc::invalid_argument, "amxmm::choose_isa",
                        "environment variable AMXMM_ISA=\"", env,
                        "\" is not an ISA name; accepted: amx, amx_emulated, avx512_vnni, avx2, scalar");
        label = std::string("AMXMM_ISA=") + env;
    }

    if (requested == isa::amx_emulated) return {isa::amx_emulated, "amx_emulated: forced by " + label};

    const int cap = requested ? detail::isa_rank(*requested) : detail::isa_rank(isa::amx);
    std::string unavailable;        // "AMX unavailable (...); AVX-512 VNNI unavailable (...)"
    bool better_supported = false;  // an ISA above the cap would have run (the cap mattered)
    for (isa i : detail::ranked_hardware_isas) {
        const std::string why = isa_unsupported_reason(i);
        if (detail::isa_rank(i) > cap) {
            better_supported = better_supported || why.empty();
            continue;
        }
        if (!why.empty()) {
            // A better ISA's reason already holds this one when it needs it (AMX needs AVX-512 VNNI): once is enough.
            const std::string entry = detail::unavailable_entry(i, why);
            if (unavailable.find(entry) == std::string::npos) detail::append_reason(unavailable, entry);
            continue;
        }
        std::string reason = std::string(to_string(i)) + ": ";
        if (!requested) {
            reason += unavailable.empty() ? std::string("best available") : unavailable;
        } else if (i != *requested) {
            reason += label + " requested but " + unavailable;
        } else if (better_supported) {
            reason += "capped by " + label;
        } else {
            reason += label + " requested, also the best available";
        }
        return {i, reason};
    }
    return {isa::scalar, "scalar: fallback"};  // unreachable: scalar is always supported
}

/// choose_isa(std::nullopt), computed on first call (thread safe) and cached for the process.
/// Throws like choose_isa when AMXMM_ISA is invalid (and again on every later call).
inline const isa_choice& default_isa() {
    static const isa_choice choice = choose_isa(std::nullopt);
    return choice;
}

/// Every back end this machine can run, best first: the supported ones of amx, avx512_vnni, avx2,
/// scalar, then amx_emulated (always present, and the slowest).
inline std::vector<isa> supported_isas() {
    std::vector<isa> out;
    for (isa i : detail::ranked_hardware_isas)
        if (isa_supported(i)) out.push_back(i);
    out.push_back(isa::amx_emulated);
    return out;
}

AMXMM_NAMESPACE_END
