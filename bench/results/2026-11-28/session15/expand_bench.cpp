// Session 15: one Q4_0 VNNI panel block (16 rows x 32 K) expanded to the bf16 VNNI B operand, three ways,
// one thread, operands in L1: cycles per block (rdtsc-free: ns per block and blocks/s). Checks each against
// the library's reference expansion (bitwise; "fma" is allowed to differ only in the sign of a zero).
#include <amxmm/amxmm.hpp>
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
using namespace amxmm;
using amxmm::detail::expand_block_bf16_avx512;
using amxmm::detail::expand_block_bf16_ref;

// Per chunk c (64 quant bytes: 16 columns x 4 bytes), output rows 4c..4c+3. A dword lane gets one quant byte
// in its bits 16-23 (vpermb): float bits 0x41000000 | low nibble << 16 = 8 + q/16, 0x45000000 | high nibble << 12
// = 2048 + q. Row 4c: low nibbles of bytes j = 0,1; 4c+1: low, j = 2,3; 4c+2: high, j = 0,1; 4c+3: high, j = 2,3.
#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512bf16,f16c,fma"), always_inline)) inline
struct perm_tables {
    alignas(64) std::uint8_t idx[2][2][64];  // [jj][half]: dword lane L <- byte 4·(L/2 + 8·half) + 2·jj + L%2
    perm_tables() {
        for (int jj = 0; jj < 2; ++jj)
            for (int h = 0; h < 2; ++h)
                for (int L = 0; L < 16; ++L)
                    for (int b = 0; b < 4; ++b) idx[jj][h][4 * L + b] = std::uint8_t(4 * (L / 2 + 8 * h) + 2 * jj + (L % 2));
    }
};
static const perm_tables tables;

template <bool Fma>
TGT __m512 low_nibble(__m512i x, __m512 s16, __m512 c) {  // (q - 8)·d from the low nibble in bits 16-19
    const __m512 v = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(x, _mm512_set1_epi32(0x000F0000), _mm512_set1_epi32(0x41000000), 0xEA));
    if constexpr (Fma) return _mm512_fmadd_ps(v, s16, c);
    else return _mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(8.5f)), s16);
}
template <bool Fma>
TGT __m512 high_nibble(__m512i x, __m512 dd, __m512 c) {  // from the high nibble in bits 12-15: 2048 + q
    const __m512 v = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(x, _mm512_set1_epi32(0x0000F000), _mm512_set1_epi32(0x45000000), 0xEA));
    if constexpr (Fma) return _mm512_fmadd_ps(v, dd, c);
    else return _mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(2056.0f)), dd);
}
TGT void store_row(bf16* o, __m512 lo, __m512 hi) {
    const __m512bh p = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512(o, reinterpret_cast<const __m512i&>(p));
}
template <bool Fma>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512bf16,f16c,fma"), noinline))
void expand_new(const std::uint8_t* quants, const fp16* scales, bf16* out) {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)));
    const __m512 d_lo = _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0), d);
    const __m512 d_hi = _mm512_permutexvar_ps(_mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8), d);
    const __m512 s16_lo = _mm512_mul_ps(d_lo, _mm512_set1_ps(16.0f)), s16_hi = _mm512_mul_ps(d_hi, _mm512_set1_ps(16.0f));
    const __m512i i00 = _mm512_load_si512(tables.idx[0][0]), i01 = _mm512_load_si512(tables.idx[0][1]);
    const __m512i i10 = _mm512_load_si512(tables.idx[1][0]), i11 = _mm512_load_si512(tables.idx[1][1]);
    __m512 c_lo_l = _mm512_setzero_ps(), c_lo_h = c_lo_l, c_hi_l = c_lo_l, c_hi_h = c_lo_l;  // fma addends
    if constexpr (Fma) {
        c_lo_l = _mm512_mul_ps(d_lo, _mm512_set1_ps(-136.0f)); c_lo_h = _mm512_mul_ps(d_hi, _mm512_set1_ps(-136.0f));
        c_hi_l = _mm512_mul_ps(d_lo, _mm512_set1_ps(-2056.0f));  c_hi_h = _mm512_mul_ps(d_hi, _mm512_set1_ps(-2056.0f));
    }
    for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(quants + 64 * c);
        const __m512i x00 = _mm512_permutexvar_epi8(i00, v), x01 = _mm512_permutexvar_epi8(i01, v);
        const __m512i x10 = _mm512_permutexvar_epi8(i10, v), x11 = _mm512_permutexvar_epi8(i11, v);
        bf16* o = out + 4 * c * 32;
        store_row(o, low_nibble<Fma>(x00, s16_lo, c_lo_l), low_nibble<Fma>(x01, s16_hi, c_lo_h));
        store_row(o + 32, low_nibble<Fma>(x10, s16_lo, c_lo_l), low_nibble<Fma>(x11, s16_hi, c_lo_h));
        store_row(o + 64, high_nibble<Fma>(x00, d_lo, c_hi_l), high_nibble<Fma>(x01, d_hi, c_hi_h));
        store_row(o + 96, high_nibble<Fma>(x10, d_lo, c_hi_l), high_nibble<Fma>(x11, d_hi, c_hi_h));
    }
}

__attribute__((noinline)) void expand_old(const std::uint8_t* q, const fp16* d, bf16* o) { expand_block_bf16_avx512(q, d, o); }

int main(int argc, char** argv) {
    const int nb = 16;  // blocks cycled through (16 × 288 B in, 16 KiB out: L1)
    std::mt19937 g(7);
    std::vector<std::uint8_t> q(nb * 256);
    std::vector<fp16> d(nb * 16);
    for (auto& b : q) b = std::uint8_t(g());
    for (int i = 0; i < nb * 16; ++i) {
        float f = std::ldexp(float(g() % 2048) / 2048.0f + 0.5f, int(g() % 30) - 20) * ((g() & 1) ? -1.f : 1.f);
        d[i] = fp32_to_fp16(i % 97 == 5 ? 0.0f : f);
    }
    d[3] = fp16{0x8000}; d[20] = fp16{0x7C00}; d[40] = fp16{0xFC00}; d[60] = fp16{0x7E00}; d[70] = fp16{0x0001};  // -0, ±inf, NaN, subnormal
    alignas(64) static bf16 ref[16 * 32], o1[16 * 32];
    int bad[3] = {0, 0, 0}, zero_sign[3] = {0, 0, 0};
    for (int b = 0; b < nb; ++b) {
        expand_block_bf16_ref(&q[b * 256], &d[b * 16], ref);
        for (int v = 0; v < 3; ++v) {
            if (v == 0) expand_old(&q[b * 256], &d[b * 16], o1);
            if (v == 1) expand_new<false>(&q[b * 256], &d[b * 16], o1);
            if (v == 2) expand_new<true>(&q[b * 256], &d[b * 16], o1);
            for (int i = 0; i < 512; ++i)
                if (o1[i].bits != ref[i].bits) {
                    if ((o1[i].bits | ref[i].bits) == 0x8000 && (o1[i].bits & ref[i].bits) == 0) ++zero_sign[v];
                    else if (++bad[v] <= 3) std::printf("variant %d block %d pos %d (row %d word %d): got %04x want %04x, scale %04x\n", v, b, i, i / 32, i % 32, o1[i].bits, ref[i].bits, d[b * 16 + (i % 32) / 2].bits);
                }
        }
    }
    std::printf("mismatches vs reference: old %d, sub+mul %d, fma %d (plus zero-sign-only: %d %d %d)\n", bad[0], bad[1], bad[2],
                zero_sign[0], zero_sign[1], zero_sign[2]);
    alignas(64) static bf16 out[nb][16 * 32];
    const char* names[3] = {"old (vpmovsxbd, cvtdq2ps, mulps)", "vpermb + magic, sub + mul", "vpermb + magic, fma"};
    for (int round = 0; round < 3; ++round)
        for (int v = 0; v < 3; ++v) {
            const long reps = 200000;
            auto t0 = std::chrono::steady_clock::now();
            for (long r = 0; r < reps; ++r)
                for (int b = 0; b < nb; ++b) {
                    if (v == 0) expand_old(&q[b * 256], &d[b * 16], out[b]);
                    if (v == 1) expand_new<false>(&q[b * 256], &d[b * 16], out[b]);
                    if (v == 2) expand_new<true>(&q[b * 256], &d[b * 16], out[b]);
                }
            const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (reps * nb);
            std::printf("round %d  %-34s %6.2f ns per block (512 weights)\n", round, names[v], ns);
        }
}
