// GGUF's Q4_0 and Q8_0 blocks, byte for byte.
//
//   block_q4_0 (18 bytes): fp16 d, then qs[16]. Element j (0..15) is (qs[j] & 0xF) - 8, element
//                          j + 16 is (qs[j] >> 4) - 8; value = d * element.
//   block_q8_0 (34 bytes): fp16 d, then int8 qs[32]; value = d * qs[j].
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/half.hpp"

AMXMM_NAMESPACE_BEGIN

/// Elements per Q4_0 / Q8_0 block (ggml's QK4_0 and QK8_0).
inline constexpr int block_k = 32;

struct block_q4_0 {
    fp16 d;
    std::uint8_t qs[block_k / 2];
};
struct block_q8_0 {
    fp16 d;
    std::int8_t qs[block_k];
};

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must match GGUF's 18-byte layout");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must match GGUF's 34-byte layout");
static_assert(alignof(block_q4_0) == 2 && alignof(block_q8_0) == 2, "GGUF blocks are 2-byte aligned");
static_assert(offsetof(block_q4_0, qs) == 2 && offsetof(block_q8_0, qs) == 2, "d comes first");

/// The signed 4-bit value (-8..7) of element j (0..31) of a Q4_0 block.
inline int q4_0_element(const block_q4_0& b, int j) noexcept {
    return j < 16 ? int(b.qs[j] & 0x0f) - 8 : int(b.qs[j - 16] >> 4) - 8;
}

AMXMM_NAMESPACE_END
