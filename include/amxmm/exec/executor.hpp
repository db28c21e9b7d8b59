// Executors run the independent tasks a driver produces. An executor is any object with
//
//     template <class Fn> void parallel_for(std::int64_t count, Fn&& fn);   // calls fn(i), i < count
//
// that returns after every call finished and rethrows an exception thrown by one of them.
// Drivers give each output element to exactly one task with a fixed K order, so the choice of
// executor and its thread count never changes a result bit.
#pragma once

#include <cstdint>
#include <utility>

#include "../core/error.hpp"
#include "../core/serial_executor.hpp"  // serial_executor

#if defined(AMXMM_HAVE_TBB)
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

AMXMM_NAMESPACE_BEGIN


#if defined(AMXMM_HAVE_TBB)
/// Runs tasks on oneTBB worker threads inside its own task_arena of `threads` threads, so amxmm's
/// parallelism is bounded independently of the host's other TBB work.
class tbb_executor {
public:
    /// threads <= 0 means all hardware threads TBB sees (respecting the process affinity mask).
    explicit tbb_executor(int threads = 0) : arena_(threads > 0 ? threads : tbb::task_arena::automatic) {
        detail::require(threads >= 0, errc::invalid_argument, "tbb_executor", "threads = ", threads, " is negative");
    }
    template <class Fn>
    void parallel_for(std::int64_t count, Fn&& fn) {
        if (count <= 0) return;
        // Isolation: while this thread waits for the loop, it runs only this loop's tasks. Without
        // it, a thread waiting inside one amxmm call could pick up a task of another call on the
        // same arena and reuse per-thread scratch that the first call still needs.
        arena_.execute([&] {
            tbb::this_task_arena::isolate([&] {
                tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, count, 1),
                                  [&](const tbb::blocked_range<std::int64_t>& r) {
                                      for (std::int64_t i = r.begin(); i != r.end(); ++i) fn(i);
                                  });
            });
        });
    }
    int concurrency() { return arena_.max_concurrency(); }

private:
    tbb::task_arena arena_;
};
#endif

AMXMM_NAMESPACE_END
