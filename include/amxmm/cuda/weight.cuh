// GPU Q4_0 weights: a repack of GGUF Q4_0 blocks into two coalesced device arrays.
//
// Layout (q4_0_device_layout; E experts of N rows of K, E = 1 for a dense weight). Row r of the
// E·N rows (expert e's row n is r = e·N + n) holds K/32 GGUF blocks, padded to `row_blocks`
// (K/32 rounded up to even, so every row is a whole number of 64-element MMA steps):
//   qs : (E·N, row_blocks, 16) uint8   block b of row r at qs + (r·row_blocks + b)·16, the block's 16
//                                      bytes exactly as GGUF stores them (element j < 16 is the low
//                                      nibble of byte j, element j + 16 its high nibble)
//   d  : (E·N, row_blocks) fp16 bits   the block's scale at d[r·row_blocks + b]
// Padding blocks are all zero (d = 0, so they contribute 0). Both arrays are 256-byte aligned
// (cudaMalloc). Splitting quants and scales keeps every load 16-byte (quants) or contiguous (scales)
// for the GEMV's lanes and the MMA kernels' cp.async tiles, with 4.5 bits per weight (+ the pad block).
//
// The types here are the only weights the CUDA functions take. They have no conversion from the
// CPU's packed_q4_0_vnni(_view) — passing a VNNI-packed CPU weight to a CUDA function does not
// compile (tests/cuda/test_cuda_types.cu proves it). Upload from host GGUF blocks or a mmap'd GGUF
// tensor; download() returns the GGUF blocks bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../format/blocks.hpp"
#include "../format/reference_gemm.hpp"
#include "../gguf/reader.hpp"
#include "error.cuh"

AMXMM_NAMESPACE_BEGIN
namespace cuda {

/// Shape of a GPU Q4_0 weight: `experts` × `n` rows of `k` elements (see the file comment).
struct q4_0_device_layout {
    std::int64_t experts = 1;  ///< E (1 for a dense weight)
    std::int64_t n = 0;        ///< rows per expert (N)
    std::int64_t k = 0;        ///< elements per row (K), a multiple of 32
    std::int64_t blocks_per_row() const noexcept { return k / block_k; }
    /// Blocks stored per row: K/32 rounded up to even.
    std::int64_t row_blocks() const noexcept { return (blocks_per_row() + 1) / 2 * 2; }
    std::int64_t rows() const noexcept { return experts * n; }
    std::size_t qs_bytes() const noexcept { return std::size_t(rows() * row_blocks()) * 16; }
    std::size_t d_bytes() const noexcept { return std::size_t(rows() * row_blocks()) * 2; }
    std::size_t total_bytes() const noexcept { return qs_bytes() + d_bytes(); }
};

/// Non-owning view of a GPU Q4_0 weight (device pointers).
struct q4_0_device_view {
    q4_0_device_layout layout;
    const std::uint8_t* qs = nullptr;  ///< device, (E·N, row_blocks, 16)
    const std::uint16_t* d = nullptr;  ///< device, (E·N, row_blocks) fp16 bits

    /// Expert e as a dense (E = 1) view.
    q4_0_device_view expert(std::int64_t e) const noexcept {
        q4_0_device_view v = *this;
        v.layout.experts = 1;
        v.qs = qs + std::size_t(e * layout.n * layout.row_blocks()) * 16;
        v.d = d + std::size_t(e * layout.n * layout.row_blocks());
        return v;
    }
};

/// Owning device memory (cudaMalloc / cudaFree), move-only.
class device_buffer {
public:
    device_buffer() = default;
    explicit device_buffer(std::size_t bytes) : bytes_(bytes) {
        if (bytes) detail::check_cuda(cudaMalloc(&ptr_, bytes), "cuda::device_buffer", "cudaMalloc");
    }
    device_buffer(device_buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    device_buffer& operator=(device_buffer&& o) noexcept {
        if (this != &o) {
            reset();
            ptr_ = std::exchange(o.ptr_, nullptr);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    ~device_buffer() { reset(); }

    void* data() const noexcept { return ptr_; }
    std::size_t size() const noexcept { return bytes_; }
    void reset() noexcept {
        if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a failing free leaves nothing to do
        ptr_ = nullptr;
        bytes_ = 0;
    }

private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

/// A GPU Q4_0 weight that owns its device memory. Not copyable (device memory), movable.
class q4_0_weight {
public:
    q4_0_weight() = default;

    /// Uploads a dense GGUF Q4_0 matrix (N rows of K). Synchronous: returns when the copy is done
    /// (upload is not a hot-path call; it allocates).
    static q4_0_weight upload(const q4_0_matrix_view& w, cudaStream_t stream = nullptr) {
        return upload_experts(w, 1, stream);
    }

    /// Uploads E experts stacked as GGUF stores a 3-D tensor (ne = {K, N, E}): w.rows = E·N rows.
    static q4_0_weight upload_experts(const q4_0_matrix_view& w, std::int64_t experts, cudaStream_t stream = nullptr) {
        constexpr const char* fn = "cuda::q4_0_weight::upload";
        detail::require(experts >= 1, errc::invalid_argument, fn, "experts = ", experts, " must be >= 1");
        detail::require(w.cols > 0 && w.cols % block_k == 0, errc::invalid_argument, fn, "w.cols (K) = ", w.cols,
                        " is not a positive multiple of 32");
        detail::require(w.rows > 0 && w.rows % experts == 0, errc::invalid_argument, fn, "w.rows = ", w.rows,
                        " is not a positive multiple of experts = ", experts);
        detail::require(w.blocks != nullptr, errc::invalid_argument, fn, "w.blocks is null");
        q4_0_weight out;
        out.layout_ = {experts, w.rows / experts, w.cols};
        const q4_0_device_layout& L = out.layout_;
        const std::int64_t nb = L.blocks_per_row(), rb = L.row_blocks();
        std::vector<std::uint8_t> qs(L.qs_bytes(), 0);
        std::vector<std::uint16_t> d(std::size_t(L.rows() * rb), 0);
        for (std::int64_t r = 0; r < L.rows(); ++r)
            for (std::int64_t b = 0; b < nb; ++b) {
                const block_q4_0& blk = w.blocks[r * nb + b];
                std::memcpy(&qs[std::size_t(r * rb + b) * 16], blk.qs, 16);
                d[std::size_t(r * rb + b)] = blk.d.bits;
            }
        out.qs_ = device_buffer(L.qs_bytes());
        out.d_ = device_buffer(L.d_bytes());
        detail::check_cuda(cudaMemcpyAsync(out.qs_.data(), qs.data(), qs.size(), cudaMemcpyHostToDevice, stream), fn,
                           "cudaMemcpyAsync(qs)");
        detail::check_cuda(cudaMemcpyAsync(out.d_.data(), d.data(), L.d_bytes(), cudaMemcpyHostToDevice, stream), fn,
                           "cudaMemcpyAsync(d)");
        detail::check_cuda(cudaStreamSynchronize(stream), fn, "cudaStreamSynchronize");
        return out;
    }

    /// Uploads a Q4_0 tensor of a (mmap'd) GGUF file: 2-D → dense, 3-D (ne = {K, N, E}) → E experts.
    static q4_0_weight upload(const gguf_tensor_info& t, cudaStream_t stream = nullptr) {
        detail::require(t.n_dims <= 3, errc::invalid_argument, "cuda::q4_0_weight::upload", "tensor '", t.name,
                        "' has ", t.n_dims, " dimensions (2-D weights and 3-D expert stacks only)");
        return upload_experts(q4_0_matrix_of(t), t.n_dims == 3 ? t.dims[2] : 1, stream);
    }

    /// The GGUF blocks back (E·N rows of K/32 blocks), bit for bit what was uploaded. Synchronous.
    std::vector<block_q4_0> download(cudaStream_t stream = nullptr) const {
        constexpr const char* fn = "cuda::q4_0_weight::download";
        const q4_0_device_layout& L = layout_;
        const std::int64_t nb = L.blocks_per_row(), rb = L.row_blocks();
        std::vector<std::uint8_t> qs(L.qs_bytes());
        std::vector<std::uint16_t> d(std::size_t(L.rows() * rb));
        if (L.rows() > 0) {
            detail::check_cuda(cudaMemcpyAsync(qs.data(), qs_.data(), qs.size(), cudaMemcpyDeviceToHost, stream), fn,
                               "cudaMemcpyAsync(qs)");
            detail::check_cuda(cudaMemcpyAsync(d.data(), d_.data(), L.d_bytes(), cudaMemcpyDeviceToHost, stream), fn,
                               "cudaMemcpyAsync(d)");
            detail::check_cuda(cudaStreamSynchronize(stream), fn, "cudaStreamSynchronize");
        }
        std::vector<block_q4_0> out(std::size_t(L.rows() * nb));
        for (std::int64_t r = 0; r < L.rows(); ++r)
            for (std::int64_t b = 0; b < nb; ++b) {
                block_q4_0& blk = out[std::size_t(r * nb + b)];
                std::memcpy(blk.qs, &qs[std::size_t(r * rb + b) * 16], 16);
                blk.d.bits = d[std::size_t(r * rb + b)];
            }
        return out;
    }

    const q4_0_device_layout& layout() const noexcept { return layout_; }
    q4_0_device_view view() const noexcept {
        return {layout_, static_cast<const std::uint8_t*>(qs_.data()), static_cast<const std::uint16_t*>(d_.data())};
    }
    bool empty() const noexcept { return layout_.rows() == 0; }

private:
    q4_0_device_layout layout_{1, 0, 0};
    device_buffer qs_, d_;
};

}  // namespace cuda
AMXMM_NAMESPACE_END
