// Packed MoE expert weights: E experts, each a q4_0_vnni weight of the same shape (N rows of K), in
// one 64-byte-aligned allocation, expert e at `data + e * expert_stride`.
//
// The GGUF source is a 3-D Q4_0 tensor of E × N rows of K (ggml's ne = {K, N, E}): expert after
// expert, each N rows of K/32 blocks. Packing, unpacking and the per-expert layout are those of
// pack/q4_0_vnni.hpp; `expert(e)` is an ordinary packed_q4_0_vnni_view usable with gemm_q4_0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/aligned_buffer.hpp"
#include "../core/error.hpp"
#include "../pack/q4_0_vnni.hpp"

AMXMM_NAMESPACE_BEGIN

/// Non-owning view of E packed experts of one shape.
struct packed_q4_0_vnni_experts_view {
    std::int64_t experts = 0;        ///< E
    q4_0_vnni_layout layout;         ///< of one expert (N, K)
    std::int64_t expert_stride = 0;  ///< bytes from one expert to the next: a multiple of 64, >= layout.total_bytes()
    const std::byte* data = nullptr; ///< 64-byte aligned

    packed_q4_0_vnni_view expert(std::int64_t e) const noexcept { return {layout, data + e * expert_stride}; }
};

/// Owning packed experts (one allocation). A CPU type, like packed_q4_0_vnni.
class packed_q4_0_vnni_experts {
public:
    packed_q4_0_vnni_experts() = default;
    packed_q4_0_vnni_experts(std::int64_t experts, q4_0_vnni_layout layout, std::int64_t expert_stride,
                             aligned_buffer data)
        : experts_(experts), layout_(layout), stride_(expert_stride), data_(std::move(data)) {}

    std::int64_t experts() const noexcept { return experts_; }
    const q4_0_vnni_layout& layout() const noexcept { return layout_; }
    std::int64_t rows() const noexcept { return layout_.n; }  ///< N of one expert
    std::int64_t cols() const noexcept { return layout_.k; }  ///< K
    std::int64_t expert_stride() const noexcept { return stride_; }
    const std::byte* data() const noexcept { return data_.data(); }
    std::size_t size_bytes() const noexcept { return data_.size(); }
    bool empty() const noexcept { return data_.empty(); }
    packed_q4_0_vnni_experts_view view() const noexcept { return {experts_, layout_, stride_, data_.data()}; }
    packed_q4_0_vnni_view expert(std::int64_t e) const noexcept { return view().expert(e); }

private:
    std::int64_t experts_ = 0;
    q4_0_vnni_layout layout_{};
    std::int64_t stride_ = 0;
    aligned_buffer data_;
};

namespace detail {

/// Throws unless (E, N, K) describe packable experts whose total size fits in int64.
inline void validate_experts_shape(std::int64_t experts, std::int64_t n, std::int64_t k, const char* fn) {
    require(experts > 0 && experts <= (std::int64_t(1) << 31), errc::invalid_argument, fn, "experts (E) = ", experts,
            " must be in [1, 2^31]");
    validate_q4_0_vnni_shape(n, k, fn);
    q4_0_vnni_layout L;
    L.n = n;
    L.k = k;
    require(L.total_bytes() <= (std::int64_t(1) << 60) / experts, errc::invalid_argument, fn, "E x N x K = ", experts,
            " x ", n, " x ", k, " is too large");
}

/// Throws unless v is a usable experts view (shape, data, alignment, stride).
inline void validate_experts_view(const packed_q4_0_vnni_experts_view& v, const char* fn, const char* name) {
    validate_experts_shape(v.experts, v.layout.n, v.layout.k, fn);
    require(v.data != nullptr, errc::invalid_argument, fn, name, ".data is null");
    require(is_aligned(v.data, cache_line_bytes), errc::invalid_argument, fn, name, ".data = ",
            static_cast<const void*>(v.data), " is not 64-byte aligned");
    require(v.expert_stride >= v.layout.total_bytes() && v.expert_stride % std::int64_t(cache_line_bytes) == 0 &&
                v.expert_stride <= (std::int64_t(1) << 60) / v.experts,
            errc::invalid_argument, fn, name, ".expert_stride = ", v.expert_stride,
            " must be a multiple of 64 and at least the ", v.layout.total_bytes(), " bytes of one expert");
}

}  // namespace detail

/// Packs a GGUF 3-D Q4_0 tensor (E × N rows of K, expert after expert; `blocks` holds E·N·K/32
/// blocks) into one allocation, experts `layout.total_bytes()` apart. Panels of all experts are
/// packed in parallel on `ex`, each by one task, so the bytes do not depend on the executor.
template <class Executor>
packed_q4_0_vnni_experts pack_q4_0_vnni_experts(const block_q4_0* blocks, std::int64_t experts, std::int64_t n,
                                                std::int64_t k, Executor&& ex) {
    constexpr const char* fn = "pack_q4_0_vnni_experts";
    detail::validate_experts_shape(experts, n, k, fn);
    detail::require(blocks != nullptr, errc::invalid_argument, fn, "blocks is null");
    q4_0_vnni_layout L;
    L.n = n;
    L.k = k;
    const std::int64_t stride = L.total_bytes(), panels = L.panels();
    aligned_buffer buf(static_cast<std::size_t>(stride * experts));
    std::byte* base = buf.data();
    ex.parallel_for(experts * panels, [&](std::int64_t i) {
        const std::int64_t e = i / panels, p = i % panels;
        const q4_0_matrix_view w{blocks + e * n * L.blocks_per_row(), n, k};
        detail::pack_q4_0_vnni_panel(w, L, p, base + e * stride + p * L.panel_bytes());
    });
    return packed_q4_0_vnni_experts(experts, L, stride, std::move(buf));
}

/// Serial overload.
inline packed_q4_0_vnni_experts pack_q4_0_vnni_experts(const block_q4_0* blocks, std::int64_t experts,
                                                       std::int64_t n, std::int64_t k) {
    return pack_q4_0_vnni_experts(blocks, experts, n, k, serial_executor{});
}

/// Validates caller-provided packed experts (e.g. memory-mapped) and returns a view.
/// expert_stride = 0 means densely packed (one expert's total_bytes()).
inline packed_q4_0_vnni_experts_view make_packed_q4_0_vnni_experts_view(std::int64_t experts, std::int64_t n,
                                                                        std::int64_t k, const void* data,
                                                                        std::size_t size_bytes,
                                                                        std::int64_t expert_stride = 0) {
    constexpr const char* fn = "make_packed_q4_0_vnni_experts_view";
    detail::validate_experts_shape(experts, n, k, fn);
    packed_q4_0_vnni_experts_view v;
    v.experts = experts;
    v.layout.n = n;
    v.layout.k = k;
    v.expert_stride = expert_stride == 0 ? v.layout.total_bytes() : expert_stride;
    v.data = static_cast<const std::byte*>(data);
    detail::validate_experts_view(v, fn, "view");
    const std::int64_t need = (experts - 1) * v.expert_stride + v.layout.total_bytes();
    detail::require(size_bytes >= static_cast<std::size_t>(need), errc::buffer_too_small, fn, "size_bytes = ",
                    size_bytes, " is less than the ", need, " bytes ", experts, " experts of ", n, " x ", k, " need");
    return v;
}

/// Writes the GGUF blocks (E × N × K/32, expert after expert) back; exact inverse of packing.
template <class Executor>
void unpack_q4_0_vnni_experts(const packed_q4_0_vnni_experts_view& v, block_q4_0* out, std::size_t out_blocks,
                              Executor&& ex) {
    constexpr const char* fn = "unpack_q4_0_vnni_experts";
    detail::validate_experts_view(v, fn, "v");
    detail::require(out != nullptr, errc::invalid_argument, fn, "out is null");
    const std::int64_t per_expert = v.layout.n * v.layout.blocks_per_row();
    const std::size_t need = static_cast<std::size_t>(v.experts * per_expert);
    detail::require(out_blocks >= need, errc::buffer_too_small, fn, "out_blocks = ", out_blocks, " is less than the ",
                    need, " blocks of ", v.experts, " experts of ", v.layout.n, " x ", v.layout.k);
    const std::int64_t panels = v.layout.panels();
    ex.parallel_for(v.experts * panels, [&](std::int64_t i) {
        const std::int64_t e = i / panels;
        detail::unpack_q4_0_vnni_panel(v.expert(e), i % panels, out + e * per_expert);
    });
}

inline std::vector<block_q4_0> unpack_q4_0_vnni_experts(const packed_q4_0_vnni_experts_view& v) {
    detail::validate_experts_view(v, "unpack_q4_0_vnni_experts", "v");  // before sizing the vector
    std::vector<block_q4_0> out(static_cast<std::size_t>(v.experts * v.layout.n * v.layout.blocks_per_row()));
    unpack_q4_0_vnni_experts(v, out.data(), out.size(), serial_executor{});
    return out;
}

// ---- gate and up projections packed together ------------------------------------------------------
//
// moe_ffn multiplies every expert's rows by two F × K matrices, gate and up, with the same activation
// rows. Packed together, expert e is one q4_0_vnni weight of 2F rows whose 16-row panels alternate:
//     panel 2j     = gate rows [16j, 16j + 16)          panel 2j + 1 = up rows [16j, 16j + 16)
// A micro-kernel's 32-column block (two panels, tiles b0 and b1) then holds 16 gate columns and the
// matching 16 up columns, so every activation tile loaded feeds both projections: one pass over A
// instead of two. F must be a multiple of 32 (it is down's K).

/// Non-owning view of E experts' gate and up projections packed together (see above).
struct packed_q4_0_vnni_gate_up_view {
    packed_q4_0_vnni_experts_view fused;  ///< E experts of 2F × K, panels alternating gate / up
    std::int64_t f() const noexcept { return fused.layout.n / 2; }  ///< F, the expert hidden size
};

/// Owning gate + up experts (one allocation). A CPU type, like packed_q4_0_vnni_experts.
class packed_q4_0_vnni_gate_up {
public:
    packed_q4_0_vnni_gate_up() = default;
    explicit packed_q4_0_vnni_gate_up(packed_q4_0_vnni_experts fused) : fused_(std::move(fused)) {}

    std::int64_t experts() const noexcept { return fused_.experts(); }
    std::int64_t f() const noexcept { return fused_.rows() / 2; }  ///< F of gate and of up
    std::int64_t cols() const noexcept { return fused_.cols(); }   ///< K
    std::size_t size_bytes() const noexcept { return fused_.size_bytes(); }
    packed_q4_0_vnni_gate_up_view view() const noexcept { return {fused_.view()}; }

private:
    packed_q4_0_vnni_experts fused_;
};

namespace detail {
/// Throws unless v is a usable gate + up view (a valid experts view of 2F rows, F a multiple of 32).
inline void validate_gate_up_view(const packed_q4_0_vnni_gate_up_view& v, const char* fn, const char* name) {
    validate_experts_view(v.fused, fn, name);
    require(v.fused.layout.n % 64 == 0, errc::invalid_argument, fn, name, ".fused has ", v.fused.layout.n,
            " rows: gate + up of F rows each need 2F rows with F a multiple of 32");
}
}  // namespace detail

/// Packs GGUF 3-D Q4_0 gate and up tensors (each E × F rows of K, expert after expert) together, in
/// parallel on `ex` (one task per panel: the bytes do not depend on the executor).
template <class Executor>
packed_q4_0_vnni_gate_up pack_q4_0_vnni_gate_up(const block_q4_0* gate, const block_q4_0* up, std::int64_t experts,
                                                std::int64_t f, std::int64_t k, Executor&& ex) {
    constexpr const char* fn = "pack_q4_0_vnni_gate_up";
    detail::require(f > 0 && f % 32 == 0, errc::invalid_argument, fn, "F = ", f, " is not a positive multiple of 32");
    detail::validate_experts_shape(experts, 2 * f, k, fn);
    detail::require(gate != nullptr, errc::invalid_argument, fn, "gate is null");
    detail::require(up != nullptr, errc::invalid_argument, fn, "up is null");
    q4_0_vnni_layout one;  // of gate or up alone: F rows
    one.n = f;
    one.k = k;
    q4_0_vnni_layout fused = one;
    fused.n = 2 * f;
    const std::int64_t stride = fused.total_bytes(), panels = fused.panels();
    aligned_buffer buf(static_cast<std::size_t>(stride * experts));
    std::byte* base = buf.data();
    ex.parallel_for(experts * panels, [&](std::int64_t i) {
        const std::int64_t e = i / panels, p = i % panels;
        const q4_0_matrix_view src{(p % 2 == 0 ? gate : up) + e * f * one.blocks_per_row(), f, k};
        detail::pack_q4_0_vnni_panel(src, one, p / 2, base + e * stride + p * fused.panel_bytes());
    });
    return packed_q4_0_vnni_gate_up(packed_q4_0_vnni_experts(experts, fused, stride, std::move(buf)));
}

/// Serial overload.
inline packed_q4_0_vnni_gate_up pack_q4_0_vnni_gate_up(const block_q4_0* gate, const block_q4_0* up,
                                                       std::int64_t experts, std::int64_t f, std::int64_t k) {
    return pack_q4_0_vnni_gate_up(gate, up, experts, f, k, serial_executor{});
}

/// Writes the GGUF gate and up blocks (each E × F × K/32, expert after expert) back; exact inverse of
/// pack_q4_0_vnni_gate_up.
inline void unpack_q4_0_vnni_gate_up(const packed_q4_0_vnni_gate_up_view& v, block_q4_0* gate, block_q4_0* up,
                                     std::size_t blocks_each) {
    constexpr const char* fn = "unpack_q4_0_vnni_gate_up";
    detail::validate_gate_up_view(v, fn, "v");
    detail::require(gate != nullptr && up != nullptr, errc::invalid_argument, fn, "gate or up is null");
    const std::int64_t f = v.f(), nb = v.fused.layout.blocks_per_row();
    const std::size_t need = static_cast<std::size_t>(v.fused.experts * f * nb);
    detail::require(blocks_each >= need, errc::buffer_too_small, fn, "blocks_each = ", blocks_each, " is less than the ",
                    need, " blocks of ", v.fused.experts, " experts of ", f, " x ", v.fused.layout.k);
    const std::int64_t panels = v.fused.layout.panels();
    for (std::int64_t e = 0; e < v.fused.experts; ++e)
        for (std::int64_t p = 0; p < panels; ++p) {
            // Unpack the fused panel as panel 0 of a one-panel weight, into 16 rows of its matrix.
            packed_q4_0_vnni_view panel;
            panel.layout.n = q4_0_vnni_layout::panel_rows;
            panel.layout.k = v.fused.layout.k;
            panel.data = v.fused.expert(e).data + p * v.fused.layout.panel_bytes();
            block_q4_0* dst = (p % 2 == 0 ? gate : up) + (e * f + (p / 2) * q4_0_vnni_layout::panel_rows) * nb;
            detail::unpack_q4_0_vnni_panel(panel, 0, dst);
        }
}

AMXMM_NAMESPACE_END
