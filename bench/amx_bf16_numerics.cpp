// amxmm_bench_amx_bf16_numerics: compares hardware TDPBF16PS with candidate accumulation models, to
// find one the emulator (tile/amx_emulated.hpp) could reproduce bit for bit. Needs AMX; prints the
// best-matching models and their mismatch counts on random tiles.
//
// Models, for one output element c with the 32 exact products p0..p31 of one instruction:
//   the products are taken in groups of G consecutive ones (G = 2 .. 32); within a group, terms are
//   aligned to the largest exponent (optionally including the running c) and truncated to w bits
//   below it, summed exactly, then rounded to fp32 (RNE or toward zero) — optionally rounding the
//   group sum before adding it to c.
// Result on the device, 2026-11-25: no model matched; the best left 47% of outputs different
// (G = 32, c outside the group, w = 26, RNE, group sum rounded first). See bench/RESULTS.md.
#include <amxmm/amxmm.hpp>
#include <amxmm/kernel/amx_tile_kernel.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

using namespace amxmm;

AMXMM_TARGET_AMX void hardware_dp_bf16(const void* a, const void* b, const void* c, void* out) {
    using T = detail::amx_tiles;
    T::load_config(fast_mode_tile_config());
    T::load<c00>(c, 64);
    T::load<a0>(a, 64);
    T::load<b0>(b, 64);
    T::dp_bf16<c00, a0, b0>();
    T::store<c00>(out, 64);
    T::release();
}

struct model {
    int group;            // products per group
    bool acc_in_group;    // the running c is aligned and summed with the group's products
    int width;            // bits kept below the largest term's leading bit
    bool toward_zero;     // rounding to fp32: toward zero instead of nearest-even
    bool round_group;     // (acc_in_group == false) round the group sum before adding it to c
};

float to_fp32(double x, bool toward_zero) {
    float f = static_cast<float>(x);
    if (toward_zero && std::fabs(double(f)) > std::fabs(x)) f = std::nextafter(f, 0.0f);
    return f;
}

float evaluate(const model& md, float c, const double* p) {
    double acc = c;
    for (int g0 = 0; g0 < 32; g0 += md.group) {
        double terms[40];
        int count = 0;
        if (md.acc_in_group) terms[count++] = acc;
        for (int i = g0; i < g0 + md.group; ++i) terms[count++] = p[i];
        int lead = -100000;
        for (int i = 0; i < count; ++i)
            if (terms[i] != 0) {
                int e;
                std::frexp(terms[i], &e);
                lead = std::max(lead, e - 1);
            }
        double sum = 0;
        if (lead > -100000) {
            const double unit = std::ldexp(1.0, lead - md.width);
            for (int i = 0; i < count; ++i) sum += std::trunc(terms[i] / unit) * unit;
        }
        if (md.acc_in_group) {
            acc = to_fp32(sum, md.toward_zero);
        } else {
            const double group_sum = md.round_group ? double(to_fp32(sum, md.toward_zero)) : sum;
            acc = to_fp32(acc + group_sum, md.toward_zero);
        }
    }
    return static_cast<float>(acc);
}

}  // namespace

int main() {
    if (!isa_supported(isa::amx)) {
        std::printf("AMX unavailable: %s\n", isa_unsupported_reason(isa::amx).c_str());
        return 0;
    }
    std::vector<model> models;
    for (int group : {2, 4, 8, 16, 32})
        for (bool in : {true, false})
            for (int width : {23, 24, 25, 26, 27, 28, 30, 36, 45})
                for (bool rz : {false, true})
                    for (bool pre : {false, true})
                        if (!(in && pre)) models.push_back({group, in, width, rz, pre});
    std::vector<long> mismatches(models.size(), 0);
    long total = 0;
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal;
    for (int it = 0; it < 400; ++it) {
        alignas(64) std::uint16_t a[512], b[512];
        alignas(64) float c[256], hw[256];
        for (int i = 0; i < 512; ++i) {
            a[i] = fp32_to_bf16(normal(rng) * std::ldexp(1.0f, int(rng() % 8) - 4)).bits;
            b[i] = fp32_to_bf16(normal(rng) * std::ldexp(1.0f, int(rng() % 8) - 4)).bits;
        }
        for (float& v : c) v = normal(rng) * std::ldexp(1.0f, int(rng() % 10) - 5);
        hardware_dp_bf16(a, b, c, hw);
        for (int m = 0; m < 16; ++m)
            for (int n = 0; n < 16; ++n) {
                double p[32];
                for (int k = 0; k < 32; ++k)
                    p[k] = double(bf16_to_fp32(bf16{a[m * 32 + k]})) * bf16_to_fp32(bf16{b[(k / 2) * 32 + 2 * n + k % 2]});
                for (std::size_t q = 0; q < models.size(); ++q) {
                    const float r = evaluate(models[q], c[m * 16 + n], p);
                    mismatches[q] += std::memcmp(&r, &hw[m * 16 + n], 4) != 0;
                }
                ++total;
            }
    }
    std::vector<std::size_t> order(models.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return mismatches[x] < mismatches[y]; });
    for (std::size_t r = 0; r < 10 && r < order.size(); ++r) {
        const model& md = models[order[r]];
        std::printf("group %2d, c in group %d, width %2d, %s, group rounded %d: %ld of %ld outputs differ\n", md.group,
                    md.acc_in_group, md.width, md.toward_zero ? "toward zero" : "nearest even", md.round_group,
                    mismatches[order[r]], total);
    }
    return 0;
}
