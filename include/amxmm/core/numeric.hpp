// Small numeric helpers shared by every layer.
#pragma once

#include "version.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

/// Returns x unchanged but opaque to the optimiser, so `a * b` stored through it is rounded to fp32
/// before any following addition: compilers may otherwise fuse the two into one FMA (GCC does so by
/// default, even across statements and for vector intrinsics), which would make results depend on
/// compile flags. amxmm's `exact` mode defines its arithmetic as separately rounded operations.
template <class T>
inline T rounded(T x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+x"(x));
#endif
    return x;
}

}  // namespace detail
AMXMM_NAMESPACE_END

/// The same barrier for a SIMD variable (__m256, __m512) inside a target function: after
/// AMXMM_ROUND_HERE(v), v holds its rounded value and cannot be fused into a following add.
#if defined(__GNUC__) || defined(__clang__)
#define AMXMM_ROUND_HERE(v) __asm__("" : "+v"(v))
#else
#define AMXMM_ROUND_HERE(v) ((void)0)
#endif

