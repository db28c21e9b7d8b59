// fp16 (IEEE binary16) and bf16 (bfloat16) storage types and their conversions to and from fp32.
//
// The conversions are plain C++ and reproduce the x86 instructions bit for bit, so scalar and
// emulated paths agree with the vector and AMX paths:
//   fp32 -> fp16 : VCVTPS2PH with round-to-nearest-even (imm 0), MXCSR defaults (no DAZ/FTZ):
//                  fp16 subnormals are produced; NaNs are quieted with their top payload bits kept.
//   fp16 -> fp32 : VCVTPH2PS, exact for every value; NaNs are quieted.
//   fp32 -> bf16 : VCVTNEPS2BF16: round-to-nearest-even, fp32 denormals become signed zero,
//                  NaNs are quieted with their top payload bits kept.
//   bf16 -> fp32 : exact (the bf16 bits become the top half of the fp32).
// tests/test_half.cpp checks these against the hardware instructions where the machine has them.
#pragma once

#include <cstdint>
#include <cstring>

#include "version.hpp"

AMXMM_NAMESPACE_BEGIN

/// IEEE binary16 bits. A distinct type so it cannot be mixed up with an integer or a bf16.
struct fp16 {
    std::uint16_t bits;
};
/// bfloat16 bits (the top 16 bits of an fp32).
struct bf16 {
    std::uint16_t bits;
};
static_assert(sizeof(fp16) == 2 && sizeof(bf16) == 2, "16-bit storage types must be 2 bytes");

namespace detail {
inline std::uint32_t float_bits(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
inline float bits_float(std::uint32_t u) noexcept {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
}  // namespace detail

/// fp16 bits -> fp32, exact.
inline float fp16_to_fp32(fp16 h) noexcept {
    const std::uint32_t sign = std::uint32_t(h.bits & 0x8000u) << 16;
    const std::uint32_t exp = (h.bits >> 10) & 0x1fu;
    const std::uint32_t man = h.bits & 0x3ffu;
    if (exp == 0x1f) {  // inf or NaN (NaN is quieted)
        return detail::bits_float(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
    }
    if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in fp32
        const float mag = static_cast<float>(man) * detail::bits_float(0x33800000u);  // 2^-24
        return detail::bits_float(sign | detail::float_bits(mag));
    }
    return detail::bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

/// fp32 -> fp16 bits, round to nearest even (overflow gives inf; subnormals kept).
inline fp16 fp32_to_fp16(float f) noexcept {
    std::uint32_t x = detail::float_bits(f);
    const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return {static_cast<std::uint16_t>(sign | 0x7e00u | ((x >> 13) & 0x3ffu))};
    if (x >= 0x477ff000u) return {static_cast<std::uint16_t>(sign | 0x7c00u)};  // rounds to >= 65536
    if (x >= 0x38800000u) {  // normal fp16 result: round the 13 dropped bits, carries flow into exp
        const std::uint32_t rounded = x + 0x0fffu + ((x >> 13) & 1u);
        return {static_cast<std::uint16_t>(sign | ((rounded - (112u << 23)) >> 13))};
    }
    const std::uint32_t exp = x >> 23;
    if (exp < 102) return {sign};  // below half the smallest subnormal (fp32 denormals included)
    // Subnormal fp16: value * 2^24 = mantissa24 >> (126 - exp), rounded to nearest even.
    const std::uint32_t man24 = (x & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exp;  // 14..24
    std::uint32_t q = man24 >> shift;
    const std::uint32_t rem = man24 & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return {static_cast<std::uint16_t>(sign | q)};
}

/// bf16 bits -> fp32, exact.
inline float bf16_to_fp32(bf16 b) noexcept { return detail::bits_float(std::uint32_t(b.bits) << 16); }

/// fp32 -> bf16 bits with VCVTNEPS2BF16's rules (RNE, denormal inputs to signed zero, NaN quieted).
inline bf16 fp32_to_bf16(float f) noexcept {
    const std::uint32_t x = detail::float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((x >> 16) | 0x0040u)};
    if ((x & 0x7f800000u) == 0) return {static_cast<std::uint16_t>((x >> 16) & 0x8000u)};
    const std::uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
    return {static_cast<std::uint16_t>(rounded >> 16)};
}

AMXMM_NAMESPACE_END
