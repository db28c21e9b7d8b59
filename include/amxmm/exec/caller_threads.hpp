// Running amxmm on an engine's own threads: every one of the engine's nth threads calls the same
// amxmm function with the same arguments, its own index ith, and one shared caller_threads_sync.
//
//     amxmm::caller_threads_sync sync(nth);                 // once, shared by the nth threads
//     amxmm::aligned_buffer ws(amxmm::gemm_workspace_bytes(M, K));   // shared, 64-byte aligned
//     // on thread ith of nth:
//     amxmm::gemm_options opt;
//     opt.workspace = ws.data(); opt.workspace_bytes = ws.size();
//     amxmm::gemm_q4_0(w, M, x, K, y, N, opt, amxmm::caller_threads_executor{ith, nth, &sync});
//
// Each parallel_for phase gives task i to thread i % nth, then waits at the shared barrier, so a
// phase's results are complete before any thread starts the next. If a task throws, every thread
// throws that exception after the barrier (no thread is left waiting). A thread whose (ith, nth) is out
// of range, or whose ith another thread of the call already uses, makes every thread throw at the end of
// the call's first phase. Task ownership does not affect results: they are bitwise identical to any
// other executor's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>

#include "../core/error.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#endif

AMXMM_NAMESPACE_BEGIN

/// A reusable barrier for nth threads that also carries the first exception of each phase, and checks
/// that the threads arriving in a phase are nth different ones.
///
/// Waiting threads spin first (up to spin_limit, ~50 µs) and only then sleep on a condition variable:
/// the phases of a decode-sized call last tens of microseconds, and waking sleeping threads through
/// the kernel costs about as much (measured on the device, bench/RESULTS.md). An engine that runs
/// more threads than cores loses at most the spin limit per phase to the spinning.
class caller_threads_sync {
public:
    static constexpr std::chrono::microseconds spin_limit{50};

    explicit caller_threads_sync(int nth) : nth_(nth) {
        detail::require(nth > 0, errc::invalid_argument, "caller_threads_sync", "nth = ", nth, " must be positive");
        last_phase_ = std::make_unique<joined_phase[]>(std::size_t(nth));
    }
    caller_threads_sync(const caller_threads_sync&) = delete;
    caller_threads_sync& operator=(const caller_threads_sync&) = delete;

    int threads() const noexcept { return nth_; }

    /// Throws amxmm::error unless (ith, nth) names one of this sync's threads that has not yet joined the
    /// current phase (two threads with the same ith would leave another ith's tasks undone).
    void check_caller(int ith, int nth) {
        detail::require(nth == nth_ && ith >= 0 && ith < nth_, errc::invalid_argument, "caller_threads_executor",
                        "ith = ", ith, ", nth = ", nth, " do not describe one of the sync's ", nth_, " threads");
        const std::uint64_t phase = hot_.generation.load(std::memory_order_acquire);
        detail::require(last_phase_[std::size_t(ith)].phase.exchange(phase, std::memory_order_acq_rel) != phase,
                        errc::invalid_argument, "caller_threads_executor", "ith = ", ith,
                        " is used by two threads in one call (each of the nth threads needs its own ith)");
    }

    /// Records an exception for the current phase (the first one wins).
    void record(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mutex_);
        const std::uint64_t gen = hot_.generation.load(std::memory_order_relaxed);
        std::atomic<std::uint64_t>& slot_phase = hot_.error_phase[gen & 1];
        if (slot_phase.load(std::memory_order_relaxed) != gen) {
            errors_[gen & 1] = std::move(e);
            slot_phase.store(gen, std::memory_order_release);
        }
    }

    /// Waits until all nth threads arrived; returns the exception recorded in the phase that just
    /// ended, if any (every thread gets the same one).
    std::exception_ptr arrive_and_wait() {
        const std::uint64_t gen = hot_.generation.load(std::memory_order_acquire);
        if (hot_.arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == nth_) {
            hot_.arrived.store(0, std::memory_order_relaxed);
            {
                std::lock_guard<std::mutex> lock(mutex_);  // a sleeper checks the generation under it
                hot_.generation.store(gen + 1, std::memory_order_release);
            }
            cv_.notify_all();
        } else if (!spin_until_changed(gen)) {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return hot_.generation.load(std::memory_order_acquire) != gen; });
        }
        // Each phase's error has a slot of its own until phase gen + 2: a thread that already left this
        // barrier may record for phase gen + 1 before a late one reads this phase's, but none can record
        // for gen + 2 before every thread has arrived at gen + 1's barrier, after its read here.
        if (hot_.error_phase[gen & 1].load(std::memory_order_acquire) != gen) return nullptr;
        std::lock_guard<std::mutex> lock(mutex_);
        return errors_[gen & 1];
    }

private:
    static constexpr std::uint64_t no_phase = ~std::uint64_t(0);
    struct alignas(64) joined_phase {  // a cache line each: every thread writes its own in every phase
        std::atomic<std::uint64_t> phase{no_phase};
    };

    bool spin_until_changed(std::uint64_t gen) const {
        const auto start = std::chrono::steady_clock::now();
        for (;;) {
            for (int i = 0; i < 64; ++i) {
                if (hot_.generation.load(std::memory_order_acquire) != gen) return true;
                pause();
            }
            if (std::chrono::steady_clock::now() - start > spin_limit) return false;
        }
    }
    static void pause() noexcept {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
        _mm_pause();
#endif
    }

    const int nth_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::exception_ptr errors_[2];                             // by phase parity (hot_.error_phase says whose)
    std::unique_ptr<joined_phase[]> last_phase_;  // per ith: the last phase it joined
    // What the threads touch in every phase, on a cache line of its own: every arrival writes `arrived`, every
    // waiter spins on `generation` and then reads `error_phase` (the phase each slot of errors_ holds, by parity).
    // Nothing else, of the object's or of what the caller places next to it, shares that line.
    struct alignas(64) barrier_words {
        std::atomic<int> arrived{0};
        std::atomic<std::uint64_t> generation{0};
        std::atomic<std::uint64_t> error_phase[2] = {no_phase, no_phase};
    } hot_;
};

/// The executor for one of the engine's threads (see the top of this file).
struct caller_threads_executor {
    int ith = 0;
    int nth = 1;
    caller_threads_sync* sync = nullptr;

    /// Every caller runs each phase (drivers must not take shortcuts on one thread only, and must
    /// keep shared intermediate data in a workspace the callers share).
    static constexpr bool every_caller_runs = true;

    template <class Fn>
    void parallel_for(std::int64_t count, Fn&& fn) {
        detail::require(sync != nullptr, errc::invalid_argument, "caller_threads_executor", "ith = ", ith, ", nth = ", nth,
                        ": sync is null");
        // A thread with a bad (ith, nth) still arrives, carrying its error: every caller throws it, none waits forever.
        try {
            sync->check_caller(ith, nth);
            for (std::int64_t i = ith; i < count; i += nth) fn(i);
        } catch (...) {
            sync->record(std::current_exception());
        }
        if (std::exception_ptr e = sync->arrive_and_wait()) std::rethrow_exception(e);
    }
    int concurrency() const noexcept { return nth; }
};

AMXMM_NAMESPACE_END
