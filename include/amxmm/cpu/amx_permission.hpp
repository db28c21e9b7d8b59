// Asking the OS for permission to use AMX tile data.
//
// AMX tile registers hold 8 KiB of state per thread. Linux (5.16 and later) does not give that state to a
// process by default, so that processes which never use AMX keep small signal frames: the first AMX
// tile instruction of a process that has not asked raises SIGILL. A process asks once with
//     arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
// and the permission then covers all of its threads, present and future. Containers (seccomp filters),
// old kernels and other OSes may refuse or not know the request; amxmm then falls back to a non-AMX path
// and reports the reason given here.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include "../core/version.hpp"
#include "features.hpp"

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define AMXMM_HAS_ARCH_PRCTL 1
#else
#define AMXMM_HAS_ARCH_PRCTL 0
#endif

AMXMM_NAMESPACE_BEGIN

/// Outcome of the once-per-process AMX permission request.
struct amx_permission_status {
    bool granted = false;
    std::string reason;  ///< human-readable: why not granted, or how it was granted
};

namespace detail {

// From the Linux uapi headers (asm/prctl.h, asm/fpu/types.h); defined here because older headers lack them.
constexpr int arch_get_xcomp_perm = 0x1022;
constexpr int arch_req_xcomp_perm = 0x1023;
constexpr int xfeature_xtiledata = 18;

/// Empty when the CPU implements every AMX extension amxmm uses (TILE, INT8, BF16), else which ones it lacks.
inline std::string amx_cpu_missing(const cpu_features& f) {
    if (!f.amx_tile && !f.amx_int8 && !f.amx_bf16) return "CPU has no AMX-TILE/INT8/BF16";
    std::string missing;
    const auto add = [&missing](bool on, const char* name) {
        if (!on) (missing += missing.empty() ? "CPU lacks " : ", ") += name;
    };
    add(f.amx_tile, "AMX-TILE");
    add(f.amx_int8, "AMX-INT8");
    add(f.amx_bf16, "AMX-BF16");
    return missing;
}

inline amx_permission_status request_amx_permission_uncached() {
    const cpu_features& f = detected_cpu_features();
    if (std::string missing = amx_cpu_missing(f); !missing.empty()) return {false, missing};
    if (!f.os_amx) return {false, "OS does not enable AMX tile state in XCR0"};
#if AMXMM_HAS_ARCH_PRCTL
    if (::syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) != 0) {
        const int e = errno;
        std::string why = "arch_prctl(ARCH_REQ_XCOMP_PERM) refused: " + std::generic_category().message(e) +
                          " (errno " + std::to_string(e) + ")";
        if (e == EINVAL) why += "; the kernel may predate AMX support (Linux 5.16)";
        if (e == EPERM || e == ENOSYS) why += "; a seccomp filter (container sandbox) may block it";
        return {false, why};
    }
    std::uint64_t bitmask = 0;
    if (::syscall(SYS_arch_prctl, arch_get_xcomp_perm, &bitmask) != 0) {
        const int e = errno;
        return {false, "arch_prctl(ARCH_GET_XCOMP_PERM) failed: " + std::generic_category().message(e) +
                           " (errno " + std::to_string(e) + ")"};
    }
    if ((bitmask & (std::uint64_t{1} << xfeature_xtiledata)) == 0)
        return {false, "arch_prctl(ARCH_REQ_XCOMP_PERM) succeeded but ARCH_GET_XCOMP_PERM does not list XTILEDATA"};
    return {true, "AMX tile data permission granted by arch_prctl(ARCH_REQ_XCOMP_PERM)"};
#else
    return {false, "AMX permission request is implemented only on Linux x86-64"};
#endif
}

}  // namespace detail

/// Requests AMX tile-data permission for this process on first call (thread safe) and returns the cached
/// outcome afterwards. Checks CPU support and the OS state in XCR0 first, so it never issues the request
/// on a machine without AMX. Reasons look like "CPU has no AMX-TILE/INT8/BF16",
/// "OS does not enable AMX tile state in XCR0" or "arch_prctl(ARCH_REQ_XCOMP_PERM) refused: ...".
inline const amx_permission_status& request_amx_permission() {
    static const amx_permission_status status = detail::request_amx_permission_uncached();
    return status;
}

AMXMM_NAMESPACE_END
