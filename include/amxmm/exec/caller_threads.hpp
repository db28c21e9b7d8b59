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
// of range runs no task and makes every thread throw at the end of the call's first phase. So do two
// threads that pass the same ith, though both of them run that ith's first-phase tasks before the check
// sees them: the first phase of every amxmm call writes only the workspace, never y, and the two write
// the same bytes there (a data race that ThreadSanitizer reports). Task ownership does not affect
// results: they are bitwise identical to any other executor's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>

#include "../core/error.hpp"
#include "../core/target.hpp"

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
///
/// The checks cost nothing measurable per phase (bench/RESULTS.md, session 21): the range check is a
/// compare before the tasks, and the duplicate check rides on the arrival's one atomic add. Each
/// arrival adds 1 + (mark(ith) << count_bits) to one word; the last arriver compares the marks' sum with
/// the sum over 0 .. nth-1, which any other multiset of nth indices matches only by a 2^-44 chance. (A
/// per-thread word written at the start of every phase cost moe_ffn's decode call ~2 µs on the device.)
class caller_threads_sync {
public:
    static constexpr std::chrono::microseconds spin_limit{50};

    explicit caller_threads_sync(int nth) : nth_(nth) {
        detail::require(nth > 0 && nth <= max_threads, errc::invalid_argument, "caller_threads_sync", "nth = ", nth,
                        " must be in 1 .. ", max_threads);
        std::uint64_t all = 0;
        for (int i = 0; i < nth; ++i) all += mark(i) << count_bits;
        all_marks_ = all >> count_bits;
    }
    caller_threads_sync(const caller_threads_sync&) = delete;
    caller_threads_sync& operator=(const caller_threads_sync&) = delete;

    /// The most threads one sync serves (the arrival count's bits).
    static constexpr int max_threads = (1 << 20) - 1;

    int threads() const noexcept { return nth_; }

    /// Whether (ith, nth) names one of this sync's threads.
    bool admits(int ith, int nth) const noexcept { return nth == nth_ && ith >= 0 && ith < nth_; }

    /// For a caller that admits() refused: records why as the current phase's error, arrives (so that no
    /// thread waits for it), and throws that phase's error.
    [[noreturn]] AMXMM_COLD void refuse(int ith, int nth) {
        record_invalid_argument("ith = ", ith, ", nth = ", nth, " do not describe one of the sync's ", nth_, " threads");
        std::rethrow_exception(arrive_and_wait(ith));
    }

    /// Records an exception for the current phase (the first one wins).
    void record(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mutex_);
        const std::uint64_t gen = generation_.load(std::memory_order_relaxed);
        if (error_phase_[gen & 1].load(std::memory_order_relaxed) != gen) {
            errors_[gen & 1] = std::move(e);
            error_phase_[gen & 1].store(gen, std::memory_order_release);
        }
    }

    /// Thread ith's arrival: waits until all nth threads arrived; returns the exception recorded in the
    /// phase that just ended, if any (every thread gets the same one). A phase whose arrivals were not
    /// the indices 0 .. nth-1 once each ends with an error.
    std::exception_ptr arrive_and_wait(int ith) {
        const std::uint64_t gen = generation_.load(std::memory_order_acquire);
        const std::uint64_t add = 1 + (mark(ith) << count_bits);
        const std::uint64_t before = arrived_.fetch_add(add, std::memory_order_acq_rel);
        if ((before & count_mask) + 1 == std::uint64_t(nth_)) {
            // Every other arrival's add happened before this one's (one chain of read-modify-writes).
            if (((before + add) >> count_bits) != all_marks_)
                record_invalid_argument("the ", nth_, " threads' ith values were not 0 .. ", nth_ - 1,
                                        " once each: two threads used the same ith (each thread needs its own)");
            arrived_.store(0, std::memory_order_relaxed);
            {
                std::lock_guard<std::mutex> lock(mutex_);  // a sleeper checks the generation under it
                generation_.store(gen + 1, std::memory_order_release);
            }
            cv_.notify_all();
        } else if (!spin_until_changed(gen)) {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != gen; });
        }
        // Each phase's error has a slot of its own until phase gen + 2: a thread that already left this
        // barrier may record for phase gen + 1 before a late one reads this phase's, but none can record
        // for gen + 2 before every thread has arrived at gen + 1's barrier, after its read here.
        if (error_phase_[gen & 1].load(std::memory_order_acquire) != gen) return nullptr;
        std::lock_guard<std::mutex> lock(mutex_);
        return errors_[gen & 1];
    }

private:
    static constexpr int count_bits = 20;
    static constexpr std::uint64_t count_mask = (std::uint64_t(1) << count_bits) - 1;
    static constexpr std::uint64_t no_phase = ~std::uint64_t(0);

    /// A well-mixed 64-bit value per index (splitmix64's finalizer), so that sums of marks of different
    /// multisets of indices differ.
    static std::uint64_t mark(int ith) noexcept {
        std::uint64_t z = std::uint64_t(std::uint32_t(ith)) + 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

    /// Records invalid_argument "caller_threads_executor: <parts>" as the current phase's error.
    template <class... Parts>
    AMXMM_COLD void record_invalid_argument(const Parts&... parts) {
        record(std::make_exception_ptr(error(errc::invalid_argument, detail::concat("caller_threads_executor: ", parts...))));
    }

    bool spin_until_changed(std::uint64_t gen) const {
        const auto start = std::chrono::steady_clock::now();
        for (;;) {
            for (int i = 0; i < 64; ++i) {
                if (generation_.load(std::memory_order_acquire) != gen) return true;
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

    // f5d1215's member order, as measured in session 21 (8ce9bf0's 64-byte line of their own gained nothing).
    const int nth_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<std::uint64_t> arrived_{0};  // count (low count_bits) + sum of the arrivals' marks above it
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> error_phase_[2] = {no_phase, no_phase};  // the phase each slot of errors_ holds
    std::uint64_t all_marks_ = 0;   // the sum of mark(0 .. nth-1), mod 2^(64 - count_bits)
    std::exception_ptr errors_[2];  // by phase parity
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
        if (!sync->admits(ith, nth)) sync->refuse(ith, nth);
        try {
            for (std::int64_t i = ith; i < count; i += nth) fn(i);
        } catch (...) {
            sync->record(std::current_exception());
        }
        if (std::exception_ptr e = sync->arrive_and_wait(ith)) std::rethrow_exception(e);
    }
    int concurrency() const noexcept { return nth; }
};

AMXMM_NAMESPACE_END
