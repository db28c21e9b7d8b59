// Cache sizes of this machine, for the drivers' cache blocking (never constants tuned to one box).
#pragma once

#include <unistd.h>

#include <cstdint>

#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN

struct cache_sizes {
    std::int64_t l1d = 0;  ///< bytes of level-1 data cache per core
    std::int64_t l2 = 0;   ///< bytes of level-2 cache per core
    std::int64_t l3 = 0;   ///< bytes of last-level cache (shared)
};

/// Read once from the C library (sysconf), with conservative defaults where it does not know.
inline const cache_sizes& detected_cache_sizes() {
    static const cache_sizes sizes = [] {
        auto read = [](int name, std::int64_t fallback) {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
            const long v = sysconf(name);
            return v > 0 ? std::int64_t(v) : fallback;
#else
            (void)name;
            return fallback;
#endif
        };
        cache_sizes s;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
        s.l1d = read(_SC_LEVEL1_DCACHE_SIZE, 32 * 1024);
        s.l2 = read(_SC_LEVEL2_CACHE_SIZE, 1024 * 1024);
        s.l3 = read(_SC_LEVEL3_CACHE_SIZE, 8 * 1024 * 1024);
#else
        s = {32 * 1024, 1024 * 1024, 8 * 1024 * 1024};
#endif
        return s;
    }();
    return sizes;
}

AMXMM_NAMESPACE_END
