// A 64-byte-aligned owning byte buffer (cache-line and AVX-512/AMX-tile-row aligned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "error.hpp"

AMXMM_NAMESPACE_BEGIN

inline constexpr std::size_t cache_line_bytes = 64;

/// Rounds n up to a multiple of `to` (to > 0).
constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }
constexpr std::int64_t round_up(std::int64_t n, std::int64_t to) noexcept { return (n + to - 1) / to * to; }

inline bool is_aligned(const void* p, std::size_t alignment) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

/// Owning, move-only, 64-byte-aligned storage. Sizes are 64-bit: multi-GiB weights are fine.
class aligned_buffer {
public:
    aligned_buffer() noexcept = default;
    /// Allocates `bytes` bytes (not initialised unless `zero` is true).
    explicit aligned_buffer(std::size_t bytes, bool zero = false) { allocate(bytes, zero); }
    aligned_buffer(const aligned_buffer&) = delete;
    aligned_buffer& operator=(const aligned_buffer&) = delete;
    aligned_buffer(aligned_buffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    aligned_buffer& operator=(aligned_buffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~aligned_buffer() { release(); }

    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    template <class T> T* as() noexcept { return reinterpret_cast<T*>(data_); }
    template <class T> const T* as() const noexcept { return reinterpret_cast<const T*>(data_); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    void allocate(std::size_t bytes, bool zero) {
        if (bytes == 0) return;
        detail::require(bytes <= std::numeric_limits<std::size_t>::max() - cache_line_bytes,
                        errc::invalid_argument, "aligned_buffer", "size ", bytes, " is too large");
        // std::aligned_alloc needs a size that is a multiple of the alignment.
        void* p = std::aligned_alloc(cache_line_bytes, round_up(bytes, cache_line_bytes));
        if (!p) detail::fail(errc::system, "aligned_buffer", "allocation of ", bytes, " bytes failed");
        data_ = static_cast<std::byte*>(p);
        size_ = bytes;
        if (zero) std::memset(data_, 0, bytes);
    }
    void release() noexcept {
        std::free(data_);
        data_ = nullptr;
        size_ = 0;
    }

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

AMXMM_NAMESPACE_END
