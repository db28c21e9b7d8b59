// The AMX micro-kernels for the hardware back end and for the software emulator: one source
// (amx_tile_kernel.inl) compiled twice. See that file for the kernels themselves.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../core/numeric.hpp"
#include "../core/target.hpp"
#include "../format/reference_gemm.hpp"
#include "../pack/expand.hpp"
#include "../tile/amx.hpp"
#include "../tile/amx_emulated.hpp"
#include "microkernel.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

AMXMM_INTRINSICS_BEGIN

// ---- hardware AMX -------------------------------------------------------------------------------
namespace amx_hw {
using tiles = amx_tiles;
#define AMXMM_KERNEL_TARGET AMXMM_TARGET_AMX

AMXMM_KERNEL_TARGET inline void expand_int8(const std::uint8_t* q, std::int8_t* out) { expand_block_int8_vbmi(q, out); }
AMXMM_KERNEL_TARGET inline void expand_bf16(const std::uint8_t* q, const fp16* d, bf16* out) {
    expand_block_bf16_vbmi(q, d, out);
}
/// 16 fp16 scales widened to fp32 (exact).
AMXMM_KERNEL_TARGET inline void load_scales16(const fp16* d, float* out) {
    _mm512_storeu_ps(out, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d))));
}
/// acc = acc + float(ci) * (dw[col] * dx[row]), each operation rounded (see reference_gemm_exact).
AMXMM_KERNEL_TARGET inline void rescale_accumulate(float* acc, const std::int32_t* ci, const float* dw,
                                                   const float* dx, int rows) {
    const __m512 dw0 = _mm512_loadu_ps(dw), dw1 = _mm512_loadu_ps(dw + 16);
    for (int i = 0; i < rows; ++i) {
        const __m512 x = _mm512_set1_ps(dx[i]);
        for (int h = 0; h < 2; ++h) {
            __m512 scale = _mm512_mul_ps(h ? dw1 : dw0, x);
            AMXMM_ROUND_HERE(scale);
            __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ci + i * 32 + 16 * h)), scale);
            AMXMM_ROUND_HERE(term);
            _mm512_store_ps(acc + i * 32 + 16 * h, _mm512_add_ps(_mm512_load_ps(acc + i * 32 + 16 * h), term));
        }
    }
}

#include "amx_tile_kernel.inl"
#undef AMXMM_KERNEL_TARGET
}  // namespace amx_hw

// ---- emulated AMX -------------------------------------------------------------------------------
namespace amx_emu {
using tiles = amx_emulated_tiles;
#define AMXMM_KERNEL_TARGET

inline void expand_int8(const std::uint8_t* q, std::int8_t* out) { expand_block_int8_ref(q, out); }
inline void expand_bf16(const std::uint8_t* q, const fp16* d, bf16* out) { expand_block_bf16_ref(q, d, out); }
inline void load_scales16(const fp16* d, float* out) {
    for (int n = 0; n < 16; ++n) out[n] = fp16_to_fp32(d[n]);
}
inline void rescale_accumulate(float* acc, const std::int32_t* ci, const float* dw, const float* dx, int rows) {
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < kernel_rows; ++j)
            acc[i * 32 + j] = exact_block_update(acc[i * 32 + j], ci[i * 32 + j], dw[j], dx[i]);
}

#include "amx_tile_kernel.inl"
#undef AMXMM_KERNEL_TARGET
}  // namespace amx_emu

AMXMM_INTRINSICS_END

}  // namespace detail
AMXMM_NAMESPACE_END
