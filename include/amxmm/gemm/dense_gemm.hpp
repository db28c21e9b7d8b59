// Dense Q4_0 GEMM / GEMV driver: Y (m × N) = X (m × K) · Wᵀ, W packed as q4_0_vnni.
//
// The driver owns every loop above the micro-kernel (BLIS style): it checks arguments, picks the
// back end and compute mode, prepares the activations (Q8_0 for `exact`, bf16 for `fast`), cuts the
// output into tasks of one 32-row block × a group of 32-column blocks, and runs the tasks on an
// executor. Every output element is computed by one task with the K blocks in order, so results are
// bitwise identical for any executor and thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../cpu/isa.hpp"
#include "../format/quantize.hpp"
#include "../kernel/amx_tile_kernel.hpp"
#include "../kernel/microkernel.hpp"
#include "../kernel/vector_kernels.hpp"
#include "../pack/q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN

/// Caller choices for a GEMM call. Defaults: best ISA of this machine (AMXMM_ISA applies), mode auto.
struct gemm_options {
    compute_mode mode = compute_mode::automatic;
    std::optional<isa> force_isa;  ///< run on this back end (it must be supported), else default_isa()
};

/// What a call will do: the back end, the compute mode, and why.
struct gemm_plan {
    isa backend = isa::scalar;
    compute_mode mode = compute_mode::exact;
    std::string reason;
};

/// Row count from which `automatic` uses `fast` on AMX back ends. Provisional: the dense issue
/// measures the crossover on AMX hardware and replaces this constant.
inline constexpr std::int64_t auto_fast_min_rows = 17;

/// Decides back end and mode for an m-row product without running it.
inline gemm_plan plan_gemm_q4_0(std::int64_t m, const gemm_options& opt = {}) {
    gemm_plan plan;
    if (opt.force_isa) {
        const std::string why = isa_unsupported_reason(*opt.force_isa);
        detail::require(why.empty(), errc::unsupported, "gemm_q4_0", "options.force_isa = ", to_string(*opt.force_isa),
                        " is not available here: ", why);
        plan.backend = *opt.force_isa;
        plan.reason = std::string(to_string(plan.backend)) + ": forced by gemm_options";
    } else {
        const isa_choice& c = default_isa();
        plan.backend = c.chosen;
        plan.reason = c.reason;
    }
    const bool amx_like = plan.backend == isa::amx || plan.backend == isa::amx_emulated;
    if (opt.mode != compute_mode::automatic) {
        plan.mode = opt.mode;
        plan.reason += std::string("; mode ") + to_string(plan.mode) + " requested";
    } else if (amx_like && m >= auto_fast_min_rows) {
        plan.mode = compute_mode::fast;
        plan.reason += "; mode fast (auto: AMX back end and m >= " + std::to_string(auto_fast_min_rows) + ")";
    } else {
        plan.mode = compute_mode::exact;
        plan.reason += amx_like ? "; mode exact (auto: small m)" : "; mode exact (auto: no AMX)";
    }
    return plan;
}

namespace detail {

inline void validate_gemm_args(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                               const float* y, std::int64_t ldy) {
    constexpr const char* fn = "gemm_q4_0";
    validate_q4_0_vnni_shape(w.layout.n, w.layout.k, fn);
    require(w.data != nullptr, errc::invalid_argument, fn, "w.data is null");
    require(is_aligned(w.data, cache_line_bytes), errc::invalid_argument, fn, "w.data = ", static_cast<const void*>(w.data),
            " is not 64-byte aligned");
    require(m >= 0, errc::invalid_argument, fn, "m = ", m, " is negative");
    if (m == 0) return;
    require(x != nullptr, errc::invalid_argument, fn, "x is null");
    require(y != nullptr, errc::invalid_argument, fn, "y is null");
    require(ldx >= w.layout.k, errc::invalid_argument, fn, "ldx = ", ldx, " is less than K = ", w.layout.k);
    require(ldy >= w.layout.n, errc::invalid_argument, fn, "ldy = ", ldy, " is less than N = ", w.layout.n);
    const auto* x_end = x + (m - 1) * ldx + w.layout.k;
    const auto* y_end = y + (m - 1) * ldy + w.layout.n;
    require(y_end <= x || x_end <= y, errc::invalid_argument, fn, "y overlaps x");
}

/// Quantizes (exact) or converts (fast) activation rows, 32 rows per task, padding rows zeroed.
template <class Executor>
prepared_exact prepare_exact(std::int64_t m, const float* x, std::int64_t ldx, std::int64_t k, Executor& ex) {
    prepared_exact p;
    p.m = m;
    p.m_padded = round_up(m, std::int64_t(kernel_rows));
    p.k = k;
    const std::int64_t nb = k / block_k;
    p.q = aligned_buffer(static_cast<std::size_t>(p.m_padded * k), true);
    p.d = aligned_buffer(static_cast<std::size_t>(p.m_padded * nb) * sizeof(float), true);
    p.sums = aligned_buffer(static_cast<std::size_t>(p.m_padded * nb) * sizeof(std::int32_t), true);
    ex.parallel_for(p.m_padded / kernel_rows, [&](std::int64_t t) {
        std::vector<block_q8_0> row(static_cast<std::size_t>(nb));
        for (std::int64_t i = t * kernel_rows; i < std::min(m, (t + 1) * kernel_rows); ++i) {
            const float* xi = x + i * ldx;
            for (std::int64_t kk = 0; kk < k; ++kk)
                require(std::isfinite(xi[kk]), errc::invalid_argument, "gemm_q4_0", "x[", i, "][", kk, "] = ", xi[kk],
                        " is not finite (exact mode quantizes activations to Q8_0)");
            quantize_row_q8_0_ref(xi, row.data(), k);
            auto* q = p.q.template as<std::int8_t>() + i * k;
            auto* d = p.d.template as<float>() + i * nb;
            auto* s = p.sums.template as<std::int32_t>() + i * nb;
            for (std::int64_t b = 0; b < nb; ++b) {
                d[b] = fp16_to_fp32(row[b].d);
                std::int32_t sum = 0;
                for (int j = 0; j < block_k; ++j) {
                    q[b * block_k + j] = row[b].qs[j];
                    sum += row[b].qs[j];
                }
                s[b] = sum;
            }
        }
    });
    return p;
}

template <class Executor>
prepared_fast prepare_fast(std::int64_t m, const float* x, std::int64_t ldx, std::int64_t k, Executor& ex) {
    prepared_fast p;
    p.m = m;
    p.m_padded = round_up(m, std::int64_t(kernel_rows));
    p.k = k;
    p.x = aligned_buffer(static_cast<std::size_t>(p.m_padded * k) * sizeof(bf16), true);
    ex.parallel_for(p.m_padded / kernel_rows, [&](std::int64_t t) {
        for (std::int64_t i = t * kernel_rows; i < std::min(m, (t + 1) * kernel_rows); ++i) {
            bf16* out = p.x.template as<bf16>() + i * k;
            for (std::int64_t kk = 0; kk < k; ++kk) out[kk] = fp32_to_bf16(x[i * ldx + kk]);
        }
    });
    return p;
}

/// Runs `count` micro-kernel calls on one back end (the tile context is set up once for all).
template <class Prepared>
void run_kernel_blocks(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, const kernel_block* blocks,
                       std::int64_t count) {
    constexpr bool exact = std::is_same_v<Prepared, prepared_exact>;
    vector_scratch s;
    switch (backend) {
        case isa::amx:
            if constexpr (exact) amx_hw::run_exact(w, a, blocks, count); else amx_hw::run_fast(w, a, blocks, count);
            return;
        case isa::amx_emulated:
            if constexpr (exact) amx_emu::run_exact(w, a, blocks, count); else amx_emu::run_fast(w, a, blocks, count);
            return;
        case isa::avx512_vnni:
            for (std::int64_t i = 0; i < count; ++i) {
                if constexpr (exact) avx512_exact_kernel(w, a, blocks[i], s); else avx512_fast_kernel(w, a, blocks[i], s);
            }
            return;
        case isa::avx2:
            for (std::int64_t i = 0; i < count; ++i) {
                if constexpr (exact) avx2_exact_kernel(w, a, blocks[i], s); else avx2_fast_kernel(w, a, blocks[i], s);
            }
            return;
        case isa::scalar:
            for (std::int64_t i = 0; i < count; ++i) {
                if constexpr (exact) scalar_exact_kernel(w, a, blocks[i], s); else scalar_fast_kernel(w, a, blocks[i], s);
            }
            return;
    }
}

/// Output columns handed to one task (8 micro-kernel blocks of 32).
inline constexpr int task_column_blocks = 8;

template <class Prepared, class Executor>
void run_dense(isa backend, const packed_q4_0_vnni_view& w, const Prepared& a, float* y, std::int64_t ldy,
               Executor& ex) {
    const q4_0_vnni_layout& L = w.layout;
    const std::int64_t m_blocks = a.m_padded / kernel_rows;
    const std::int64_t n_blocks = (L.panels() + kernel_panels - 1) / kernel_panels;
    const std::int64_t n_groups = (n_blocks + task_column_blocks - 1) / task_column_blocks;
    ex.parallel_for(m_blocks * n_groups, [&](std::int64_t task) {
        const std::int64_t mb = task / n_groups, group = task % n_groups;
        kernel_block blocks[task_column_blocks];
        std::int64_t count = 0;
        for (std::int64_t nb = group * task_column_blocks; nb < std::min(n_blocks, (group + 1) * task_column_blocks); ++nb) {
            kernel_block& kb = blocks[count++];
            kb.m0 = mb * kernel_rows;
            kb.mr = static_cast<int>(std::min<std::int64_t>(kernel_rows, a.m - kb.m0));
            kb.p0 = nb * kernel_panels;
            kb.np = static_cast<int>(std::min<std::int64_t>(kernel_panels, L.panels() - kb.p0));
            kb.nr = static_cast<int>(std::min<std::int64_t>(16 * kb.np, L.n - 16 * kb.p0));
            kb.b0 = 0;
            kb.b1 = L.blocks_per_row();
            kb.c = y + kb.m0 * ldy + 16 * kb.p0;
            kb.ldc = ldy;
            kb.accumulate = false;
        }
        run_kernel_blocks(backend, w, a, blocks, count);
    });
}

}  // namespace detail

/// Y[i][n] = Σ_k X[i][k] · W[n][k] for i < m, n < N.
///   w   : packed weight (N × K);      x : m rows of K floats, row stride ldx (>= K)
///   y   : m rows of N floats, row stride ldy (>= N), must not overlap x
///   ex  : executor (exec/executor.hpp) — any object with parallel_for(count, fn)
/// Throws amxmm::error on bad arguments (before anything is written) and returns the plan it ran.
template <class Executor>
gemm_plan gemm_q4_0(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx, float* y,
                    std::int64_t ldy, const gemm_options& opt, Executor&& ex) {
    detail::validate_gemm_args(w, m, x, ldx, y, ldy);
    gemm_plan plan = plan_gemm_q4_0(m, opt);
    if (m == 0) return plan;
    if (plan.mode == compute_mode::exact)
        detail::run_dense(plan.backend, w, detail::prepare_exact(m, x, ldx, w.layout.k, ex), y, ldy, ex);
    else
        detail::run_dense(plan.backend, w, detail::prepare_fast(m, x, ldx, w.layout.k, ex), y, ldy, ex);
    return plan;
}

/// Serial overload.
inline gemm_plan gemm_q4_0(const packed_q4_0_vnni_view& w, std::int64_t m, const float* x, std::int64_t ldx,
                           float* y, std::int64_t ldy, const gemm_options& opt = {}) {
    return gemm_q4_0(w, m, x, ldx, y, ldy, opt, detail::serial_loop{});
}

AMXMM_NAMESPACE_END
