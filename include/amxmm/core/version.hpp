// amxmm — version macros and the versioned inline namespace.
//
// Every public symbol lives in amxmm::AMXMM_ABI_NAMESPACE (an inline namespace), so two builds of
// amxmm with incompatible layouts cannot be linked into one program by accident: their symbols differ.
#pragma once

#define AMXMM_VERSION_MAJOR 0
#define AMXMM_VERSION_MINOR 2
#define AMXMM_VERSION_PATCH 0
#define AMXMM_VERSION (AMXMM_VERSION_MAJOR * 10000 + AMXMM_VERSION_MINOR * 100 + AMXMM_VERSION_PATCH)
#define AMXMM_VERSION_STRING "0.2.0"

#define AMXMM_ABI_NAMESPACE v0_2
#define AMXMM_NAMESPACE_BEGIN namespace amxmm { inline namespace AMXMM_ABI_NAMESPACE {
#define AMXMM_NAMESPACE_END } }

AMXMM_NAMESPACE_BEGIN
/// Version of the headers in use, e.g. "0.2.0".
inline constexpr const char* version_string() noexcept { return AMXMM_VERSION_STRING; }
AMXMM_NAMESPACE_END
