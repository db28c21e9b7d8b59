// The packed Q4_0 weight layout used by the AMX and AVX-512 kernels ("q4_0_vnni", version 1).
//
// A weight W (N rows of K, GGUF Q4_0) is cut into panels of 16 rows — one AMX tile's worth of output
// columns. Panel p holds rows 16p .. 16p+15 (rows past N are padding: zero scale, zero values).
// Inside a panel, K is walked in groups of two Q4_0 blocks (64 K):
//
//   panel p  (panel_bytes, a multiple of 64; panels are 64-byte aligned)
//   ├─ group 0 (576 B = 9 cache lines) ── quants of block 0 (256 B) │ quants of block 1 (256 B) │
//   │                                     scales d[block 0][16 rows] (32 B) │ d[block 1][16 rows] (32 B)
//   ├─ group 1 (576 B)  ...
//   └─ last group when K/32 is odd: quants (256 B) │ scales (32 B)   (then zero padding to 64 B)
//
// The 256 quant bytes of one block are four 64-byte chunks. Byte p of chunk c (c = 0..3, p = 0..63)
// holds, for weight row n = p / 4 and j = p % 4, the raw Q4_0 nibbles (value + 8) of
//   low  nibble: element k = 8c + j        of row n
//   high nibble: element k = 8c + 4 + j    of row n
// so one 64-byte load, masked (& 0xF) and shifted (>> 4), gives two consecutive rows of the AMX int8
// VNNI B tile for that block: tile row r holds, for each of the 16 columns n, the 4 consecutive K
// values 4r .. 4r+3. The bf16 VNNI layout (2 consecutive K per 32-bit lane, tile rows of 16 × 2) is
// the even and odd 16-bit words of those int8 rows, converted and multiplied by the row's scale.
// Storage is 4.5 bits per weight plus padding: rows up to a multiple of 16 and each panel up to a
// multiple of 64 bytes (zero padding when K is a multiple of 64).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/aligned_buffer.hpp"
#include "../core/error.hpp"
#include "../core/serial_executor.hpp"
#include "../format/reference_gemm.hpp"

AMXMM_NAMESPACE_BEGIN

enum class packed_format : std::uint32_t { q4_0_vnni = 1 };

/// Geometry of a q4_0_vnni packed weight. Everything else is derived from (n, k).
struct q4_0_vnni_layout {
    static constexpr std::uint32_t version = 1;
    static constexpr packed_format format = packed_format::q4_0_vnni;
    static constexpr int panel_rows = 16;        // weight rows (output columns) per panel
    static constexpr int block_quant_bytes = 256;  // 16 rows × 32 elements × 4 bits
    static constexpr int block_scale_bytes = 32;   // 16 rows × fp16
    static constexpr int group_bytes = 2 * (block_quant_bytes + block_scale_bytes);  // 576

    std::int64_t n = 0;  // weight rows (N)
    std::int64_t k = 0;  // elements per row (K), a multiple of 32

    std::int64_t blocks_per_row() const noexcept { return k / block_k; }
    std::int64_t panels() const noexcept { return (n + panel_rows - 1) / panel_rows; }
    std::int64_t panel_bytes() const noexcept {
        const std::int64_t nb = blocks_per_row();
        const std::int64_t used = (nb / 2) * group_bytes + (nb % 2) * (block_quant_bytes + block_scale_bytes);
        return round_up(used, std::int64_t(cache_line_bytes));
    }
    std::int64_t total_bytes() const noexcept { return panels() * panel_bytes(); }
    /// Offset, inside a panel, of block b's 256 quant bytes.
    std::int64_t quants_offset(std::int64_t b) const noexcept {
        return (b / 2) * group_bytes + (b % 2) * block_quant_bytes;
    }
    /// Offset, inside a panel, of block b's 16 fp16 scales.
    std::int64_t scales_offset(std::int64_t b) const noexcept {
        const bool pair_complete = (b | 1) < blocks_per_row();
        return (b / 2) * group_bytes + (pair_complete ? 2 * block_quant_bytes + (b % 2) * block_scale_bytes
                                                      : block_quant_bytes);
    }
    /// Bytes that are not weights or scales, relative to GGUF's 4.5 bits/weight.
    double padding_fraction() const noexcept {
        const double useful = double(n) * double(k) * 4.5 / 8.0;
        return useful > 0 ? double(total_bytes()) / useful - 1.0 : 0.0;
    }
};

/// Throws amxmm::error unless (n, k) can be packed.
inline void validate_q4_0_vnni_shape(std::int64_t n, std::int64_t k, const char* fn) {
    detail::require(n > 0, errc::invalid_argument, fn, "N (weight rows) = ", n, " must be positive");
    detail::require(k > 0 && k % block_k == 0, errc::invalid_argument, fn, "K = ", k,
                    " must be a positive multiple of 32");
    // Bounds each side and the padded element count (<= 2^56, so byte sizes and offsets fit in int64).
    detail::require(k <= (std::int64_t(1) << 40) && n <= (std::int64_t(1) << 40) &&
                        round_up(n, std::int64_t(q4_0_vnni_layout::panel_rows)) <= (std::int64_t(1) << 56) / k,
                    errc::invalid_argument, fn, "shape ", n, " x ", k, " is too large");
}

/// Non-owning view of q4_0_vnni packed data (e.g. memory-mapped or owned elsewhere). 64-byte aligned.
struct packed_q4_0_vnni_view {
    q4_0_vnni_layout layout;
    const std::byte* data = nullptr;

    const std::byte* panel(std::int64_t p) const noexcept { return data + p * layout.panel_bytes(); }
    const std::uint8_t* quants(std::int64_t p, std::int64_t b) const noexcept {
        return reinterpret_cast<const std::uint8_t*>(panel(p) + layout.quants_offset(b));
    }
    const fp16* scales(std::int64_t p, std::int64_t b) const noexcept {
        return reinterpret_cast<const fp16*>(panel(p) + layout.scales_offset(b));
    }
};

/// An owning packed Q4_0 weight for the CPU kernels. It is a CPU type on purpose: CUDA entry points
/// take a different type, so a VNNI-packed weight can never be handed to the GPU.
class packed_q4_0_vnni {
public:
    packed_q4_0_vnni() = default;
    packed_q4_0_vnni(q4_0_vnni_layout layout, aligned_buffer data) : layout_(layout), data_(std::move(data)) {}

    const q4_0_vnni_layout& layout() const noexcept { return layout_; }
    std::int64_t rows() const noexcept { return layout_.n; }
    std::int64_t cols() const noexcept { return layout_.k; }
    const std::byte* data() const noexcept { return data_.data(); }
    std::byte* data() noexcept { return data_.data(); }
    std::size_t size_bytes() const noexcept { return data_.size(); }
    bool empty() const noexcept { return data_.empty(); }
    packed_q4_0_vnni_view view() const noexcept { return {layout_, data_.data()}; }

private:
    q4_0_vnni_layout layout_{};
    aligned_buffer data_;
};

namespace detail {

/// Little-endian 64-bit load / 32-bit store spelled byte by byte: portable, and compilers turn each
/// into one move on little-endian targets.
inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
    return std::uint64_t(p[0]) | std::uint64_t(p[1]) << 8 | std::uint64_t(p[2]) << 16 | std::uint64_t(p[3]) << 24 |
           std::uint64_t(p[4]) << 32 | std::uint64_t(p[5]) << 40 | std::uint64_t(p[6]) << 48 | std::uint64_t(p[7]) << 56;
}
inline void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v >> 16);
    p[3] = static_cast<std::uint8_t>(v >> 24);
}

/// Packs one 16-row panel from GGUF rows (rows >= n_valid are padding). Writes every byte of the panel.
inline void pack_q4_0_vnni_panel(const q4_0_matrix_view& w, const q4_0_vnni_layout& L, std::int64_t p,
                                 std::byte* panel) {
    const std::int64_t nb = L.blocks_per_row();
    const std::int64_t row0 = p * L.panel_rows;
    const int valid = static_cast<int>(std::min<std::int64_t>(L.panel_rows, w.rows - row0));
    // Blocks fill [0, used) exactly; the rest (< 64 bytes) is zero padding.
    const std::int64_t used = L.scales_offset(nb - 1) + L.block_scale_bytes;
    std::memset(panel + used, 0, static_cast<std::size_t>(L.panel_bytes() - used));
    const block_q4_0* rows[q4_0_vnni_layout::panel_rows];
    for (int r = 0; r < valid; ++r) rows[r] = w.row(row0 + r);
    // A GGUF block's qs[0..7] as a little-endian word a holds elements 0..7 (low nibbles) and 16..23
    // (high nibbles); qs[8..15] (word c) elements 8..15 and 24..31. Chunk byte j of row r needs elements
    // (8c + j, 8c + 4 + j): masking a word to its low nibbles gives them in bytes j and 4 + j, and
    // "x | x >> 28" moves byte 4 + j's nibble up beside byte j's.
    constexpr std::uint64_t low4 = 0x0f0f0f0f0f0f0f0full;
    for (std::int64_t b = 0; b < nb; ++b) {
        auto* q = reinterpret_cast<std::uint8_t*>(panel + L.quants_offset(b));  // (4 chunks, 64) nibble pairs
        auto* d = reinterpret_cast<fp16*>(panel + L.scales_offset(b));           // (16) fp16
        for (int r = 0; r < valid; ++r) {
            const block_q4_0& src = rows[r][b];
            const std::uint64_t a = load_le64(src.qs), c = load_le64(src.qs + 8);
            const std::uint64_t x0 = a & low4, x1 = c & low4;                 // elements 0..7, 8..15
            const std::uint64_t x2 = (a >> 4) & low4, x3 = (c >> 4) & low4;  // elements 16..23, 24..31
            d[r] = src.d;
            store_le32(q + 0 * 64 + 4 * r, static_cast<std::uint32_t>(x0 | x0 >> 28));
            store_le32(q + 1 * 64 + 4 * r, static_cast<std::uint32_t>(x1 | x1 >> 28));
            store_le32(q + 2 * 64 + 4 * r, static_cast<std::uint32_t>(x2 | x2 >> 28));
            store_le32(q + 3 * 64 + 4 * r, static_cast<std::uint32_t>(x3 | x3 >> 28));
        }
        for (int r = valid; r < L.panel_rows; ++r) {  // padding row: value 0 (nibble 8), scale 0
            d[r] = fp16{0};
            for (int ch = 0; ch < 4; ++ch) std::memset(q + ch * 64 + 4 * r, 0x88, 4);
        }
    }
}

/// Restores the GGUF blocks of one panel's valid rows.
inline void unpack_q4_0_vnni_panel(const packed_q4_0_vnni_view& v, std::int64_t p, block_q4_0* out) {
    const q4_0_vnni_layout& L = v.layout;
    const std::int64_t nb = L.blocks_per_row();
    const std::int64_t row0 = p * L.panel_rows;
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* q = v.quants(p, b);
        const fp16* d = v.scales(p, b);
        for (int r = 0; r < L.panel_rows && row0 + r < L.n; ++r) {
            block_q4_0& dst = out[(row0 + r) * nb + b];
            dst.d = d[r];
            std::uint8_t nib[32];
            for (int c = 0; c < 4; ++c)
                for (int j = 0; j < 4; ++j) {
                    const std::uint8_t byte = q[c * 64 + r * 4 + j];
                    nib[8 * c + j] = byte & 0x0f;
                    nib[8 * c + 4 + j] = byte >> 4;
                }
            for (int j = 0; j < 16; ++j) dst.qs[j] = static_cast<std::uint8_t>(nib[j] | (nib[j + 16] << 4));
        }
    }
}

}  // namespace detail

/// Packs a GGUF Q4_0 weight (N rows of K) into the q4_0_vnni layout. Panels are packed in parallel
/// on `ex` (an amxmm executor, or any object with `parallel_for(count, fn)`); each panel is written
/// by exactly one task, so the result does not depend on the executor.
template <class Executor>
packed_q4_0_vnni pack_q4_0_vnni(const q4_0_matrix_view& w, Executor&& ex) {
    validate_q4_0_vnni_shape(w.rows, w.cols, "pack_q4_0_vnni");
    detail::require(w.blocks != nullptr, errc::invalid_argument, "pack_q4_0_vnni", "w.blocks is null");
    q4_0_vnni_layout L;
    L.n = w.rows;
    L.k = w.cols;
    aligned_buffer buf(static_cast<std::size_t>(L.total_bytes()));
    std::byte* base = buf.data();
    ex.parallel_for(L.panels(), [&](std::int64_t p) { detail::pack_q4_0_vnni_panel(w, L, p, base + p * L.panel_bytes()); });
    return packed_q4_0_vnni(L, std::move(buf));
}

/// Serial overload.
inline packed_q4_0_vnni pack_q4_0_vnni(const q4_0_matrix_view& w) { return pack_q4_0_vnni(w, serial_executor{}); }

/// Validates a caller-provided packed buffer (alignment, size) and returns a view of it.
inline packed_q4_0_vnni_view make_packed_q4_0_vnni_view(std::int64_t n, std::int64_t k, const void* data,
                                                        std::size_t size_bytes) {
    validate_q4_0_vnni_shape(n, k, "make_packed_q4_0_vnni_view");
    q4_0_vnni_layout L;
    L.n = n;
    L.k = k;
    detail::require(data != nullptr, errc::invalid_argument, "make_packed_q4_0_vnni_view", "data is null");
    detail::require(is_aligned(data, cache_line_bytes), errc::invalid_argument, "make_packed_q4_0_vnni_view",
                    "data = ", data, " is not 64-byte aligned");
    detail::require(size_bytes >= static_cast<std::size_t>(L.total_bytes()), errc::buffer_too_small,
                    "make_packed_q4_0_vnni_view", "size_bytes = ", size_bytes, " is less than the ",
                    L.total_bytes(), " bytes a ", n, " x ", k, " weight needs");
    return {L, static_cast<const std::byte*>(data)};
}

/// Writes the GGUF blocks (N × K/32, row after row) back; exact inverse of pack_q4_0_vnni.
template <class Executor>
void unpack_q4_0_vnni(const packed_q4_0_vnni_view& v, block_q4_0* out, std::size_t out_blocks, Executor&& ex) {
    validate_q4_0_vnni_shape(v.layout.n, v.layout.k, "unpack_q4_0_vnni");
    detail::require(v.data != nullptr && out != nullptr, errc::invalid_argument, "unpack_q4_0_vnni", "null pointer");
    detail::require(is_aligned(v.data, cache_line_bytes), errc::invalid_argument, "unpack_q4_0_vnni", "v.data = ",
                    static_cast<const void*>(v.data), " is not 64-byte aligned");
    const std::size_t need = static_cast<std::size_t>(v.layout.n * v.layout.blocks_per_row());
    detail::require(out_blocks >= need, errc::buffer_too_small, "unpack_q4_0_vnni", "out_blocks = ", out_blocks,
                    " is less than the ", need, " blocks of a ", v.layout.n, " x ", v.layout.k, " weight");
    ex.parallel_for(v.layout.panels(), [&](std::int64_t p) { detail::unpack_q4_0_vnni_panel(v, p, out); });
}

inline std::vector<block_q4_0> unpack_q4_0_vnni(const packed_q4_0_vnni_view& v) {
    validate_q4_0_vnni_shape(v.layout.n, v.layout.k, "unpack_q4_0_vnni");  // before sizing the vector
    std::vector<block_q4_0> out(static_cast<std::size_t>(v.layout.n * v.layout.blocks_per_row()));
    unpack_q4_0_vnni(v, out.data(), out.size(), serial_executor{});
    return out;
}

AMXMM_NAMESPACE_END
