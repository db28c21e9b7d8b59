// An engine's own thread pool running amxmm: every pool thread calls the same amxmm function with
// its index ith of nth, one shared amxmm::caller_threads_sync and one shared workspace — the way
// llama.cpp-style engines run their matmuls (each thread computes its share of every op).
//
//   amxmm_threads_pool_ith_nth [threads]     (default: 4)
//
// It runs a decode step (M = 1) and a prompt chunk (M = 96) through a dense projection and a MoE
// FFN on the pool, and checks that each result has the same bits as the serial call.
#include <amxmm/amxmm.hpp>

#include "example_data.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

/// A minimal persistent pool, the shape of an engine's: run(job) calls job(ith, nth) on each of the
/// nth threads (the calling thread is ith = 0) and returns once every thread has finished.
class engine_pool {
public:
    explicit engine_pool(int nth) : nth_(nth) {
        for (int ith = 1; ith < nth; ++ith) workers_.emplace_back([this, ith] { work(ith); });
    }
    ~engine_pool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        start_.notify_all();
        for (std::thread& t : workers_) t.join();
    }
    int threads() const { return nth_; }

    void run(const std::function<void(int, int)>& job) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            job_ = &job;
            running_ = nth_ - 1;
            ++generation_;
        }
        start_.notify_all();
        job(0, nth_);
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return running_ == 0; });
    }

private:
    void work(int ith) {
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(int, int)>* job;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                start_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
                job = job_;
            }
            (*job)(ith, nth_);
            std::lock_guard<std::mutex> lock(mutex_);
            if (--running_ == 0) done_.notify_one();
        }
    }

    const int nth_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable start_, done_;
    const std::function<void(int, int)>* job_ = nullptr;
    std::uint64_t generation_ = 0;
    int running_ = 0;
    bool stop_ = false;
};

}  // namespace

int main(int argc, char** argv) try {
    const int nth = argc > 1 ? std::atoi(argv[1]) : 4;
    if (nth <= 0) {
        std::fprintf(stderr, "usage: %s [threads > 0]\n", argv[0]);
        return 2;
    }
    // Shapes of a small MoE model: hidden K, dense projection N, E experts of hidden F, top-k routing.
    const std::int64_t K = 512, N = 768, E = 8, F = 256, top_k = 2;

    // Load time: pack once (serially here; any executor gives the same bytes).
    const auto w_q4 = example::random_q4_0(N, K, 1);
    const amxmm::packed_q4_0_vnni w = amxmm::pack_q4_0_vnni({w_q4.data(), N, K});
    const auto gate_q4 = example::random_q4_0(E * F, K, 2), up_q4 = example::random_q4_0(E * F, K, 3);
    const auto down_q4 = example::random_q4_0(E * K, F, 4);
    const auto gate_up = amxmm::pack_q4_0_vnni_gate_up(gate_q4.data(), up_q4.data(), E, F, K);
    const auto down = amxmm::pack_q4_0_vnni_experts(down_q4.data(), E, K, F);

    engine_pool pool(nth);
    amxmm::caller_threads_sync sync(pool.threads());  // one per pool, reused by every call
    std::printf("engine pool of %d threads; amxmm back end: %s\n", pool.threads(), amxmm::default_isa().reason.c_str());

    bool all_same = true;
    for (const std::int64_t M : {std::int64_t(1), std::int64_t(96)}) {
        std::printf("M = %lld\n", static_cast<long long>(M));
        const std::vector<float> x = example::random_activations(M, K, 10 + std::uint64_t(M));
        std::vector<std::int32_t> ids(static_cast<std::size_t>(M * top_k));
        std::vector<float> weights(ids.size(), 0.5f);
        for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 5 + i / 2) % std::size_t(E));
        const amxmm::moe_routing route{M, top_k, ids.data(), top_k};

        // One workspace shared by the pool's threads, big enough for either call (64-byte aligned).
        amxmm::aligned_buffer ws(std::max(amxmm::gemm_workspace_bytes(M, K), amxmm::moe_ffn_workspace_bytes(M, top_k, E, K, F)));
        amxmm::moe_ffn_options opt;
        opt.workspace = ws.data();
        opt.workspace_bytes = ws.size();

        std::vector<float> y(static_cast<std::size_t>(M * N)), h(static_cast<std::size_t>(M * K));
        std::vector<std::exception_ptr> errors(static_cast<std::size_t>(pool.threads()));
        pool.run([&](int ith, int n) {
            try {
                amxmm::caller_threads_executor ex{ith, n, &sync};
                amxmm::gemm_q4_0(w.view(), M, x.data(), K, y.data(), N, opt, ex);
                amxmm::moe_ffn(gate_up.view(), down.view(), route, weights.data(), top_k, x.data(), K, h.data(), K, opt, ex);
            } catch (...) {
                errors[std::size_t(ith)] = std::current_exception();  // every thread gets the same error
            }
        });
        if (errors[0]) std::rethrow_exception(errors[0]);

        std::vector<float> y_serial(y.size()), h_serial(h.size());
        amxmm::gemm_q4_0(w.view(), M, x.data(), K, y_serial.data(), N);
        amxmm::moe_ffn(gate_up.view(), down.view(), route, weights.data(), top_k, x.data(), K, h_serial.data(), K);
        all_same &= example::report_bitwise("dense projection (gemm_q4_0), ith/nth:", y, y_serial);
        all_same &= example::report_bitwise("MoE FFN (moe_ffn, gate+up together), ith/nth:", h, h_serial);
    }
    return all_same ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
