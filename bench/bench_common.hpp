// Shared pieces of amxmm's Google Benchmark executables.
//
// Environment:
//   AMXMM_BENCH_THREADS   threads for amxmm, oneDNN and the probes (default: every CPU in the affinity mask)
//   AMXMM_BENCH_MIN_TIME  seconds each benchmark runs at least (default 0.2; overrides --benchmark_min_time)
//   AMXMM_BENCH_ISAS      back ends the GEMM benchmarks register (default "amx,avx512_vnni,avx2";
//                         unsupported ones report an error and are skipped; add scalar/amx_emulated at will)
//   AMXMM_BENCH_PROBES    0 skips the startup limit probes (then no pct_* counters)
//   AMXMM_ISA             honoured by amxmm itself (caps the default back end)
//
// Counters every GEMM benchmark reports (all computed from the benchmark's own measured time):
//   flops              2·M·N·K per second (FLOP/s-equivalent; int8 ops count the same way)
//   bytes_per_second   packed weight bytes + fp32 activation bytes read, per second
//   pct_of_probe       % of the relevant in-process limit (label "ref=..."): DRAM read probe for cold
//                      runs with M <= 16; else AMX bf16 peak (fast) / AMX int8 peak (exact) on amx;
//                      AVX-512 VNNI peak on avx512_vnni
//   pct_dram           cold runs: bytes_per_second as % of the DRAM read probe
// The probes run once per process, at startup, before any benchmark (measure_limits_at_startup); their
// values also go into the JSON "context" (keys amxmm_probe_*), which scripts/plot_bench.py reads.
#pragma once

#include <benchmark/benchmark.h>

#include <amxmm/amxmm.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "limits_probes.hpp"

namespace amxmm_bench {

// ---- environment -----------------------------------------------------------------------------------

inline int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return (v && *v) ? std::atoi(v) : fallback;
}

/// Threads for everything: AMXMM_BENCH_THREADS, else every CPU this process may run on.
inline int bench_threads() {
    static const int n = [] {
        const int env = env_int("AMXMM_BENCH_THREADS", 0);
        return env > 0 ? env : static_cast<int>(allowed_cpus().size());
    }();
    return n;
}

/// The one process-wide amxmm executor.
inline amxmm::tbb_executor& executor() {
    static amxmm::tbb_executor ex(bench_threads());
    return ex;
}

/// Minimum seconds per benchmark (AMXMM_BENCH_MIN_TIME, default 0.2).
inline double min_time() {
    const char* v = std::getenv("AMXMM_BENCH_MIN_TIME");
    const double t = (v && *v) ? std::atof(v) : 0.2;
    return t > 0 ? t : 0.2;
}

/// Back ends to register GEMM benchmarks for (AMXMM_BENCH_ISAS, default amx,avx512_vnni,avx2).
inline std::vector<amxmm::isa> bench_isas() {
    const char* v = std::getenv("AMXMM_BENCH_ISAS");
    std::string list = (v && *v) ? v : "amx,avx512_vnni,avx2";
    std::vector<amxmm::isa> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (auto i = amxmm::parse_isa(item)) out.push_back(*i);
        else std::fprintf(stderr, "amxmm bench: AMXMM_BENCH_ISAS: unknown back end '%s' ignored\n", item.c_str());
    }
    return out;
}

// ---- shapes ---------------------------------------------------------------------------------------------

/// A dense weight: N rows of K (Y = X · Wᵀ, X is M × K).
struct shape {
    std::int64_t k = 0, n = 0;
    std::string name() const {  // "K2048_N4096" (snprintf: GCC 12 -Wrestrict misfires on "K" + std::string)
        char buf[64];
        std::snprintf(buf, sizeof buf, "K%lld_N%lld", static_cast<long long>(k), static_cast<long long>(n));
        return buf;
    }
};

/// The dense shapes of issue 3 (K × N): 2048×4096, 4096×4096, 4096×14336, 14336×4096.
inline std::vector<shape> dense_shapes() { return {{2048, 4096}, {4096, 4096}, {4096, 14336}, {14336, 4096}}; }

inline std::vector<std::int64_t> m_values() { return {1, 2, 4, 8, 16, 32, 64, 128, 512, 2048}; }

/// Cold runs (weights cycling through >= 4 × LLC) only up to this M; above it the GEMM is compute bound.
inline constexpr std::int64_t cold_max_m = 128;
/// Runs with M up to this use the DRAM probe as their reference when cold.
inline constexpr std::int64_t memory_bound_max_m = 16;

// ---- limits measured once per process ------------------------------------------------------------------

struct process_limits {
    bool measured = false;
    int threads = 0;
    cache_info cache;
    peak_result amx_int8, amx_bf16, vnni;
    dram_result dram;
};

inline process_limits& limits_storage() {
    static process_limits l;
    return l;
}
inline const process_limits& limits() { return limits_storage(); }

inline std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

/// Runs the probes (once) and prints a summary to stderr (stdout may carry JSON).
inline void measure_limits_at_startup(bool with_single_thread_dram = true) {
    process_limits& l = limits_storage();
    l.threads = bench_threads();
    l.cache = detect_cache();
    std::fprintf(stderr, "amxmm bench: %d threads; LLC L%d %.1f MiB x %d instance(s) = %.1f MiB (%s); default isa %s\n",
                 l.threads, l.cache.level, l.cache.instance_bytes / 1048576.0, l.cache.instances,
                 l.cache.total_bytes / 1048576.0, l.cache.source.c_str(), amxmm::default_isa().reason.c_str());
    if (env_int("AMXMM_BENCH_PROBES", 1) == 0) {
        std::fprintf(stderr, "amxmm bench: AMXMM_BENCH_PROBES=0: limit probes skipped (no pct_* counters)\n");
        return;
    }
    l.amx_int8 = probe_amx_int8(l.threads);
    l.amx_bf16 = probe_amx_bf16(l.threads);
    l.vnni = probe_avx512_vnni(l.threads);
    l.dram = probe_dram_read(l.threads, l.cache, with_single_thread_dram);
    l.measured = true;
    const auto peak_line = [](const char* what, const peak_result& p, const char* unit) {
        if (p.available)
            std::fprintf(stderr, "amxmm bench: %-22s %8.2f %s (%d threads; %.3f per thread)\n", what, p.ops_per_s / 1e12,
                         unit, p.threads, p.per_thread_ops_per_s / 1e12);
        else
            std::fprintf(stderr, "amxmm bench: %-22s n/a (%s)\n", what, p.why_not.c_str());
    };
    peak_line("AMX int8 peak", l.amx_int8, "TOP/s");
    peak_line("AMX bf16 peak", l.amx_bf16, "TFLOP/s");
    peak_line("AVX-512 VNNI peak", l.vnni, "TOP/s");
    std::fprintf(stderr, "amxmm bench: %-22s %8.2f GB/s (%d threads, %d streams/thread, %s loads, %.0f MiB buffer)",
                 "DRAM read probe", l.dram.bytes_per_s / 1e9, l.dram.threads, l.dram.best_streams, l.dram.kernel,
                 l.dram.buffer_bytes / 1048576.0);
    if (l.dram.single_thread_bytes_per_s > 0)
        std::fprintf(stderr, "; 1 thread: %.2f GB/s", l.dram.single_thread_bytes_per_s / 1e9);
    std::fprintf(stderr, "\n");
}

/// Adds the probe results to the JSON "context" block (call after measure_limits_at_startup).
inline void add_limits_context() {
    const process_limits& l = limits();
    benchmark::AddCustomContext("amxmm_version", amxmm::version_string());
    benchmark::AddCustomContext("amxmm_threads", std::to_string(l.threads));
    benchmark::AddCustomContext("amxmm_default_isa", amxmm::default_isa().reason);
    benchmark::AddCustomContext("amxmm_cpu", amxmm::to_string(amxmm::detected_cpu_features()));
    benchmark::AddCustomContext("amxmm_llc_bytes", std::to_string(l.cache.total_bytes));
    benchmark::AddCustomContext("amxmm_llc_instance_bytes", std::to_string(l.cache.instance_bytes));
    if (!l.measured) return;
    if (l.amx_int8.available) benchmark::AddCustomContext("amxmm_probe_amx_int8_ops", fmt("%.6g", l.amx_int8.ops_per_s));
    if (l.amx_bf16.available) benchmark::AddCustomContext("amxmm_probe_amx_bf16_flops", fmt("%.6g", l.amx_bf16.ops_per_s));
    if (l.vnni.available) benchmark::AddCustomContext("amxmm_probe_avx512_vnni_ops", fmt("%.6g", l.vnni.ops_per_s));
    benchmark::AddCustomContext("amxmm_probe_dram_read_bytes_per_second", fmt("%.6g", l.dram.bytes_per_s));
    if (l.dram.single_thread_bytes_per_s > 0)
        benchmark::AddCustomContext("amxmm_probe_dram_read_1thread_bytes_per_second",
                                    fmt("%.6g", l.dram.single_thread_bytes_per_s));
}

/// True when argv asks only to list benchmarks (then the probes are not worth running).
inline bool only_listing(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--benchmark_list_tests", 22) == 0 &&
            std::strcmp(argv[i], "--benchmark_list_tests=false") != 0)
            return true;
    return false;
}

/// main() of every bench executable: flags, probes, context, run. `register_fn` registers benchmarks.
template <class Register>
int bench_main(int argc, char** argv, Register&& register_fn, bool with_single_thread_dram = false) {
    const bool listing = only_listing(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!listing) {
        measure_limits_at_startup(with_single_thread_dram);
        add_limits_context();
    }
    register_fn();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

// ---- synthetic weights and activations ---------------------------------------------------------------------

/// N × K/32 GGUF Q4_0 blocks: random nibbles and small random fp16 scales (no float quantization).
inline std::vector<amxmm::block_q4_0> random_q4_0(const shape& s, std::uint64_t seed) {
    std::vector<amxmm::block_q4_0> blocks(static_cast<std::size_t>(s.n * (s.k / amxmm::block_k)));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> scale(0.001f, 0.01f);
    for (amxmm::block_q4_0& b : blocks) {
        b.d = amxmm::fp32_to_fp16(scale(rng));
        const std::uint64_t lo = rng(), hi = rng();
        std::memcpy(b.qs, &lo, 8);
        std::memcpy(b.qs + 8, &hi, 8);
    }
    return blocks;
}

/// Copies [src, src + bytes) to dst with every bench thread (first touch spreads the pages).
inline void parallel_copy(std::byte* dst, const std::byte* src, std::size_t bytes) {
    const std::int64_t chunk = std::int64_t(1) << 21;
    const std::int64_t chunks = (static_cast<std::int64_t>(bytes) + chunk - 1) / chunk;
    executor().parallel_for(chunks, [&](std::int64_t c) {
        const std::size_t off = static_cast<std::size_t>(c * chunk);
        std::memcpy(dst + off, src + off, std::min(static_cast<std::size_t>(chunk), bytes - off));
    });
}

/// Copies of one packed weight. copy(0) is the "hot" weight; cycling through all copies (their total
/// >= 4 × LLC) makes the "cold" working set, so every call streams its weight from DRAM.
class weight_ring {
public:
    explicit weight_ring(const shape& s) : shape_(s) {
        const std::vector<amxmm::block_q4_0> q = random_q4_0(s, 0xA11CE + static_cast<std::uint64_t>(s.k * 31 + s.n));
        packed_ = amxmm::pack_q4_0_vnni(amxmm::q4_0_matrix_view{q.data(), s.n, s.k}, executor());
    }
    const shape& dims() const noexcept { return shape_; }
    std::size_t weight_bytes() const noexcept { return static_cast<std::size_t>(packed_.layout().total_bytes()); }
    /// Copies needed so that they total >= 4 × LLC (at least 2).
    std::size_t cold_copies() const {
        const std::size_t llc = std::max<std::size_t>(limits().cache.total_bytes, std::size_t(1) << 20);
        return std::max<std::size_t>(2, (4 * llc + weight_bytes() - 1) / weight_bytes());
    }
    /// Makes sure `count` copies exist (copy 0 is the packed original).
    void reserve(std::size_t count) {
        const std::size_t stride = (weight_bytes() + 4095) / 4096 * 4096;
        while (1 + copies_.size() < count) {
            big_buffer b(stride);
            parallel_copy(b.data(), packed_.data(), weight_bytes());
            copies_.push_back(std::move(b));
        }
    }
    std::size_t size() const noexcept { return 1 + copies_.size(); }
    amxmm::packed_q4_0_vnni_view view(std::size_t i) const {
        if (i == 0) return packed_.view();
        return {packed_.layout(), copies_[i - 1].data()};
    }

private:
    shape shape_;
    amxmm::packed_q4_0_vnni packed_;
    std::vector<big_buffer> copies_;
};

/// The weight ring of `s`. Only one shape's ring is kept alive (benchmarks are registered shape by
/// shape, so this is built once per shape and memory stays bounded).
inline weight_ring& ring_for(const shape& s) {
    static std::unique_ptr<weight_ring> ring;
    if (!ring || ring->dims().k != s.k || ring->dims().n != s.n) {
        ring.reset();
        ring = std::make_unique<weight_ring>(s);
    }
    return *ring;
}

/// At least `count` random fp32 values in [-1, 1), shared by all benchmarks (grown on demand).
inline float* activations(std::size_t count) {
    static std::vector<float> x;
    if (x.size() < count) {
        const std::size_t old = x.size();
        x.resize(count);
        std::mt19937 rng(1234 + static_cast<unsigned>(old));
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (std::size_t i = old; i < count; ++i) x[i] = u(rng);
    }
    return x.data();
}

/// Output scratch of at least `count` floats.
inline float* outputs(std::size_t count) {
    static std::vector<float> y;
    if (y.size() < count) y.resize(count);
    return y.data();
}

// ---- counters ---------------------------------------------------------------------------------------------

/// Which in-process limit a run is compared with.
enum class reference { none, dram, amx_bf16, amx_int8, vnni };

inline const char* to_string(reference r) {
    switch (r) {
        case reference::none: return "none";
        case reference::dram: return "dram";
        case reference::amx_bf16: return "amx_bf16";
        case reference::amx_int8: return "amx_int8";
        case reference::vnni: return "avx512_vnni";
    }
    return "?";
}

/// The limit in units per second (bytes/s for dram, ops/s otherwise); 0 when not measured.
inline double reference_rate(reference r) {
    const process_limits& l = limits();
    if (!l.measured) return 0;
    switch (r) {
        case reference::none: return 0;
        case reference::dram: return l.dram.bytes_per_s;
        case reference::amx_bf16: return l.amx_bf16.available ? l.amx_bf16.ops_per_s : 0;
        case reference::amx_int8: return l.amx_int8.available ? l.amx_int8.ops_per_s : 0;
        case reference::vnni: return l.vnni.available ? l.vnni.ops_per_s : 0;
    }
    return 0;
}

/// The reference of a GEMM run (see the header comment).
inline reference gemm_reference(amxmm::compute_mode mode, amxmm::isa backend, std::int64_t m, bool cold) {
    if (cold && m <= memory_bound_max_m) return reference::dram;
    if (backend == amxmm::isa::amx) return mode == amxmm::compute_mode::fast ? reference::amx_bf16 : reference::amx_int8;
    if (backend == amxmm::isa::avx512_vnni) return reference::vnni;
    return reference::none;
}

/// Wall time of a benchmark's timed loop, measured next to Google Benchmark's own (UseRealTime) so that
/// derived counters (percentages, ratios) print as plain numbers instead of "/s" rates.
class loop_timer {
public:
    void start() { t0_ = std::chrono::steady_clock::now(); }
    /// Seconds per iteration since start().
    double stop(const benchmark::State& st) const {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        return st.iterations() > 0 ? s / double(st.iterations()) : 0.0;
    }

private:
    std::chrono::steady_clock::time_point t0_;
};

/// Sets flops, bytes_per_second, pct_of_probe, pct_dram (cold) and the label of a GEMM run;
/// `seconds_per_call` from loop_timer.
inline void set_gemm_counters(benchmark::State& st, std::int64_t m, const shape& s, std::size_t weight_bytes,
                              reference ref, bool cold, double seconds_per_call, const std::string& label_extra = {}) {
    const double flops = 2.0 * double(m) * double(s.n) * double(s.k);
    const double bytes = double(weight_bytes) + double(m) * double(s.k) * sizeof(float);
    st.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    st.SetBytesProcessed(static_cast<std::int64_t>(bytes * double(st.iterations())));
    std::string label = "ref=";
    label += to_string(ref);
    if (const double rate = reference_rate(ref); rate > 0 && seconds_per_call > 0) {
        const double units = ref == reference::dram ? bytes : flops;
        st.counters["pct_of_probe"] = 100.0 * units / seconds_per_call / rate;
    }
    if (const double dram = reference_rate(reference::dram); cold && dram > 0 && seconds_per_call > 0)
        st.counters["pct_dram"] = 100.0 * bytes / seconds_per_call / dram;
    if (!label_extra.empty()) {
        label += " ";
        label += label_extra;
    }
    st.SetLabel(label);
}

}  // namespace amxmm_bench
