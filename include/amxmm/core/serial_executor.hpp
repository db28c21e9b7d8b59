// The serial executor: runs every task on the calling thread, in order. It lives in core because the
// layers below exec/ (packing, drivers) default to it; exec/executor.hpp describes executors.
#pragma once

#include <cstdint>

#include "version.hpp"

AMXMM_NAMESPACE_BEGIN

struct serial_executor {
    template <class Fn>
    void parallel_for(std::int64_t count, Fn&& fn) const {
        for (std::int64_t i = 0; i < count; ++i) fn(i);
    }
    int concurrency() const noexcept { return 1; }
};

AMXMM_NAMESPACE_END
