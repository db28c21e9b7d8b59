// amxmm inside an OpenMP parallel region: each OpenMP thread calls amxmm with its thread number
// (ith) and the team size (nth), one shared amxmm::caller_threads_sync and one shared workspace.
//
//   OMP_NUM_THREADS=4 amxmm_threads_openmp
//
// Runs a dense projection at M = 1 and M = 96 and checks the results against the serial call, bit
// for bit. Built only where CMake's find_package(OpenMP) succeeds (GCC: libgomp).
#include <amxmm/amxmm.hpp>

#include "example_data.hpp"

#include <omp.h>

#include <cstdio>
#include <exception>
#include <vector>

int main() try {
    const std::int64_t K = 1024, N = 1536;
    const auto w_q4 = example::random_q4_0(N, K, 1);
    const amxmm::packed_q4_0_vnni w = amxmm::pack_q4_0_vnni({w_q4.data(), N, K});

    // The team must have exactly the size the sync was made for: no dynamic adjustment.
    omp_set_dynamic(0);
    const int nth = omp_get_max_threads();
    amxmm::caller_threads_sync sync(nth);
    std::printf("OpenMP team of %d threads; amxmm back end: %s\n", nth, amxmm::default_isa().reason.c_str());

    bool all_same = true;
    for (const std::int64_t M : {std::int64_t(1), std::int64_t(96)}) {
        const std::vector<float> x = example::random_activations(M, K, 10 + std::uint64_t(M));
        std::vector<float> y(static_cast<std::size_t>(M * N)), y_serial(y.size());
        amxmm::aligned_buffer ws(amxmm::gemm_workspace_bytes(M, K));  // shared by the team
        amxmm::gemm_options opt;
        opt.workspace = ws.data();
        opt.workspace_bytes = ws.size();

        std::vector<std::exception_ptr> errors(static_cast<std::size_t>(nth));
        int team = 0;
#pragma omp parallel num_threads(nth)
        {
            const int ith = omp_get_thread_num();
            if (ith == 0) team = omp_get_num_threads();
            try {  // an exception must not leave the parallel region
                amxmm::gemm_q4_0(w.view(), M, x.data(), K, y.data(), N, opt,
                                 amxmm::caller_threads_executor{ith, omp_get_num_threads(), &sync});
            } catch (...) {
                errors[std::size_t(ith)] = std::current_exception();
            }
        }
        if (team != nth) {
            std::fprintf(stderr, "error: OpenMP gave a team of %d threads, not %d\n", team, nth);
            return 1;
        }
        if (errors[0]) std::rethrow_exception(errors[0]);

        amxmm::gemm_q4_0(w.view(), M, x.data(), K, y_serial.data(), N);
        std::printf("M = %lld\n", static_cast<long long>(M));
        all_same &= example::report_bitwise("dense projection, omp parallel:", y, y_serial);
    }
    return all_same ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
