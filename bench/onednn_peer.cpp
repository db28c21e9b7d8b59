// amxmm_bench_onednn: oneDNN matmul as the peer, and amxmm on the same shapes, in one process.
//
//   onednn/bf16/K<K>_N<N>/M<M>   bf16 src × bf16 weights -> f32 dst
//   onednn/u8s8/K<K>_N<N>/M<M>   u8 src × s8 weights -> f32 dst
//       weights are prepacked: the weights memory descriptor is format_tag::any and the plain (N × K,
//       GGUF row order) weights are reordered into the primitive's layout once, outside the timing;
//       sources are already bf16 / u8 (no conversion timed), one weight copy ("hot").
//   amxmm/<fast|exact>/<isa>/K<K>_N<N>/M<M>/hot
//       amxmm's gemm_q4_0 on the default back end (AMXMM_ISA applies), including its activation
//       conversion (fp32 -> bf16 or Q8_0), with counter ratio_to_onednn = oneDNN time / amxmm time
//       (> 1: amxmm is faster) against bf16 (fast) or u8s8 (exact), same shape and M. The oneDNN time
//       comes from the onednn/ benchmark of this run when it ran (registered first), else it is
//       measured right there.
// oneDNN runs with AMXMM_BENCH_THREADS threads, amxmm on its TBB executor with the same count. Debian's
// oneDNN uses OpenMP (libgomp): the count is set with the omp_set_num_threads of the runtime oneDNN
// loaded, found with dlsym, so no OpenMP flags (and no second OpenMP runtime, e.g. clang's libomp) are
// needed here.
#include "bench_common.hpp"

#if defined(AMXMM_BENCH_HAVE_DNNL)

#include <oneapi/dnnl/dnnl.hpp>
#include <oneapi/dnnl/dnnl_version.h>
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <map>
#include <thread>
#include <tuple>

namespace {

using namespace amxmm_bench;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

enum class peer_kind { bf16, u8s8 };
const char* to_string(peer_kind k) { return k == peer_kind::bf16 ? "bf16" : "u8s8"; }

dnnl::engine& cpu_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

/// One prepacked oneDNN matmul: Y (M × N, f32) = X (M × K) · W (K × N).
class onednn_case {
public:
    onednn_case(peer_kind kind, const shape& s, std::int64_t m) : stream_(cpu_engine()) {
        dnnl::engine& eng = cpu_engine();
        const dt src_t = kind == peer_kind::bf16 ? dt::bf16 : dt::u8;
        const dt wei_t = kind == peer_kind::bf16 ? dt::bf16 : dt::s8;
        const dnnl::memory::dims src_dims{m, s.k}, wei_dims{s.k, s.n}, dst_dims{m, s.n};
        const dnnl::memory::desc src_md(src_dims, src_t, tag::ab), wei_any(wei_dims, wei_t, tag::any),
            dst_md(dst_dims, dt::f32, tag::ab);
#if DNNL_VERSION_MAJOR >= 3
        pd_ = dnnl::matmul::primitive_desc(eng, src_md, wei_any, dst_md);
#else
        pd_ = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_any, dst_md), eng);
#endif
        prim_ = dnnl::matmul(pd_);
        // Plain weights stored N × K (each output column's K values contiguous, like GGUF rows).
        dnnl::memory wei_plain(dnnl::memory::desc(wei_dims, wei_t, tag::ba), eng);
        fill(wei_plain, kind == peer_kind::bf16, /*is_weight=*/true, 17);
        wei_ = dnnl::memory(pd_.weights_desc(), eng);
        dnnl::reorder(wei_plain, wei_).execute(stream_, wei_plain, wei_);
        src_ = dnnl::memory(pd_.src_desc(), eng);
        fill(src_, kind == peer_kind::bf16, /*is_weight=*/false, 29);
        dst_ = dnnl::memory(pd_.dst_desc(), eng);
        stream_.wait();
        weight_bytes_ = pd_.weights_desc().get_size();
    }
    void run() {
        prim_.execute(stream_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}});
        stream_.wait();
    }
    std::string impl() const { return pd_.impl_info_str(); }
    std::size_t weight_bytes() const { return weight_bytes_; }

private:
    static void fill(dnnl::memory& mem, bool bf16, bool is_weight, unsigned seed) {
        const std::size_t bytes = mem.get_desc().get_size();
        auto* p = static_cast<unsigned char*>(mem.get_data_handle());
        std::mt19937 rng(seed);
        if (bf16) {
            std::uniform_real_distribution<float> u(-1.0f, 1.0f);
            auto* b = reinterpret_cast<amxmm::bf16*>(p);
            for (std::size_t i = 0; i < bytes / 2; ++i) b[i] = amxmm::fp32_to_bf16(u(rng) * (is_weight ? 0.01f : 1.0f));
        } else {
            // s8 weights in the Q4 range (-8..7); u8 activations over the full range.
            for (std::size_t i = 0; i < bytes; ++i)
                p[i] = is_weight ? static_cast<unsigned char>(static_cast<int>(rng() % 16) - 8) : static_cast<unsigned char>(rng());
        }
    }

    dnnl::stream stream_;
    dnnl::matmul::primitive_desc pd_;
    dnnl::matmul prim_;
    dnnl::memory wei_, src_, dst_;
    std::size_t weight_bytes_ = 0;
};

using case_key = std::tuple<int, std::int64_t, std::int64_t, std::int64_t>;  // kind, K, N, M

/// Seconds per oneDNN call, recorded by the onednn/ benchmarks of this run.
std::map<case_key, double>& onednn_times() {
    static std::map<case_key, double> t;
    return t;
}
case_key key_of(peer_kind kind, const shape& s, std::int64_t m) { return {static_cast<int>(kind), s.k, s.n, m}; }

/// oneDNN's seconds per call for (kind, shape, m): from this run's onednn/ benchmark, else measured now.
double onednn_seconds(peer_kind kind, const shape& s, std::int64_t m) {
    auto& times = onednn_times();
    if (auto it = times.find(key_of(kind, s, m)); it != times.end()) return it->second;
    onednn_case c(kind, s, m);
    c.run();
    int calls = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
        c.run();
        ++calls;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (elapsed < min_time());
    return times[key_of(kind, s, m)] = elapsed / calls;
}

void bm_onednn(benchmark::State& st, peer_kind kind, shape s, std::int64_t m) {
    try {
        onednn_case c(kind, s, m);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let amxmm's TBB workers go idle
        c.run();  // warm-up
        loop_timer timer;
        timer.start();
        for (auto _ : st) c.run();
        const double seconds = timer.stop(st);
        if (seconds > 0) onednn_times()[key_of(kind, s, m)] = seconds;
        const double flops = 2.0 * double(m) * double(s.n) * double(s.k);
        const double bytes = double(c.weight_bytes()) + double(m) * double(s.k) * (kind == peer_kind::bf16 ? 2.0 : 1.0);
        st.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
        st.SetBytesProcessed(static_cast<std::int64_t>(bytes * double(st.iterations())));
        const reference ref = kind == peer_kind::bf16 ? reference::amx_bf16 : reference::amx_int8;
        if (const double rate = reference_rate(ref); rate > 0 && seconds > 0)
            st.counters["pct_of_probe"] = 100.0 * flops / seconds / rate;
        st.SetLabel("impl=" + c.impl() + " ref=" + (reference_rate(ref) > 0 ? to_string(ref) : "none"));
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
    }
}

void bm_amxmm(benchmark::State& st, amxmm::compute_mode mode, shape s, std::int64_t m) {
    const amxmm::isa backend = amxmm::default_isa().chosen;
    try {
        weight_ring& ring = ring_for(s);
        const float* x = activations(static_cast<std::size_t>(m * s.k));
        float* y = outputs(static_cast<std::size_t>(m * s.n));
        amxmm::gemm_options opt;
        opt.mode = mode;
        opt.force_isa = backend;
        amxmm::tbb_executor& ex = executor();
        const peer_kind peer = mode == amxmm::compute_mode::fast ? peer_kind::bf16 : peer_kind::u8s8;
        const double peer_s = onednn_seconds(peer, s, m);
        // oneDNN's OpenMP workers spin for a while after a call before they sleep; let them settle so
        // they do not compete with amxmm's TBB workers for the cores.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));

        amxmm::gemm_q4_0(ring.view(0), m, x, s.k, y, s.n, opt, ex);  // warm-up
        loop_timer timer;
        timer.start();
        for (auto _ : st) {
            amxmm::gemm_q4_0(ring.view(0), m, x, s.k, y, s.n, opt, ex);
            benchmark::DoNotOptimize(y);
            benchmark::ClobberMemory();
        }
        const double seconds = timer.stop(st);
        std::string vs = "vs=onednn/";
        vs += to_string(peer);
        set_gemm_counters(st, m, s, ring.weight_bytes(), gemm_reference(mode, backend, m, false), false, seconds, vs);
        if (seconds > 0) st.counters["ratio_to_onednn"] = peer_s / seconds;
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
    }
}

/// Sets oneDNN's thread count; returns how (for the JSON context).
std::string set_onednn_threads(int threads) {
    using set_fn = void (*)(int);
    if (auto* set = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"))) {
        set(threads);
        return "omp_set_num_threads(" + std::to_string(threads) + ")";
    }
    std::fprintf(stderr, "amxmm_bench_onednn: oneDNN is not OpenMP-threaded here; it uses its default thread count\n");
    return "default (no OpenMP runtime found)";
}

void register_all() {
    benchmark::AddCustomContext("amxmm_onednn_threads", set_onednn_threads(bench_threads()));
    const std::string isa_name = amxmm::to_string(amxmm::default_isa().chosen);
    for (const shape& s : dense_shapes())
        for (std::int64_t m : m_values()) {
            std::string tail = "/";  // built with += : GCC 12 -Wrestrict misfires on "lit" + std::string
            tail += s.name();
            tail += "/M";
            tail += std::to_string(m);
            for (peer_kind k : {peer_kind::bf16, peer_kind::u8s8})
                benchmark::RegisterBenchmark(("onednn/" + std::string(to_string(k)) + tail).c_str(), bm_onednn, k, s, m)
                    ->UseRealTime()
                    ->MinTime(min_time())
                    ->Unit(benchmark::kMicrosecond);
            for (amxmm::compute_mode mode : {amxmm::compute_mode::fast, amxmm::compute_mode::exact})
                benchmark::RegisterBenchmark(
                    ("amxmm/" + std::string(amxmm::to_string(mode)) + "/" + isa_name + tail + "/hot").c_str(), bm_amxmm,
                    mode, s, m)
                    ->UseRealTime()
                    ->MinTime(min_time())
                    ->Unit(benchmark::kMicrosecond);
        }
}

}  // namespace

int main(int argc, char** argv) {
    // OpenMP reads OMP_WAIT_POLICY when it loads (before main), so choose it by re-executing. Passive:
    // idle oneDNN workers sleep instead of spinning, so they neither steal cores from amxmm's TBB
    // workers in this process nor get descheduled by a hypervisor's pause-loop exiting (spinning
    // OpenMP barriers cost ~8 ms per call on a 2-vCPU KVM guest). Set OMP_WAIT_POLICY to override.
    if (std::getenv("OMP_WAIT_POLICY") == nullptr && setenv("OMP_WAIT_POLICY", "passive", 1) == 0) {
        execv("/proc/self/exe", argv);
        std::fprintf(stderr, "amxmm_bench_onednn: re-exec with OMP_WAIT_POLICY=passive failed; continuing\n");
    }
    benchmark::AddCustomContext("amxmm_omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "unset");
    benchmark::AddCustomContext("amxmm_onednn_version", std::to_string(DNNL_VERSION_MAJOR) + "." +
                                                            std::to_string(DNNL_VERSION_MINOR) + "." +
                                                            std::to_string(DNNL_VERSION_PATCH));
    return amxmm_bench::bench_main(argc, argv, register_all);
}

#else  // !AMXMM_BENCH_HAVE_DNNL

int main() {
    std::fprintf(stderr, "amxmm_bench_onednn: built without oneDNN (install libdnnl-dev and reconfigure)\n");
    return 0;
}

#endif
