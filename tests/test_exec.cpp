// Executors: the engine's own threads (caller_threads_executor) give the same bits as every other
// executor, errors reach every caller, and the shared barrier is reusable.
#include "catch_compat.hpp"
#include "error_capture.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace amxmm;

TEST_CASE("caller threads: results equal the serial executor's, bit for bit", "[exec][gemm]") {
    std::mt19937_64 rng(41);
    const std::int64_t n = 90, k = 256;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    for (std::int64_t m : {3, 70}) {
        const auto x = amxmm_test::make_activations(m, k, rng);
        aligned_buffer ws(gemm_workspace_bytes(m, k));
        for (isa backend : {default_isa().chosen, isa::amx_emulated}) {
            for (compute_mode mode : {compute_mode::exact, compute_mode::fast}) {
                gemm_options opt;
                opt.force_isa = backend;
                opt.mode = mode;
                std::vector<float> want(m * n);
                gemm_q4_0(packed.view(), m, x.data(), k, want.data(), n, opt, serial_executor{});
                for (int nth : {1, 2, 3, 4}) {
                    std::vector<float> y(m * n, 0.0f);
                    caller_threads_sync sync(nth);
                    gemm_options shared = opt;
                    shared.workspace = ws.data();
                    shared.workspace_bytes = ws.size();
                    const auto errors = amxmm_test::on_threads(nth, [&](int ith) {
                        gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, shared, caller_threads_executor{ith, nth, &sync});
                    });
                    INFO("m " << m << ", backend " << to_string(backend) << ", mode " << to_string(mode) << ", nth " << nth);
                    for (const auto& e : errors) CHECK(e.empty());
                    CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
                }
            }
        }
    }
}

TEST_CASE("caller threads: an error reaches every caller, none is left waiting", "[exec][errors]") {
    std::mt19937_64 rng(43);
    const std::int64_t m = 40, n = 20, k = 64;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    auto x = amxmm_test::make_activations(m, k, rng);
    x[35 * k + 7] = std::nanf("");  // row 35: in the second row group, owned by one thread only
    aligned_buffer ws(gemm_workspace_bytes(m, k));
    std::vector<float> y(m * n, 5.0f);
    const int nth = 3;
    caller_threads_sync sync(nth);
    gemm_options opt;
    opt.mode = compute_mode::exact;
    opt.workspace = ws.data();
    opt.workspace_bytes = ws.size();
    const auto errors = amxmm_test::on_threads(nth, [&](int ith) {
        gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, opt, caller_threads_executor{ith, nth, &sync});
    });
    for (const auto& e : errors) CHECK(amxmm_test::contains(e, "x[35][7]"));
    for (float v : y) CHECK(v == 5.0f);

    // A missing or short workspace is refused on every thread before any barrier.
    gemm_options none;
    const auto no_ws = amxmm_test::on_threads(nth, [&](int ith) {
        gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, none, caller_threads_executor{ith, nth, &sync});
    });
    for (const auto& e : no_ws) CHECK(amxmm_test::contains(e, "workspace"));
    gemm_options short_ws = opt;
    short_ws.workspace_bytes = 64;
    CHECK_THROWS_AS(gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, short_ws), amxmm::error);
    CHECK_THROWS_AS((caller_threads_executor{0, 3, nullptr}.parallel_for(1, [](std::int64_t) {})), amxmm::error);
}

namespace {

/// Runs body(ith) on nth detached threads and waits up to `limit` for all of them. Returns the threads'
/// error messages ("" for none), or nothing when some thread is still running: it may be waiting forever
/// at a barrier, so the state it uses (`keep_alive`) is never freed then.
template <class Body>
std::optional<std::vector<std::string>> on_threads_within(int nth, std::chrono::seconds limit,
                                                          std::shared_ptr<void> keep_alive, Body body) {
    struct shared {
        std::mutex mutex;
        std::condition_variable done;
        int finished = 0;
        std::vector<std::string> errors;
        std::shared_ptr<void> keep_alive;
    };
    auto st = std::make_shared<shared>();
    st->errors.resize(std::size_t(nth));
    st->keep_alive = std::move(keep_alive);
    for (int t = 0; t < nth; ++t)
        std::thread([st, t, body] {
            std::string error;
            try {
                body(t);
            } catch (const std::exception& e) {
                error = e.what();
            }
            std::lock_guard<std::mutex> lock(st->mutex);
            st->errors[std::size_t(t)] = error;
            if (++st->finished == int(st->errors.size())) st->done.notify_all();
        }).detach();
    std::unique_lock<std::mutex> lock(st->mutex);
    if (!st->done.wait_for(lock, limit, [&] { return st->finished == nth; })) return std::nullopt;
    return st->errors;
}

struct failing_gemm {  // an exact call whose x has a NaN in row 35 (one thread's row group)
    static constexpr std::int64_t m = 40, n = 64, k = 64;
    std::mt19937_64 rng{53};
    amxmm_test::random_weight w = amxmm_test::make_weight(n, k, rng);
    packed_q4_0_vnni packed = pack_q4_0_vnni(w.view());
    std::vector<float> x = [&] {
        auto v = amxmm_test::make_activations(m, k, rng);
        v[35 * k + 7] = std::nanf("");
        return v;
    }();
    aligned_buffer ws{gemm_workspace_bytes(m, k)};
    gemm_options options() {
        gemm_options opt;
        opt.mode = compute_mode::exact;
        opt.workspace = ws.data();
        opt.workspace_bytes = ws.size();
        return opt;
    }
};

}  // namespace

TEST_CASE("caller threads: two failing calls in a row fail on every thread, none is left waiting", "[exec][errors]") {
    // An engine's threads run two projections of the same bad activations. A thread that threw first may
    // start the second call and record its error before a late thread has read the first call's: the
    // late one must still see the first call's error (it once took it for a success, ran that call's
    // next phase into y and then waited a phase behind the others forever).
    auto f = std::make_shared<failing_gemm>();
    const int nth = 3;
    for (int trial = 0; trial < 300; ++trial) {
        auto y = std::make_shared<std::vector<float>>(2 * failing_gemm::m * failing_gemm::n, 5.0f);
        auto sync = std::make_shared<caller_threads_sync>(nth);
        const auto keep = std::make_shared<std::tuple<decltype(f), decltype(y), decltype(sync)>>(f, y, sync);
        auto errors = on_threads_within(nth, std::chrono::seconds(20), keep, [f = f.get(), y = y.get(), sync = sync.get()](int ith) {
            const gemm_options opt = f->options();
            int returned = 0;
            for (int call = 0; call < 2; ++call) try {
                    gemm_q4_0(f->packed.view(), f->m, f->x.data(), f->k, y->data() + call * f->m * f->n, f->n, opt,
                              caller_threads_executor{ith, nth, sync});
                    ++returned;
                } catch (const amxmm::error& e) {
                    if (!amxmm_test::contains(e.what(), "x[35][7]")) throw;
                }
            if (returned) throw std::runtime_error(std::to_string(returned) + " of the 2 calls returned normally");
        });
        INFO("trial " << trial);
        REQUIRE(errors.has_value());  // else a thread is still waiting at the barrier
        for (const auto& e : *errors) CHECK(e.empty());
        CHECK(std::count(y->begin(), y->end(), 5.0f) == std::ptrdiff_t(y->size()));
    }
}

TEST_CASE("caller threads: an ith out of range or used twice fails on every thread, y untouched", "[exec][errors]") {
    auto f = std::make_shared<failing_gemm>();
    f->x[35 * failing_gemm::k + 7] = 0.5f;  // a good call but for the threads' indices
    const int nth = 3;
    for (const auto& indices : {std::vector<int>{0, 0, 2}, std::vector<int>{0, 1, 3}, std::vector<int>{2, 1, 2}}) {
        INFO("indices " << indices[0] << ", " << indices[1] << ", " << indices[2]);
        auto y = std::make_shared<std::vector<float>>(failing_gemm::m * failing_gemm::n, 5.0f);
        auto sync = std::make_shared<caller_threads_sync>(nth);
        const auto keep = std::make_shared<std::tuple<decltype(f), decltype(y), decltype(sync)>>(f, y, sync);
        auto errors = on_threads_within(nth, std::chrono::seconds(20), keep, [f = f.get(), y = y.get(), sync = sync.get(), indices](int t) {
            gemm_q4_0(f->packed.view(), f->m, f->x.data(), f->k, y->data(), f->n, f->options(),
                      caller_threads_executor{indices[std::size_t(t)], nth, sync});
        });
        REQUIRE(errors.has_value());  // else a thread is still waiting at the barrier
        for (const auto& e : *errors) CHECK((amxmm_test::contains(e, "two threads") || amxmm_test::contains(e, "do not describe")));
        CHECK(std::count(y->begin(), y->end(), 5.0f) == std::ptrdiff_t(y->size()));
        // The same sync still serves a correct call afterwards.
        auto good = on_threads_within(nth, std::chrono::seconds(20), keep, [f = f.get(), y = y.get(), sync = sync.get()](int ith) {
            gemm_q4_0(f->packed.view(), f->m, f->x.data(), f->k, y->data(), f->n, f->options(),
                      caller_threads_executor{ith, nth, sync});
        });
        REQUIRE(good.has_value());
        for (const auto& e : *good) CHECK(e.empty());
    }
}

TEST_CASE("caller threads: a duplicated ith leaves y untouched on every path", "[exec][errors]") {
    // The duplicate is seen at the end of the first phase, after both threads ran that ith's tasks: so no
    // driver's first phase may write y (on any back end, mode or row count).
    std::mt19937_64 rng(61);
    const int nth = 3;
    const std::vector<int> indices{0, 2, 0};
    auto run = [&](auto&& call) {  // call(executor) on 3 threads with ith 0, 2, 0
        caller_threads_sync sync(nth);
        const auto errors = amxmm_test::on_threads(nth, [&](int t) { call(caller_threads_executor{indices[std::size_t(t)], nth, &sync}); });
        for (const auto& e : errors) CHECK(amxmm_test::contains(e, "same ith"));
    };
    const float sentinel = -3.0f;
    const std::int64_t n = 64, k = 128, experts = 4, top_k = 2, f = 64;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    const auto eg = amxmm_test::make_weight(experts * f, k, rng), eu = amxmm_test::make_weight(experts * f, k, rng);
    const auto ed = amxmm_test::make_weight(experts * k, f, rng);
    const auto gate = pack_q4_0_vnni_experts(eg.blocks.data(), experts, f, k);
    const auto up = pack_q4_0_vnni_experts(eu.blocks.data(), experts, f, k);
    const auto down = pack_q4_0_vnni_experts(ed.blocks.data(), experts, k, f);
    for (isa backend : amxmm_test::kernel_backends())
        for (compute_mode mode : {compute_mode::exact, compute_mode::fast})
            for (std::int64_t m : {1, 5, 40}) {
                INFO("backend " << to_string(backend) << ", mode " << to_string(mode) << ", m " << m);
                const auto x = amxmm_test::make_activations(m, k, rng);
                std::vector<std::int32_t> ids(std::size_t(m * top_k));
                for (std::int64_t i = 0; i < m * top_k; ++i) ids[std::size_t(i)] = std::int32_t((i * 3 + i / top_k) % experts);
                const std::vector<float> route(ids.size(), 0.5f);
                const moe_routing r{m, top_k, ids.data(), top_k};
                aligned_buffer ws(std::max({gemm_workspace_bytes(m, k), moe_gemm_workspace_bytes(m, top_k, experts, k),
                                            moe_ffn_workspace_bytes(m, top_k, experts, k, f)}));
                moe_ffn_options opt;
                opt.force_isa = backend;
                opt.mode = mode;
                opt.workspace = ws.data();
                opt.workspace_bytes = ws.size();
                std::vector<float> y(std::size_t(m * top_k * std::max(n, f)), sentinel);
                run([&](caller_threads_executor ex) { gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, opt, ex); });
                run([&](caller_threads_executor ex) {
                    moe_gemm(gate.view(), r, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * f, f, opt, ex);
                });
                run([&](caller_threads_executor ex) {
                    moe_ffn(gate.view(), up.view(), down.view(), r, route.data(), top_k, x.data(), k, y.data(), k, opt, ex);
                });
                CHECK(std::count(y.begin(), y.end(), sentinel) == std::ptrdiff_t(y.size()));
            }
}

TEST_CASE("caller_threads_sync: a reusable barrier over many phases", "[exec]") {
    const int nth = 4, phases = 200;
    caller_threads_sync sync(nth);
    std::atomic<int> counter{0};
    std::vector<int> seen(nth * phases);
    amxmm_test::on_threads(nth, [&](int ith) {
        for (int p = 0; p < phases; ++p) {
            // Every 10th phase one thread comes late, past the spin limit: the others sleep and wake.
            if (p % 10 == 0 && ith == p / 10 % nth) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            counter.fetch_add(1);
            sync.arrive_and_wait(ith);
            seen[p * nth + ith] = counter.load();  // all nth arrivals of phase p are visible
            sync.arrive_and_wait(ith);
        }
    });
    bool all_complete = true;
    for (int p = 0; p < phases; ++p)
        for (int t = 0; t < nth; ++t) all_complete &= seen[p * nth + t] == (p + 1) * nth;
    CHECK(all_complete);
    CHECK_THROWS_AS(caller_threads_sync(0), amxmm::error);
}

TEST_CASE("caller_threads_sync: a phase fails exactly when its indices are not 0 .. nth-1 once each", "[exec][errors]") {
    // Every assignment of indices to 4 threads (4^4 phases): the 24 permutations pass, every other one ends
    // its phase with the same error on every thread, and the next phase is unaffected.
    const int nth = 4, assignments = 256;
    caller_threads_sync sync(nth);
    std::vector<int> failed(std::size_t(nth) * assignments, -1);
    std::vector<std::string> messages(failed.size());
    amxmm_test::on_threads(nth, [&](int t) {
        for (int a = 0; a < assignments; ++a) {
            int digits = a;
            for (int i = 0; i < t; ++i) digits /= nth;
            const std::exception_ptr e = sync.arrive_and_wait(digits % nth);
            failed[std::size_t(a * nth + t)] = e != nullptr;
            if (e) messages[std::size_t(a * nth + t)] = amxmm_test::catch_error([&] { std::rethrow_exception(e); }).what;
        }
    });
    int permutations = 0;
    for (int a = 0; a < assignments; ++a) {
        int digits = a, used = 0;
        for (int t = 0; t < nth; ++t, digits /= nth) used |= 1 << (digits % nth);
        const bool permutation = used == (1 << nth) - 1;
        permutations += permutation;
        INFO("assignment " << a);
        for (int t = 0; t < nth; ++t) {
            CHECK(failed[std::size_t(a * nth + t)] == int(!permutation));
            if (!permutation) CHECK(amxmm_test::contains(messages[std::size_t(a * nth + t)], "same ith"));
        }
    }
    CHECK(permutations == 24);
}

TEST_CASE("caller_threads_sync: no false duplicate over many phases and thread counts", "[exec][errors]") {
    for (const int nth : {1, 2, 3, 7, 16}) {
        caller_threads_sync sync(nth);
        std::atomic<int> errors{0};
        amxmm_test::on_threads(nth, [&](int ith) {
            for (int p = 0; p < 300; ++p)
                if (sync.arrive_and_wait(ith) != nullptr) errors.fetch_add(1);
        });
        INFO("nth " << nth);
        CHECK(errors.load() == 0);
    }
    CHECK_THROWS_AS(caller_threads_sync(caller_threads_sync::max_threads + 1), amxmm::error);
    CHECK_THROWS_AS(caller_threads_sync(-1), amxmm::error);
}

TEST_CASE("tbb executor: amxmm calls nested in tasks of the same executor stay correct", "[exec][threads]") {
    // A thread waiting inside one call must not run a task of another call that reuses its scratch.
    std::mt19937_64 rng(47);
    const std::int64_t n = 64, k = 128, jobs = 12;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    std::vector<std::vector<float>> xs, want(jobs), got(jobs);
    for (std::int64_t j = 0; j < jobs; ++j) {
        const std::int64_t m = 1 + 13 * j % 70;  // one to three row groups
        xs.push_back(amxmm_test::make_activations(m, k, rng));
        want[j].resize(m * n);
        got[j].assign(m * n, 0.0f);
        gemm_q4_0(packed.view(), m, xs[j].data(), k, want[j].data(), n, {}, serial_executor{});
    }
    tbb_executor ex(3);
    ex.parallel_for(jobs, [&](std::int64_t j) {
        const std::int64_t m = std::int64_t(xs[j].size()) / k;
        gemm_q4_0(packed.view(), m, xs[j].data(), k, got[j].data(), n, {}, ex);
    });
    for (std::int64_t j = 0; j < jobs; ++j) {
        INFO("job " << j);
        CHECK(std::memcmp(got[j].data(), want[j].data(), want[j].size() * sizeof(float)) == 0);
    }
}

TEST_CASE("tbb executor: a bad x in a decode call fails on every thread count, nothing written", "[exec][errors]") {
    // The call must end (no task left waiting) with the element named, and leave y as it was.
    std::mt19937_64 rng(53);
    const std::int64_t n = 96, k = 128;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    gemm_options exact;
    exact.mode = compute_mode::exact;
    for (std::int64_t m : {1, 5}) {
        auto x = amxmm_test::make_activations(m, k, rng);
        x[std::size_t((m - 1) * k + 77)] = std::numeric_limits<float>::infinity();
        for (int threads : {1, 2, 3}) {
            tbb_executor ex(threads);
            std::vector<float> y(std::size_t(m * n), 5.0f);
            const auto e = amxmm_test::catch_error([&] { gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n, exact, ex); });
            INFO("m " << m << ", threads " << threads);
            CHECK(amxmm_test::contains(e.what, "x[" + std::to_string(m - 1) + "][77]"));
            CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 5.0f; }));
        }
    }
}

TEST_CASE("thread scratch: grows to the largest call, can be released", "[exec]") {
    std::mt19937_64 rng(53);
    const std::int64_t m = 70, n = 40, k = 256;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto packed = pack_q4_0_vnni(w.view());
    const auto x = amxmm_test::make_activations(m, k, rng);
    std::vector<float> y(m * n), again(m * n);
    gemm_q4_0(packed.view(), m, x.data(), k, y.data(), n);  // serial: everything on this thread
    CHECK(thread_scratch_bytes() >= std::size_t(m * k));   // at least the prepared activations
    release_thread_scratch();
    CHECK(thread_scratch_bytes() == 0);
    gemm_q4_0(packed.view(), m, x.data(), k, again.data(), n);
    CHECK(std::memcmp(y.data(), again.data(), y.size() * sizeof(float)) == 0);
}

TEST_CASE("tbb executor: NUMA partitions run every task once and rethrow after all finish", "[exec][numa]") {
    tbb_executor ex = tbb_executor::with_partitions(4, 3);
    CHECK(ex.partitions() == 3);
    // The contiguous split: the first third of the items on partition 0, and so on.
    CHECK(ex.partition_of(0, 9) == 0);
    CHECK(ex.partition_of(3, 9) == 1);
    CHECK(ex.partition_of(8, 9) == 2);
    for (std::int64_t count : {1, 2, 7, 1000}) {
        std::vector<std::atomic<int>> runs(static_cast<std::size_t>(count));
        ex.parallel_for(count, [&](std::int64_t i) { ++runs[std::size_t(i)]; });
        ex.parallel_for_affine(count, [](std::int64_t i) { return 5 * i + 1; }, [&](std::int64_t i) { ++runs[std::size_t(i)]; });
        for (std::int64_t i = 0; i < count; ++i) CHECK(runs[std::size_t(i)] == 2);
    }
    std::atomic<int> finished{0};
    CHECK_THROWS_WITH(ex.parallel_for(300,
                                      [&](std::int64_t i) {
                                          if (i == 150) throw std::runtime_error("task 150 failed");
                                          ++finished;
                                      }),
                      "task 150 failed");
    CHECK(finished <= 299);
    // One-node machines (and numa_aware = false) have one partition.
    CHECK(tbb_executor(2, false).partitions() == 1);
    CHECK(tbb_executor(1).partitions() >= 1);
}

TEST_CASE("tbb executor: NUMA partitions give the serial bits for packing, GEMM and MoE", "[exec][numa][threads]") {
    std::mt19937_64 rng(59);
    const std::int64_t n = 200, k = 256;
    const auto w = amxmm_test::make_weight(n, k, rng);
    const auto serial_packed = pack_q4_0_vnni(w.view());
    for (int partitions : {2, 3}) {
        tbb_executor ex = tbb_executor::with_partitions(3, partitions);
        const auto packed = pack_q4_0_vnni(w.view(), ex);
        REQUIRE(packed.size_bytes() == serial_packed.size_bytes());
        CHECK(std::memcmp(packed.data(), serial_packed.data(), packed.size_bytes()) == 0);
        for (std::int64_t m : {5, 100}) {  // the micro-kernel path and (on AMX back ends) the blocked one
            const auto x = amxmm_test::make_activations(m, k, rng);
            for (isa backend : {default_isa().chosen, isa::amx_emulated}) {
                gemm_options opt;
                opt.force_isa = backend;
                std::vector<float> want(m * n), got(m * n, 0.0f);
                gemm_q4_0(packed.view(), m, x.data(), k, want.data(), n, opt, serial_executor{});
                gemm_q4_0(packed.view(), m, x.data(), k, got.data(), n, opt, ex);
                INFO("partitions " << partitions << ", m " << m << ", backend " << to_string(backend));
                CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
            }
        }
        // MoE: 6 experts of 64 x 128 (gate + up together) and 128 x 64 (down).
        const std::int64_t e = 6, f = 64, kk = 128, m = 50, top_k = 2;
        const auto gate = amxmm_test::make_weight(e * f, kk, rng), up = amxmm_test::make_weight(e * f, kk, rng);
        const auto down = amxmm_test::make_weight(e * kk, f, rng);
        const auto gate_up = pack_q4_0_vnni_gate_up(gate.blocks.data(), up.blocks.data(), e, f, kk, ex);
        const auto down_p = pack_q4_0_vnni_experts(down.blocks.data(), e, kk, f, ex);
        std::vector<std::int32_t> ids(static_cast<std::size_t>(m * top_k));
        for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 7 + i / 2) % e);
        const moe_routing r{m, top_k, ids.data(), top_k};
        const auto x = amxmm_test::make_activations(m, kk, rng);
        std::vector<float> want(m * kk), got(m * kk, 0.0f);
        moe_ffn(gate_up.view(), down_p.view(), r, nullptr, 0, x.data(), kk, want.data(), kk, {}, serial_executor{});
        moe_ffn(gate_up.view(), down_p.view(), r, nullptr, 0, x.data(), kk, got.data(), kk, {}, ex);
        CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
    }
}
