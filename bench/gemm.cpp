// amxmm_bench_gemm: dense Q4_0 GEMM / GEMV throughput.
//
// Benchmarks are named  gemm/<mode>/<isa>/K<K>_N<N>/M<M>/<hot|cold>  for
//   mode  exact, fast
//   isa   AMXMM_BENCH_ISAS (default amx, avx512_vnni, avx2; unsupported ones are skipped with the reason)
//   shape K×N in 2048×4096, 4096×4096, 4096×14336, 14336×4096
//   M     1, 2, 4, 8, 16, 32, 64, 128, 512, 2048
//   hot   one packed weight, reused every call;  cold (M <= 128 only) a ring of copies >= 4 × LLC,
//         the next copy every call, so the weight streams from DRAM
// Time per call includes everything gemm_q4_0 does (activation conversion/quantization included).
//
//   amxmm_bench_gemm --benchmark_filter='gemm/exact/avx512_vnni/K4096_N4096/M(1|16)/cold'
//                    --benchmark_out=gemm.json --benchmark_out_format=json
#include "bench_common.hpp"

#include <exception>

namespace {

using namespace amxmm_bench;

void bm_gemm(benchmark::State& st, shape s, std::int64_t m, amxmm::compute_mode mode, amxmm::isa backend, bool cold) {
    if (const std::string why = amxmm::isa_unsupported_reason(backend); !why.empty()) {
        st.SkipWithError((std::string(amxmm::to_string(backend)) + " unavailable: " + why).c_str());
        return;
    }
    try {
        weight_ring& ring = ring_for(s);
        const std::size_t copies = cold ? ring.cold_copies() : 1;
        ring.reserve(copies);
        const float* x = activations(static_cast<std::size_t>(m * s.k));
        float* y = outputs(static_cast<std::size_t>(m * s.n));
        amxmm::gemm_options opt;
        opt.mode = mode;
        opt.force_isa = backend;
        amxmm::tbb_executor& ex = executor();

        amxmm::gemm_q4_0(ring.view(0), m, x, s.k, y, s.n, opt, ex);  // warm-up; throws if unsupported
        std::size_t next = 0;
        loop_timer timer;
        timer.start();
        for (auto _ : st) {
            amxmm::gemm_q4_0(ring.view(next), m, x, s.k, y, s.n, opt, ex);
            benchmark::DoNotOptimize(y);
            benchmark::ClobberMemory();
            if (cold && ++next == copies) next = 0;
        }
        const double seconds = timer.stop(st);
        std::string extra;
        if (cold) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "ring=%zux%.1fMiB", copies, ring.weight_bytes() / 1048576.0);
            extra = buf;
        }
        set_gemm_counters(st, m, s, ring.weight_bytes(), gemm_reference(mode, backend, m, cold), cold, seconds,
                          extra);
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
    }
}

void register_all() {
    const std::vector<amxmm::isa> isas = bench_isas();
    for (const shape& s : dense_shapes())
        for (std::int64_t m : m_values())
            for (amxmm::compute_mode mode : {amxmm::compute_mode::exact, amxmm::compute_mode::fast})
                for (amxmm::isa backend : isas)
                    for (bool cold : {true, false}) {
                        if (cold && m > cold_max_m) continue;
                        const std::string name = std::string("gemm/") + amxmm::to_string(mode) + "/" +
                                                 amxmm::to_string(backend) + "/" + s.name() + "/M" + std::to_string(m) +
                                                 (cold ? "/cold" : "/hot");
                        benchmark::RegisterBenchmark(name.c_str(), bm_gemm, s, m, mode, backend, cold)
                            ->UseRealTime()
                            ->MinTime(min_time())
                            ->Unit(benchmark::kMicrosecond);
                    }
}

}  // namespace

int main(int argc, char** argv) { return amxmm_bench::bench_main(argc, argv, register_all); }
