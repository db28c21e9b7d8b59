// In-process probes of this machine's limits, used to express benchmark results as "% of what the
// hardware can do", measured in the same process and run:
//
//   probe_amx_int8 / probe_amx_bf16   register-only AMX peak: every thread loops TDPBSSD / TDPBF16PS on
//                                     tiles already loaded (4 independent C tiles, 2 A, 2 B, all 16 × 64 B)
//   probe_amx_bf16_l1_operands        TDPBF16PS with its operands loaded: the 2 × 2 tile blocking every
//                                     amxmm AMX kernel uses, each block's two A and two B tiles loaded
//                                     from L1-resident buffers (32 KiB per thread) between the products —
//                                     the most a GEMM with that blocking can reach when nothing misses L1
//   probe_avx512_vnni                 register-only VPDPBUSD peak (16 independent zmm accumulators)
//   probe_dram_read                   multi-stream read bandwidth over a buffer >= 8 × LLC (>= 1 GiB),
//                                     all threads on disjoint slices, 1/2/4 streams per thread, best kept
//   detect_cache                      last-level cache size (sysfs), per instance and in total
//
// Threads are std::threads pinned one per CPU of the process's affinity mask (round robin when more
// threads than CPUs are asked for). Ops are counted like GEMM FLOPs: a multiply and an add are 2 ops, so
// one 16×16×64 TDPBSSD is 2·16·16·64 ops. Only the standard library, <immintrin.h> and amxmm's headers are
// used (no Google Benchmark), so examples can include this header too.
#pragma once

#include <amxmm/amxmm.hpp>
#include <amxmm/tile/amx.hpp>
#include <amxmm/tile/tile_config.hpp>

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace amxmm_bench {

// ---- CPUs and caches ------------------------------------------------------------------------------

/// CPUs this process may run on (sched_getaffinity), in increasing order.
inline std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
    if (cpus.empty()) {
        const unsigned n = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned c = 0; c < n; ++c) cpus.push_back(static_cast<int>(c));
    }
    return cpus;
}

struct cache_info {
    int level = 0;                        ///< level of the last-level cache (3 on most machines)
    std::size_t instance_bytes = 0;       ///< one LLC instance (one CCX / one socket slice)
    int instances = 0;                    ///< distinct LLC instances among this process's CPUs
    std::size_t total_bytes = 0;          ///< instance_bytes summed over the instances
    std::string source;                   ///< "sysfs", "sysconf" or "default"
};

namespace detail {
inline std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    if (f) std::getline(f, s);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}
inline std::size_t parse_size(const std::string& s) {  // "32768K", "32M", "1048576"
    if (s.empty()) return 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    std::size_t mult = 1;
    if (end && (*end == 'K' || *end == 'k')) mult = 1024;
    if (end && (*end == 'M' || *end == 'm')) mult = 1024 * 1024;
    if (end && (*end == 'G' || *end == 'g')) mult = std::size_t(1) << 30;
    return static_cast<std::size_t>(v) * mult;
}
}  // namespace detail

/// The last-level cache: highest-level data/unified cache in sysfs, deduplicated by shared_cpu_list.
inline cache_info detect_cache() {
    cache_info info;
    std::set<std::string> seen;  // shared_cpu_list of LLC instances already counted
    for (int cpu : allowed_cpus()) {
        int best_level = 0;
        std::size_t best_size = 0;
        std::string best_shared;
        for (int idx = 0; idx < 16; ++idx) {
            const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/cache/index" +
                                    std::to_string(idx) + "/";
            const std::string level = detail::read_line(dir + "level");
            if (level.empty()) break;
            const std::string type = detail::read_line(dir + "type");
            if (type == "Instruction") continue;
            const int lv = std::atoi(level.c_str());
            if (lv > best_level) {
                best_level = lv;
                best_size = detail::parse_size(detail::read_line(dir + "size"));
                best_shared = detail::read_line(dir + "shared_cpu_list");
            }
        }
        if (best_level == 0 || best_size == 0) continue;
        if (best_level > info.level) {  // a higher level wins; start over
            info = cache_info{};
            seen.clear();
            info.level = best_level;
            info.instance_bytes = best_size;
        }
        if (best_level == info.level && seen.insert(best_shared.empty() ? std::to_string(cpu) : best_shared).second) {
            info.instances += 1;
            info.total_bytes += best_size;
            info.instance_bytes = std::max(info.instance_bytes, best_size);
        }
    }
    if (info.total_bytes > 0) {
        info.source = "sysfs";
        return info;
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE); l3 > 0) {
        info = {3, static_cast<std::size_t>(l3), 1, static_cast<std::size_t>(l3), "sysconf"};
        return info;
    }
#endif
    info = {3, std::size_t(32) << 20, 1, std::size_t(32) << 20, "default (32 MiB; sysfs had no cache info)"};
    return info;
}

// ---- large buffers ----------------------------------------------------------------------------------

/// Page-aligned anonymous memory, transparent huge pages requested (as a model loader's mmap would
/// get them with THP in "madvise" mode). Not initialised: touch it from the threads that will use it.
class big_buffer {
public:
    big_buffer() = default;
    explicit big_buffer(std::size_t bytes) : bytes_(bytes) {
        if (bytes == 0) return;
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        data_ = static_cast<std::byte*>(p);
    }
    big_buffer(big_buffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr; o.bytes_ = 0; }
    big_buffer& operator=(big_buffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = o.data_;
            bytes_ = o.bytes_;
            o.data_ = nullptr;
            o.bytes_ = 0;
        }
        return *this;
    }
    big_buffer(const big_buffer&) = delete;
    big_buffer& operator=(const big_buffer&) = delete;
    ~big_buffer() { release(); }

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return bytes_; }

private:
    void release() noexcept {
        if (data_) munmap(data_, bytes_);
        data_ = nullptr;
    }
    std::byte* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// ---- pinned thread teams ---------------------------------------------------------------------------

namespace detail {
inline void pin_this_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
}
using clock = std::chrono::steady_clock;
}  // namespace detail

/// Per-thread outcome of a team run.
struct team_result {
    std::vector<double> units;    ///< what each thread's body returned
    std::vector<double> seconds;  ///< each thread's own body time
    double wall_seconds = 0;      ///< first start to last end
    /// Σ units_i / seconds_i: the aggregate rate of threads that ran concurrently.
    double sum_of_rates() const {
        double r = 0;
        for (std::size_t i = 0; i < units.size(); ++i)
            if (seconds[i] > 0) r += units[i] / seconds[i];
        return r;
    }
    double total_units() const {
        double u = 0;
        for (double v : units) u += v;
        return u;
    }
};

/// Runs body(tid, stop) on `threads` pinned threads that start together. When stop_after_s > 0, `stop`
/// becomes true after that many seconds (time-limited bodies poll it); otherwise bodies run to the end.
template <class Body>
team_result run_team(int threads, double stop_after_s, Body&& body) {
    const std::vector<int> cpus = allowed_cpus();
    threads = std::max(1, threads);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false}, stop{false};
    std::vector<detail::clock::time_point> t0(static_cast<std::size_t>(threads)), t1(static_cast<std::size_t>(threads));
    team_result r;
    r.units.assign(static_cast<std::size_t>(threads), 0.0);
    r.seconds.assign(static_cast<std::size_t>(threads), 0.0);
    std::vector<std::thread> team;
    team.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            detail::pin_this_thread(cpus[static_cast<std::size_t>(t) % cpus.size()]);
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) { /* spin: start together */ }
            const auto i = static_cast<std::size_t>(t);
            t0[i] = detail::clock::now();
            r.units[i] = body(t, static_cast<const std::atomic<bool>&>(stop));
            t1[i] = detail::clock::now();
        });
    }
    while (ready.load() < threads) std::this_thread::yield();
    go.store(true, std::memory_order_release);
    if (stop_after_s > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(stop_after_s));
        stop.store(true, std::memory_order_release);
    }
    for (auto& th : team) th.join();
    auto first = t0[0], last = t1[0];
    for (int t = 0; t < threads; ++t) {
        const auto i = static_cast<std::size_t>(t);
        r.seconds[i] = std::chrono::duration<double>(t1[i] - t0[i]).count();
        first = std::min(first, t0[i]);
        last = std::max(last, t1[i]);
    }
    r.wall_seconds = std::chrono::duration<double>(last - first).count();
    return r;
}

// ---- compute peaks -----------------------------------------------------------------------------------

/// Ops per instruction (multiply + add = 2) of the probed instructions.
inline constexpr double tdpbssd_ops = 2.0 * 16 * 16 * 64;    // (16×64 int8) · (64×16 int8) -> 16×16 int32
inline constexpr double tdpbf16ps_ops = 2.0 * 16 * 16 * 32;  // (16×32 bf16) · (32×16 bf16) -> 16×16 fp32
inline constexpr double vpdpbusd_zmm_ops = 2.0 * 64;         // 64 u8·s8 products summed into 16 int32

namespace detail {

inline constexpr int amx_unroll = 64;  // groups of 4 TDP* between polls of the stop flag

inline void fill_random_bytes(unsigned char* p, std::size_t n, std::uint64_t seed, unsigned char mask = 0xff) {
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < n; ++i) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = static_cast<unsigned char>(s >> 24) & mask;
    }
}

/// Stores the four C tiles and folds a byte of each into a volatile, so that the products count as used.
AMXMM_TARGET_AMX inline void keep_c_tiles() {
    using T = amxmm::detail::amx_tiles;
    alignas(64) unsigned char c[4][16 * 64];
    T::store<amxmm::c00>(c[0], 64);
    T::store<amxmm::c01>(c[1], 64);
    T::store<amxmm::c10>(c[2], 64);
    T::store<amxmm::c11>(c[3], 64);
    volatile unsigned char sink = c[0][0] ^ c[1][1] ^ c[2][2] ^ c[3][3];
    (void)sink;
}

/// Instructions issued by one thread until `stop`: 4 independent C tiles (c00..c11), A tiles a0/a1,
/// B tiles b0/b1, every tile (16, 64 B). bf16 selects TDPBF16PS, else TDPBSSD.
template <bool bf16>
AMXMM_TARGET_AMX double amx_thread_loop(const std::atomic<bool>& stop, std::uint64_t seed) {
    using T = amxmm::detail::amx_tiles;
    alignas(64) unsigned char a[16 * 64], b[16 * 64];
    // Small values (bf16: exponents near 1.0 and tiny mantissas) so nothing overflows into inf/NaN.
    fill_random_bytes(a, sizeof a, seed, bf16 ? 0x3f : 0x7f);
    fill_random_bytes(b, sizeof b, seed + 1, bf16 ? 0x3f : 0x7f);
    if (bf16) {  // every 16-bit word: 0x3Fxx (≈ 0.5..1.0)
        for (std::size_t i = 1; i < sizeof a; i += 2) a[i] = 0x3f, b[i] = 0x3f;
    }
    double instructions = 0;
    {
        amxmm::tile_config_guard guard(amxmm::fast_mode_tile_config());  // all tiles (16, 64 B)
        T::load<amxmm::a0>(a, 64);
        T::load<amxmm::a1>(a, 64);
        T::load<amxmm::b0>(b, 64);
        T::load<amxmm::b1>(b, 64);
        T::zero<amxmm::c00>();
        T::zero<amxmm::c01>();
        T::zero<amxmm::c10>();
        T::zero<amxmm::c11>();
        while (!stop.load(std::memory_order_relaxed)) {
            for (int i = 0; i < amx_unroll; ++i) {
                if constexpr (bf16) {
                    T::dp_bf16<amxmm::c00, amxmm::a0, amxmm::b0>();
                    T::dp_bf16<amxmm::c01, amxmm::a0, amxmm::b1>();
                    T::dp_bf16<amxmm::c10, amxmm::a1, amxmm::b0>();
                    T::dp_bf16<amxmm::c11, amxmm::a1, amxmm::b1>();
                } else {
                    T::dp_int8<amxmm::c00, amxmm::a0, amxmm::b0>();
                    T::dp_int8<amxmm::c01, amxmm::a0, amxmm::b1>();
                    T::dp_int8<amxmm::c10, amxmm::a1, amxmm::b0>();
                    T::dp_int8<amxmm::c11, amxmm::a1, amxmm::b1>();
                }
            }
            instructions += 4.0 * amx_unroll;
        }
        keep_c_tiles();
    }
    return instructions;
}

/// TDPBF16PS instructions issued by one thread until `stop` with every operand tile loaded: blocks of
/// 2 A tiles and 2 B tiles from 8 + 8 blocks of 2 KiB (L1-resident), 4 products per block, each load
/// issued right after the last product reading its register (the order of amxmm's block_products).
AMXMM_TARGET_AMX inline double amx_l1_operand_loop(const std::atomic<bool>& stop, std::uint64_t seed) {
    using T = amxmm::detail::amx_tiles;
    constexpr int blocks = 8;
    alignas(64) unsigned char a[blocks][2048], b[blocks][2048];
    fill_random_bytes(&a[0][0], sizeof a, seed, 0x3f);
    fill_random_bytes(&b[0][0], sizeof b, seed + 1, 0x3f);
    for (std::size_t i = 1; i < sizeof a; i += 2) (&a[0][0])[i] = 0x3f, (&b[0][0])[i] = 0x3f;  // bf16 ≈ 0.5..1.0
    double instructions = 0;
    {
        amxmm::tile_config_guard guard(amxmm::fast_mode_tile_config());
        T::zero<amxmm::c00>();
        T::zero<amxmm::c01>();
        T::zero<amxmm::c10>();
        T::zero<amxmm::c11>();
        T::load<amxmm::a0>(a[0], 64);
        T::load<amxmm::a1>(a[0] + 1024, 64);
        T::load<amxmm::b0>(b[0], 64);
        T::load<amxmm::b1>(b[0] + 1024, 64);
        while (!stop.load(std::memory_order_relaxed)) {
            for (int i = 0; i < amx_unroll; ++i) {
                const int next = (i + 1) % blocks;
                T::dp_bf16<amxmm::c01, amxmm::a0, amxmm::b1>();
                T::dp_bf16<amxmm::c00, amxmm::a0, amxmm::b0>();
                T::load<amxmm::a0>(a[next], 64);
                T::dp_bf16<amxmm::c11, amxmm::a1, amxmm::b1>();
                T::load<amxmm::b1>(b[next] + 1024, 64);
                T::dp_bf16<amxmm::c10, amxmm::a1, amxmm::b0>();
                T::load<amxmm::b0>(b[next], 64);
                T::load<amxmm::a1>(a[next] + 1024, 64);
            }
            instructions += 4.0 * amx_unroll;
        }
        keep_c_tiles();
    }
    return instructions;
}

AMXMM_INTRINSICS_BEGIN
/// VPDPBUSD zmm instructions issued by one thread until `stop` (16 independent accumulators).
AMXMM_TARGET_AVX512 inline double vnni_thread_loop(const std::atomic<bool>& stop, std::uint64_t seed) {
    alignas(64) unsigned char src[128];
    fill_random_bytes(src, sizeof src, seed, 0x7f);
    const __m512i a = _mm512_load_si512(src), b = _mm512_load_si512(src + 64);
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512i c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
    double instructions = 0;
    while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i) {
            c0 = _mm512_dpbusd_epi32(c0, a, b);
            c1 = _mm512_dpbusd_epi32(c1, a, b);
            c2 = _mm512_dpbusd_epi32(c2, a, b);
            c3 = _mm512_dpbusd_epi32(c3, a, b);
            c4 = _mm512_dpbusd_epi32(c4, a, b);
            c5 = _mm512_dpbusd_epi32(c5, a, b);
            c6 = _mm512_dpbusd_epi32(c6, a, b);
            c7 = _mm512_dpbusd_epi32(c7, a, b);
            c8 = _mm512_dpbusd_epi32(c8, a, b);
            c9 = _mm512_dpbusd_epi32(c9, a, b);
            c10 = _mm512_dpbusd_epi32(c10, a, b);
            c11 = _mm512_dpbusd_epi32(c11, a, b);
            c12 = _mm512_dpbusd_epi32(c12, a, b);
            c13 = _mm512_dpbusd_epi32(c13, a, b);
            c14 = _mm512_dpbusd_epi32(c14, a, b);
            c15 = _mm512_dpbusd_epi32(c15, a, b);
            // Keep the compiler from collapsing the chains: they are opaque to it from here on.
            __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7));
            __asm__ volatile("" : "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11), "+v"(c12), "+v"(c13), "+v"(c14), "+v"(c15));
        }
        instructions += 16.0 * 256;
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)),
                                             _mm512_add_epi32(_mm512_add_epi32(c12, c13), _mm512_add_epi32(c14, c15))));
    volatile int sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return instructions;
}
AMXMM_INTRINSICS_END

}  // namespace detail

/// Result of a compute probe: ops/s of all threads together and per thread.
struct peak_result {
    bool available = false;
    std::string why_not;   ///< when not available
    int threads = 0;
    double ops_per_s = 0;  ///< all threads
    double per_thread_ops_per_s = 0;
};

namespace detail {
/// Best of `reps` team runs of `seconds`: every thread runs loop(tid, stop), which returns the
/// instructions it issued; each instruction is `ops` ops. Not available where `needs` is not.
template <class Loop>
peak_result probe_peak(amxmm::isa needs, int threads, double seconds, int reps, double ops, Loop&& loop) {
    peak_result r;
    r.threads = threads;
    if (std::string why = amxmm::isa_unsupported_reason(needs); !why.empty()) {
        r.why_not = why;
        return r;
    }
    r.available = true;
    for (int rep = 0; rep < reps; ++rep) {
        const team_result t = run_team(threads, seconds, loop);
        r.ops_per_s = std::max(r.ops_per_s, t.sum_of_rates() * ops);
    }
    r.per_thread_ops_per_s = r.ops_per_s / threads;
    return r;
}
}  // namespace detail

/// AMX register-only peak (TDPBSSD when !bf16, TDPBF16PS when bf16), best of `reps` runs of `seconds`.
inline peak_result probe_amx(bool bf16, int threads, double seconds = 0.2, int reps = 2) {
    return detail::probe_peak(amxmm::isa::amx, threads, seconds, reps, bf16 ? tdpbf16ps_ops : tdpbssd_ops,
                              [&](int tid, const std::atomic<bool>& stop) {
                                  return bf16 ? detail::amx_thread_loop<true>(stop, std::uint64_t(tid) + 7)
                                              : detail::amx_thread_loop<false>(stop, std::uint64_t(tid) + 7);
                              });
}
inline peak_result probe_amx_int8(int threads, double seconds = 0.2, int reps = 2) {
    return probe_amx(false, threads, seconds, reps);
}
inline peak_result probe_amx_bf16(int threads, double seconds = 0.2, int reps = 2) {
    return probe_amx(true, threads, seconds, reps);
}

/// TDPBF16PS with its operands loaded from L1 (detail::amx_l1_operand_loop), best of `reps` runs.
inline peak_result probe_amx_bf16_l1_operands(int threads, double seconds = 0.2, int reps = 2) {
    return detail::probe_peak(amxmm::isa::amx, threads, seconds, reps, tdpbf16ps_ops,
                              [](int tid, const std::atomic<bool>& stop) {
                                  return detail::amx_l1_operand_loop(stop, std::uint64_t(tid) + 7);
                              });
}

/// AVX-512 VNNI register-only peak (VPDPBUSD zmm), best of `reps` runs of `seconds`.
inline peak_result probe_avx512_vnni(int threads, double seconds = 0.2, int reps = 2) {
    return detail::probe_peak(amxmm::isa::avx512_vnni, threads, seconds, reps, vpdpbusd_zmm_ops,
                              [](int tid, const std::atomic<bool>& stop) {
                                  return detail::vnni_thread_loop(stop, std::uint64_t(tid) + 11);
                              });
}

// ---- DRAM read bandwidth ------------------------------------------------------------------------------

namespace detail {

inline constexpr std::size_t read_step = 256;  // bytes per stream per loop trip (4 × 64 B)

AMXMM_INTRINSICS_BEGIN
/// Reads [p, p + bytes) as S interleaved streams (bytes a multiple of S × 256); returns a checksum.
template <int S>
AMXMM_TARGET_AVX512 std::uint64_t read_streams_avx512(const std::byte* p, std::size_t bytes) {
    const std::size_t per = bytes / S;
    __m512i acc[S][2];
    for (int s = 0; s < S; ++s) acc[s][0] = acc[s][1] = _mm512_setzero_si512();
    for (std::size_t off = 0; off < per; off += read_step) {
        for (int s = 0; s < S; ++s) {
            const std::byte* q = p + static_cast<std::size_t>(s) * per + off;
            acc[s][0] = _mm512_xor_si512(acc[s][0], _mm512_load_si512(q));
            acc[s][1] = _mm512_xor_si512(acc[s][1], _mm512_load_si512(q + 64));
            acc[s][0] = _mm512_xor_si512(acc[s][0], _mm512_load_si512(q + 128));
            acc[s][1] = _mm512_xor_si512(acc[s][1], _mm512_load_si512(q + 192));
        }
    }
    __m512i x = _mm512_setzero_si512();
    for (int s = 0; s < S; ++s) x = _mm512_xor_si512(x, _mm512_xor_si512(acc[s][0], acc[s][1]));
    return static_cast<std::uint64_t>(_mm512_reduce_add_epi64(x));
}

template <int S>
AMXMM_TARGET_AVX2 std::uint64_t read_streams_avx2(const std::byte* p, std::size_t bytes) {
    const std::size_t per = bytes / S;
    __m256i acc[S][2];
    for (int s = 0; s < S; ++s) acc[s][0] = acc[s][1] = _mm256_setzero_si256();
    for (std::size_t off = 0; off < per; off += read_step) {
        for (int s = 0; s < S; ++s) {
            const auto* q = reinterpret_cast<const __m256i*>(p + static_cast<std::size_t>(s) * per + off);
            acc[s][0] = _mm256_xor_si256(acc[s][0], _mm256_load_si256(q + 0));
            acc[s][1] = _mm256_xor_si256(acc[s][1], _mm256_load_si256(q + 1));
            acc[s][0] = _mm256_xor_si256(acc[s][0], _mm256_load_si256(q + 2));
            acc[s][1] = _mm256_xor_si256(acc[s][1], _mm256_load_si256(q + 3));
            acc[s][0] = _mm256_xor_si256(acc[s][0], _mm256_load_si256(q + 4));
            acc[s][1] = _mm256_xor_si256(acc[s][1], _mm256_load_si256(q + 5));
            acc[s][0] = _mm256_xor_si256(acc[s][0], _mm256_load_si256(q + 6));
            acc[s][1] = _mm256_xor_si256(acc[s][1], _mm256_load_si256(q + 7));
        }
    }
    __m256i x = _mm256_setzero_si256();
    for (int s = 0; s < S; ++s) x = _mm256_xor_si256(x, _mm256_xor_si256(acc[s][0], acc[s][1]));
    alignas(32) std::uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), x);
    return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}
AMXMM_INTRINSICS_END

template <int S>
std::uint64_t read_streams_scalar(const std::byte* p, std::size_t bytes) {
    const std::size_t per = bytes / S;
    std::uint64_t acc = 0;
    for (std::size_t off = 0; off < per; off += 8)
        for (int s = 0; s < S; ++s) {
            std::uint64_t v;
            std::memcpy(&v, p + static_cast<std::size_t>(s) * per + off, 8);
            acc ^= v;
        }
    return acc;
}

/// Which vector width the read kernel uses on this machine: "avx512", "avx2" or "scalar".
inline const char* read_kernel_name() {
    const amxmm::cpu_features& f = amxmm::detected_cpu_features();
    if (f.avx512f && f.os_avx512) return "avx512";
    if (f.avx2 && f.os_avx) return "avx2";
    return "scalar";
}

template <int S>
std::uint64_t read_streams(const std::byte* p, std::size_t bytes) {
    const std::string k = read_kernel_name();
    if (k == "avx512") return read_streams_avx512<S>(p, bytes);
    if (k == "avx2") return read_streams_avx2<S>(p, bytes);
    return read_streams_scalar<S>(p, bytes);
}

inline std::uint64_t read_streams(int streams, const std::byte* p, std::size_t bytes) {
    switch (streams) {
        case 1: return read_streams<1>(p, bytes);
        case 2: return read_streams<2>(p, bytes);
        case 4: return read_streams<4>(p, bytes);
        default: return read_streams<8>(p, bytes);
    }
}

}  // namespace detail

/// A buffer for the DRAM probe: >= max(8 × LLC, 1 GiB), first touched (written) by the pinned threads
/// that will read it, slice by slice.
class dram_probe_buffer {
public:
    dram_probe_buffer(int threads, const cache_info& cache) : threads_(std::max(1, threads)) {
        const std::size_t want = std::max<std::size_t>(8 * cache.total_bytes, std::size_t(1) << 30);
        const std::size_t unit = static_cast<std::size_t>(threads_) * 8 * detail::read_step * 1024;  // slices of whole 2 MiB-ish units
        const std::size_t bytes = (want + unit - 1) / unit * unit;
        buf_ = big_buffer(bytes);
        const std::size_t slice = bytes / static_cast<std::size_t>(threads_);
        run_team(threads_, 0, [&](int tid, const std::atomic<bool>&) {
            std::memset(buf_.data() + static_cast<std::size_t>(tid) * slice, 0x5a + tid, slice);
            return 0.0;
        });
    }
    std::size_t size() const noexcept { return buf_.size(); }
    const std::byte* data() const noexcept { return buf_.data(); }
    int threads() const noexcept { return threads_; }

private:
    int threads_;
    big_buffer buf_;
};

/// One DRAM read measurement: `threads` threads (1 <= threads <= buffer.threads()) each read
/// buffer.size()/threads bytes with `streams` streams per thread, `passes` times; best of `reps`.
/// Bytes per second (1 GB = 1e9 B).
inline double measure_dram_read(const dram_probe_buffer& buffer, int threads, int streams, int passes = 2,
                                int reps = 3) {
    threads = std::clamp(threads, 1, buffer.threads());
    const std::size_t slice_unit = static_cast<std::size_t>(8) * detail::read_step;
    const std::size_t slice = buffer.size() / static_cast<std::size_t>(threads) / slice_unit * slice_unit;
    std::atomic<std::uint64_t> checksum{0};
    double best = 0;
    for (int rep = 0; rep < reps; ++rep) {
        const team_result t = run_team(threads, 0, [&](int tid, const std::atomic<bool>&) {
            std::uint64_t c = 0;
            for (int pass = 0; pass < passes; ++pass)
                c ^= detail::read_streams(streams, buffer.data() + static_cast<std::size_t>(tid) * slice, slice);
            checksum.fetch_xor(c);
            return static_cast<double>(slice) * passes;
        });
        best = std::max(best, t.total_units() / t.wall_seconds);
    }
    volatile std::uint64_t sink = checksum.load();
    (void)sink;
    return best;
}

struct dram_result {
    int threads = 0;
    double bytes_per_s = 0;  ///< best over streams per thread, all threads
    int best_streams = 0;
    double single_thread_bytes_per_s = 0;  ///< one thread (best over streams); 0 when not measured
    std::size_t buffer_bytes = 0;
    const char* kernel = "";
};

/// The multi-stream DRAM read probe: all threads, streams per thread in {1, 2, 4}, best kept; with
/// `single_thread`, also the best single-thread number (to show the all-thread number saturates memory).
inline dram_result probe_dram_read(int threads, const cache_info& cache, bool single_thread = true) {
    dram_result r;
    r.threads = threads;
    r.kernel = detail::read_kernel_name();
    const dram_probe_buffer buffer(threads, cache);
    r.buffer_bytes = buffer.size();
    for (int streams : {1, 2, 4}) {
        const double bw = measure_dram_read(buffer, threads, streams);
        if (bw > r.bytes_per_s) r.bytes_per_s = bw, r.best_streams = streams;
        if (single_thread) r.single_thread_bytes_per_s = std::max(r.single_thread_bytes_per_s,
                                                                  measure_dram_read(buffer, 1, streams, 1, 2));
    }
    return r;
}

}  // namespace amxmm_bench
