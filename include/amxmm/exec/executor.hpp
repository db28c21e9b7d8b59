// Executors run the independent tasks a driver produces. An executor is any object with
//
//     template <class Fn> void parallel_for(std::int64_t count, Fn&& fn);   // calls fn(i), i < count
//
// that returns after every call finished and rethrows an exception thrown by one of them.
// Drivers give each output element to exactly one task with a fixed K order, so the choice of
// executor and its thread count never changes a result bit.
//
// One call of fn may wait for another that has already started (the MoE drivers' task queue,
// gemm/dense_gemm.hpp run_task_queue): an executor must let a started call run on while others wait,
// as any pool of threads does (not, say, fibers that switch only when a call returns). The drivers use
// the queue only on executors without per-caller task lists (every_caller_runs) and on one partition.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/serial_executor.hpp"  // serial_executor

#if defined(AMXMM_HAVE_TBB)
#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#endif

#if defined(AMXMM_HAVE_HWLOC) && AMXMM_HAVE_HWLOC && __has_include(<hwloc.h>)
#include <hwloc.h>
#define AMXMM_EXEC_HWLOC 1
#endif

AMXMM_NAMESPACE_BEGIN

namespace detail {
/// NUMA nodes of this machine as hwloc sees them (1 when unknown), read once.
inline int numa_node_count() {
    static const int count = [] {
        int n = 1;
#if defined(AMXMM_EXEC_HWLOC)
        hwloc_topology_t topo = nullptr;
        if (hwloc_topology_init(&topo) == 0) {
            if (hwloc_topology_load(topo) == 0) n = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
            hwloc_topology_destroy(topo);
        }
#endif
        return n;
    }();
    return count;
}

/// True when this build runs under AddressSanitizer, which refuses the RTLD_DEEPBIND dlopen oneTBB
/// uses to load tbbbind (the process aborts).
constexpr bool built_with_asan() noexcept {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}
}  // namespace detail


#if defined(AMXMM_HAVE_TBB)
/// Runs tasks on oneTBB worker threads inside task_arenas of its own, so amxmm's parallelism is
/// bounded independently of the host's other TBB work.
///
/// NUMA. On a machine with several NUMA nodes (hwloc counts them; oneTBB's tbbbind gives their ids),
/// the executor keeps one arena per node, its threads constrained to that node, and the thread
/// budget split over the nodes by their core counts. Tasks then have a home partition:
///   parallel_for(count, fn)                 task i runs on partition partition_of(i, count), a
///                                           contiguous split (the first count/P tasks on node 0, ...);
///   parallel_for_affine(count, home, fn)    task i runs on partition home(i).
/// amxmm's packers use parallel_for over panels, so the pages of panel p are first touched (and so
/// placed) on partition partition_of(p, panels); the drivers send the task that reads panel p to that
/// same partition (exec/affinity in gemm/). On one node there is one arena and both calls are the
/// plain oneTBB loop. A home never changes which task computes an element: results stay bitwise
/// identical for any partitioning and thread count.
class tbb_executor {
public:
    /// threads <= 0 means all hardware threads TBB sees (respecting the process affinity mask).
    /// numa_aware = false keeps one unconstrained arena even on a multi-node machine.
    explicit tbb_executor(int threads = 0, bool numa_aware = true) {
        detail::require(threads >= 0, errc::invalid_argument, "tbb_executor", "threads = ", threads, " is negative");
        // Ask oneTBB for its node ids (loading tbbbind) only where hwloc finds several nodes: one-node
        // machines never load it, and ASan builds (which cannot) stay on one arena.
        const bool several = numa_aware && !detail::built_with_asan() && detail::numa_node_count() > 1;
        const std::vector<tbb::numa_node_id> nodes = several ? tbb::info::numa_nodes() : std::vector<tbb::numa_node_id>{};
        if (nodes.size() <= 1) {
            const int n = threads > 0 ? threads : int(tbb::task_arena::automatic);  // a copy: make_unique binds a reference
            arenas_.push_back(std::make_unique<tbb::task_arena>(n));
            return;
        }
        // Split the budget by each node's default concurrency (its PUs in this process's mask).
        std::vector<int> share(nodes.size());
        int total = 0;
        for (std::size_t i = 0; i < nodes.size(); ++i) total += share[i] = std::max(1, tbb::info::default_concurrency(nodes[i]));
        const int budget = threads > 0 ? threads : total;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            tbb::task_arena::constraints c;
            c.numa_id = nodes[i];
            c.max_concurrency = std::max(1, static_cast<int>(std::int64_t(budget) * share[i] / total));
            arenas_.push_back(std::make_unique<tbb::task_arena>(c));
        }
    }

    /// A testing aid: `partitions` unconstrained arenas of threads/partitions threads each (at least
    /// one), so the multi-node code paths run — and are checked — on a one-node machine.
    static tbb_executor with_partitions(int threads, int partitions) {
        detail::require(threads >= 1 && partitions >= 1, errc::invalid_argument, "tbb_executor::with_partitions",
                        "threads = ", threads, " and partitions = ", partitions, " must be >= 1");
        tbb_executor ex;
        ex.arenas_.clear();
        for (int i = 0; i < partitions; ++i) ex.arenas_.push_back(std::make_unique<tbb::task_arena>(std::max(1, threads / partitions)));
        return ex;
    }

    /// Arenas (NUMA nodes); 1 on a one-node machine.
    int partitions() const noexcept { return static_cast<int>(arenas_.size()); }

    /// The home partition of item i of `count` under the contiguous split.
    int partition_of(std::int64_t i, std::int64_t count) const noexcept {
        return partitions() == 1 || count <= 0 ? 0 : static_cast<int>(i * partitions() / count);
    }

    template <class Fn>
    void parallel_for(std::int64_t count, Fn&& fn) {
        if (count <= 0) return;
        if (partitions() == 1) {
            run_in(0, count, [](std::int64_t i) { return i; }, fn);
            return;
        }
        parallel_for_affine(count, [&](std::int64_t i) { return partition_of(i, count); }, fn);
    }

    /// Runs fn(i) for i < count, task i on partition home(i) (taken modulo partitions()). The
    /// partitions run concurrently; within one, tasks keep their ascending order of i.
    template <class Home, class Fn>
    void parallel_for_affine(std::int64_t count, Home&& home, Fn&& fn) {
        if (count <= 0) return;
        if (partitions() == 1) {
            run_in(0, count, [](std::int64_t i) { return i; }, fn);
            return;
        }
        std::vector<std::vector<std::int64_t>> tasks(arenas_.size());
        for (std::int64_t i = 0; i < count; ++i) {
            const int p = static_cast<int>(home(i)) % partitions();
            tasks[static_cast<std::size_t>(p < 0 ? p + partitions() : p)].push_back(i);
        }
        // One task_group per arena: started in every arena, then waited for in every arena (oneTBB's
        // pattern for work spread over NUMA arenas). Every group is waited for before an exception
        // of one of them is rethrown, so no task outlives the call.
        std::vector<tbb::task_group> groups(arenas_.size());
        for (std::size_t p = 0; p < arenas_.size(); ++p) {
            if (tasks[p].empty()) continue;
            arenas_[p]->execute([&, p] {
                groups[p].run([&, p] {
                    const std::vector<std::int64_t>& mine = tasks[p];
                    run_in(p, static_cast<std::int64_t>(mine.size()), [&](std::int64_t j) { return mine[std::size_t(j)]; }, fn);
                });
            });
        }
        std::exception_ptr first;
        for (std::size_t p = 0; p < arenas_.size(); ++p) {
            if (tasks[p].empty()) continue;
            arenas_[p]->execute([&, p] {
                try {
                    groups[p].wait();
                } catch (...) {
                    if (!first) first = std::current_exception();
                }
            });
        }
        if (first) std::rethrow_exception(first);
    }

    /// Threads over all partitions.
    int concurrency() {
        int n = 0;
        for (auto& a : arenas_) n += a->max_concurrency();
        return n;
    }

private:
    /// fn(index(j)) for j < count on arena p's threads. Isolation: while a thread waits for this loop,
    /// it runs only this loop's tasks — without it, a thread waiting inside one amxmm call could pick
    /// up a task of another call on the same arena and reuse per-thread scratch the first still needs.
    template <class Index, class Fn>
    void run_in(std::size_t p, std::int64_t count, Index&& index, Fn& fn) {
        arenas_[p]->execute([&] {
            tbb::this_task_arena::isolate([&] {
                tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, count, 1),
                                  [&](const tbb::blocked_range<std::int64_t>& r) {
                                      for (std::int64_t j = r.begin(); j != r.end(); ++j) fn(index(j));
                                  });
            });
        });
    }

    std::vector<std::unique_ptr<tbb::task_arena>> arenas_;
};
#endif

AMXMM_NAMESPACE_END
