// Calibration: time amxmm's own CPU kernels on this machine so the cost model predicts from
// measurements instead of nominal limits.
//
// What is measured (each a calibration_curve of seconds per call against M):
//   dense   gemm_q4_0 on a tbb_executor, N × K = 4096 × 2048 and 512 × 2048 (attention projections)
//   experts moe_gemm (MUL_MAT_ID), Qwen3-30B-A3B's expert shapes: E = 128, top-8, 768 × 2048 (gate/up)
//           and 2048 × 768 (down), uniform random routing with a fixed seed
//   for M in {1, 16, 64, 512, 2048}; below 512 rows the weights cycle through copies filling >= 4× the
//   last-level cache (capped at 1 GiB), so small batches read DRAM as decoding does. Plus a DRAM read
//   probe (all threads, >= 4× LLC). A full calibration takes well under a minute on a 16-core AMX
//   machine; `quick` uses tiny shapes (for tests) and takes a fraction of a second.
//
// Results are cached as JSON (calibration_to_json) keyed by machine_key() — CPU name, thread count and
// ISA — in $XDG_CACHE_HOME/amxmm/calibration.json (or ~/.cache/amxmm/calibration.json), and reloaded when
// the key matches. GPU curves (device "gpu:<name>", op "dense" or "experts", the same meaning as the CPU
// ones; examples/engine's --calibrate measures them with amxmm::cuda) may be added to the file; the cost
// model uses those whose name matches a GPU of the hardware description.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../core/aligned_buffer.hpp"
#include "../core/half.hpp"
#include "../cpu/cache.hpp"
#include "../cpu/features.hpp"
#include "../cpu/isa.hpp"
#include "../exec/executor.hpp"
#include "../gemm/dense_gemm.hpp"
#include "../gemm/moe.hpp"
#include "cost_model.hpp"
#include "json.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct calibration_options {
    bool quick = false;        ///< tiny shapes, few repetitions (tests)
    int threads = 0;           ///< executor threads; 0 = all
    /// Called before each measurement: (what, index, total). May print; must not throw.
    std::function<void(const std::string&, int, int)> progress;
    std::vector<std::int64_t> batches;  ///< M values; empty = {1, 16, 64, 512, 2048} ({1, 16, 64} quick)
};

/// "<CPU brand> | <threads> threads | <isa>": what a cached calibration must match.
inline std::string machine_key(int threads = 0) {
    const cpu_features& f = detected_cpu_features();
    const int t = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
    return (f.brand.empty() ? std::string("unknown CPU") : f.brand) + " | " + std::to_string(t) + " threads | " +
           to_string(default_isa().chosen);
}

namespace calib_detail {

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Random Q4_0 blocks (random nibbles, scales ~ 1/64), fixed seed.
inline std::vector<block_q4_0> random_blocks(std::size_t count, std::uint64_t seed) {
    std::vector<block_q4_0> b(count);
    std::mt19937_64 rng(seed);
    for (auto& x : b) {
        x.d = fp32_to_fp16(float(1 + rng() % 64) / 4096.0f);
        for (auto& q : x.qs) q = std::uint8_t(rng());
    }
    return b;
}

/// Median of a small vector.
inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

/// Times fn(rep) until at least min_total seconds and min_reps reps (at most max_reps); median.
template <class Fn>
double time_calls(Fn&& fn, double min_total, int min_reps, int max_reps) {
    fn(-1);  // warm-up (page faults, scratch growth)
    std::vector<double> t;
    double total = 0;
    for (int r = 0; r < max_reps && (r < min_reps || total < min_total); ++r) {
        const double t0 = now_s();
        fn(r);
        const double dt = now_s() - t0;
        t.push_back(dt);
        total += dt;
    }
    return median(t);
}

/// Copies of a packed buffer filling `ring_bytes` (at least one), 64-byte aligned.
inline std::vector<aligned_buffer> ring_of(const std::byte* data, std::size_t bytes, std::size_t ring_bytes) {
    const std::size_t n = std::max<std::size_t>(1, std::min<std::size_t>(256, ring_bytes / std::max<std::size_t>(bytes, 1)));
    std::vector<aligned_buffer> ring;
    if (bytes == 0 || bytes > (std::size_t(1) << 40)) return ring;
    for (std::size_t i = 0; i < n; ++i) {
        ring.emplace_back(bytes);
        std::memcpy(ring.back().data(), data, bytes);
    }
    return ring;
}

}  // namespace calib_detail

/// Multi-threaded read bandwidth over `bytes` (best of 3 passes), bytes per second.
inline double probe_dram_read(std::size_t bytes, int threads) {
    const int nt = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
    const std::size_t words = bytes / 8;
    aligned_buffer buf(words * 8);
    auto* w = reinterpret_cast<std::uint64_t*>(buf.data());
    tbb_executor ex(nt);
    const std::int64_t chunks = std::int64_t(nt) * 4;
    ex.parallel_for(chunks, [&](std::int64_t c) {  // first touch by the readers
        const std::size_t b = words * std::size_t(c) / std::size_t(chunks), e = words * std::size_t(c + 1) / std::size_t(chunks);
        for (std::size_t i = b; i < e; ++i) w[i] = i;
    });
    std::vector<std::uint64_t> sink(std::size_t(chunks), 0);
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const double t0 = calib_detail::now_s();
        ex.parallel_for(chunks, [&](std::int64_t c) {
            const std::size_t b = words * std::size_t(c) / std::size_t(chunks), e = words * std::size_t(c + 1) / std::size_t(chunks);
            std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            std::size_t i = b;
            for (; i + 4 <= e; i += 4) s0 += w[i], s1 += w[i + 1], s2 += w[i + 2], s3 += w[i + 3];
            for (; i < e; ++i) s0 += w[i];
            sink[std::size_t(c)] += s0 + s1 + s2 + s3;
        });
        const double dt = calib_detail::now_s() - t0;
        best = std::max(best, double(words * 8) / dt);
    }
    volatile std::uint64_t keep = 0;
    for (auto s : sink) keep = keep + s;
    (void)keep;
    return best;
}

/// Times gemm_q4_0 on an N × K weight for each M (cycling through `ring_bytes` of weight copies for
/// M < 512). Returns the curve (device "cpu_amx", op "dense").
inline calibration_curve calibrate_dense(std::int64_t n, std::int64_t k, const std::vector<std::int64_t>& ms,
                                         tbb_executor& ex, std::size_t ring_bytes, double min_total,
                                         const std::function<void(std::int64_t)>& before = {}) {
    calibration_curve c;
    c.device = "cpu_amx";
    c.op = "dense";
    c.n = n;
    c.k = k;
    const auto blocks = calib_detail::random_blocks(std::size_t(n * k / 32), 1000 + std::uint64_t(n * 7 + k));
    const packed_q4_0_vnni packed = pack_q4_0_vnni(q4_0_matrix_view{blocks.data(), n, k}, ex);
    const auto ring = calib_detail::ring_of(packed.data(), packed.size_bytes(), ring_bytes);
    const std::int64_t mmax = *std::max_element(ms.begin(), ms.end());
    std::vector<float> x(std::size_t(mmax * k)), y(std::size_t(mmax * n));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    for (std::int64_t m : ms) {
        if (before) before(m);
        const bool cold = m < 512 && ring.size() > 1;
        std::size_t next = 0;
        const double t = calib_detail::time_calls(
            [&](int) {
                const auto& b = cold ? ring[next++ % ring.size()] : ring[0];
                const auto view = make_packed_q4_0_vnni_view(n, k, b.data(), b.size());
                gemm_q4_0(view, m, x.data(), k, y.data(), n, gemm_options{}, ex);
            },
            min_total, 3, m >= 512 ? 10 : 200);
        c.points.push_back({double(m), t});
    }
    return c;
}

/// Times moe_gemm (E experts of N × K, top_k, uniform random routing) for each M token batch.
inline calibration_curve calibrate_experts(std::int64_t e, std::int64_t n, std::int64_t k, std::int64_t top_k,
                                           const std::vector<std::int64_t>& ms, tbb_executor& ex, std::size_t ring_bytes,
                                           double min_total, const std::function<void(std::int64_t)>& before = {}) {
    calibration_curve c;
    c.device = "cpu_amx";
    c.op = "experts";
    c.n = n;
    c.k = k;
    c.experts = e;
    c.top_k = top_k;
    const auto blocks = calib_detail::random_blocks(std::size_t(e * n * k / 32), 2000 + std::uint64_t(n * 7 + k));
    const packed_q4_0_vnni_experts packed = pack_q4_0_vnni_experts(blocks.data(), e, n, k, ex);
    const auto view0 = packed.view();
    const std::size_t bytes = std::size_t(view0.expert_stride) * std::size_t(e);
    const auto ring = calib_detail::ring_of(view0.data, bytes, ring_bytes);
    const std::int64_t mmax = *std::max_element(ms.begin(), ms.end());
    std::vector<float> x(std::size_t(mmax * k)), y(std::size_t(mmax * top_k * n));
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    std::vector<std::int32_t> ids(std::size_t(mmax * top_k));
    std::vector<std::int32_t> perm(static_cast<std::size_t>(e));
    for (std::int64_t t = 0; t < mmax; ++t) {  // top_k distinct experts per token, uniformly
        for (std::int64_t i = 0; i < e; ++i) perm[std::size_t(i)] = std::int32_t(i);
        for (std::int64_t s = 0; s < top_k; ++s) {
            const std::int64_t j = s + std::int64_t(rng() % std::uint32_t(e - s));
            std::swap(perm[std::size_t(s)], perm[std::size_t(j)]);
            ids[std::size_t(t * top_k + s)] = perm[std::size_t(s)];
        }
    }
    for (std::int64_t m : ms) {
        if (before) before(m);
        const bool cold = m < 512 && ring.size() > 1;
        std::size_t next = 0;
        const double t = calib_detail::time_calls(
            [&](int) {
                const auto& b = cold ? ring[next++ % ring.size()] : ring[0];
                const auto view = make_packed_q4_0_vnni_experts_view(e, n, k, b.data(), b.size(), view0.expert_stride);
                moe_routing r{m, top_k, ids.data(), top_k};
                moe_gemm(view, r, x.data(), moe_input_rows::per_token, k, 0, y.data(), top_k * n, n, gemm_options{}, ex);
            },
            min_total, 3, m >= 512 ? 10 : 200);
        c.points.push_back({double(m), t});
    }
    return c;
}

/// Runs the calibration (see the header comment).
inline calibration_data calibrate(const calibration_options& opt = {}) {
    const int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    calibration_data d;
    d.machine = machine_key(threads);
    d.cpu_name = detected_cpu_features().brand;
    d.threads = threads;
    d.isa = to_string(default_isa().chosen);
    {
        const std::time_t now = std::time(nullptr);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
        d.created = buf;
    }
    std::vector<std::int64_t> ms = opt.batches;
    if (ms.empty()) ms = opt.quick ? std::vector<std::int64_t>{1, 16, 64} : std::vector<std::int64_t>{1, 16, 64, 512, 2048};
    std::sort(ms.begin(), ms.end());
    const std::int64_t llc = std::max<std::int64_t>(detected_cache_sizes().l3, 8 << 20);
    const std::size_t ring = opt.quick ? 0 : std::size_t(std::min<std::int64_t>(std::max<std::int64_t>(4 * llc, 256 << 20), 1ll << 30));
    const double min_total = opt.quick ? 0.002 : 0.05;
    struct job {
        std::string name;
        std::int64_t e, n, k, top_k;
    };
    std::vector<job> jobs;
    if (opt.quick)
        jobs = {{"dense 256x256", 0, 256, 256, 0}, {"experts 8 x 64x256 top-2", 8, 64, 256, 2}};
    else
        jobs = {{"dense 4096x2048", 0, 4096, 2048, 0},
                {"dense 512x2048", 0, 512, 2048, 0},
                {"experts 128 x 768x2048 top-8", 128, 768, 2048, 8},
                {"experts 128 x 2048x768 top-8", 128, 2048, 768, 8}};
    const int total = 1 + int(jobs.size() * ms.size());
    int step = 0;
    auto say = [&](const std::string& what) {
        if (opt.progress) opt.progress(what, step, total);
        ++step;
    };
    say("DRAM read probe");
    d.dram_read_bytes_per_s = probe_dram_read(opt.quick ? (16u << 20) : std::size_t(std::max<std::int64_t>(4 * llc, 512 << 20)), threads);
    tbb_executor ex(threads);
    for (const job& j : jobs) {
        auto before = [&](std::int64_t m) { say(j.name + ", M = " + std::to_string(m)); };
        calibration_curve c = j.e ? calibrate_experts(j.e, j.n, j.k, j.top_k, ms, ex, ring, min_total, before)
                                  : calibrate_dense(j.n, j.k, ms, ex, ring, min_total, before);
        if (!j.e)
            for (const auto& [m, s] : c.points)
                if (m >= 512 || opt.quick) d.matmul_flops = std::max(d.matmul_flops, 2.0 * m * double(j.n) * double(j.k) / s);
        d.curves.push_back(std::move(c));
    }
    if (opt.progress) opt.progress("done", total, total);
    return d;
}

// ---- JSON cache ------------------------------------------------------------------------------------------

inline json::value calibration_to_json(const calibration_data& d) {
    json::value o = json::value::object();
    o.set("schema", "amxmm-calibration/1");
    o.set("machine", d.machine);
    o.set("cpu_name", d.cpu_name);
    o.set("threads", d.threads);
    o.set("isa", d.isa);
    o.set("created", d.created);
    o.set("dram_read_bytes_per_s", d.dram_read_bytes_per_s);
    o.set("matmul_flops", d.matmul_flops);
    json::value cs = json::value::array();
    for (const auto& c : d.curves) {
        json::value j = json::value::object();
        j.set("device", c.device);
        j.set("op", c.op);
        j.set("n", std::int64_t(c.n));
        j.set("k", std::int64_t(c.k));
        j.set("experts", std::int64_t(c.experts));
        j.set("top_k", std::int64_t(c.top_k));
        json::value pts = json::value::array();
        for (const auto& [m, s] : c.points) {
            json::value p = json::value::array();
            p.push_back(m);
            p.push_back(s);
            pts.push_back(p);
        }
        j.set("points", pts);
        cs.push_back(j);
    }
    o.set("curves", cs);
    return o;
}

/// A calibration from JSON (the schema calibration_to_json writes). Members may be missing (0 / empty);
/// present ones must have their type, and counts must be integers (threads in int range; n, k, experts,
/// top_k in int64): 2.5 or 1e300 is an error, not truncated. The result is validate()d. Errors are
/// malformed_input naming the member ("curves[0].n: ...").
inline calibration_data calibration_from_json(const json::value& j) {
    constexpr const char* fn = "plan::calibration_from_json";
    detail::require(j.is_object(), errc::malformed_input, fn, "calibration is not a JSON object");
    calibration_data d;
    using V = json::value;
    auto str = [&](const char* k, std::string& out) { detail::json_member(j, k, fn, "", [&](const V& v) { out = v.as_string(); }); };
    str("machine", d.machine);
    str("cpu_name", d.cpu_name);
    str("isa", d.isa);
    str("created", d.created);
    detail::json_member(j, "threads", fn, "", [&](const V& v) {
        const std::int64_t t = v.as_int();
        detail::require(t >= 0 && t <= std::numeric_limits<int>::max(), errc::malformed_input, "threads", " = ", t,
                        " (0 to 2^31 - 1 expected)");
        d.threads = int(t);
    });
    detail::json_member(j, "dram_read_bytes_per_s", fn, "", [&](const V& v) { d.dram_read_bytes_per_s = v.as_number(); });
    detail::json_member(j, "matmul_flops", fn, "", [&](const V& v) { d.matmul_flops = v.as_number(); });
    if (const json::value* cs = j.find("curves")) {
        detail::require(cs->is_array(), errc::malformed_input, fn, "\"curves\" is not an array");
        for (std::size_t ci = 0; ci < cs->items().size(); ++ci) {
            const json::value& cj = cs->items()[ci];
            const std::string where = detail::concat("curves[", ci, "]");
            detail::require(cj.is_object(), errc::malformed_input, fn, where, " is not an object");
            calibration_curve c;
            const json::value* dev = cj.find("device");
            const json::value* op = cj.find("op");
            detail::require(dev && dev->is_string() && op && op->is_string(), errc::malformed_input, fn, where,
                            " lacks \"device\" or \"op\"");
            c.device = dev->as_string();
            c.op = op->as_string();
            detail::json_member(cj, "n", fn, where, [&](const V& v) { c.n = v.as_int(); });
            detail::json_member(cj, "k", fn, where, [&](const V& v) { c.k = v.as_int(); });
            detail::json_member(cj, "experts", fn, where, [&](const V& v) { c.experts = v.as_int(); });
            detail::json_member(cj, "top_k", fn, where, [&](const V& v) { c.top_k = v.as_int(); });
            detail::require(c.n > 0 && c.k > 0, errc::malformed_input, fn, where, " (", c.device, "/", c.op, ") has n = ", c.n,
                            ", k = ", c.k);
            const json::value* pts = cj.find("points");
            detail::require(pts && pts->is_array(), errc::malformed_input, fn, where, " (", c.device, "/", c.op, ") has no points");
            for (const json::value& p : pts->items()) {
                detail::require(p.is_array() && p.items().size() == 2 && p.items()[0].is_number() && p.items()[1].is_number(),
                                errc::malformed_input, fn, where, ": a point is not [M, seconds]");
                const double m = p.items()[0].as_number(), s = p.items()[1].as_number();
                detail::require(m > 0 && s > 0, errc::malformed_input, fn, where, ": point [", m, ", ", s, "] must be positive");
                c.points.push_back({m, s});
            }
            std::sort(c.points.begin(), c.points.end());
            d.curves.push_back(std::move(c));
        }
    }
    try {
        validate(d);
    } catch (const error& e) {
        throw error(errc::malformed_input, detail::concat(fn, ": ", e.what()));
    }
    return d;
}

/// $XDG_CACHE_HOME/amxmm/calibration.json, else $HOME/.cache/amxmm/calibration.json, else ./amxmm-calibration.json.
inline std::string default_calibration_path() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/amxmm/calibration.json";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/amxmm/calibration.json";
    return "amxmm-calibration.json";
}

/// The calibration at `path` when it exists, parses and matches `key` (empty key: any); else nullopt.
inline std::optional<calibration_data> load_calibration(const std::string& path, const std::string& key) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    calibration_data d = calibration_from_json(json::parse_file(path));
    if (!key.empty() && d.machine != key) return std::nullopt;
    return d;
}

/// Writes the calibration (creating the directory).
inline void save_calibration(const calibration_data& d, const std::string& path) {
    for (std::size_t i = 1; i < path.size(); ++i)
        if (path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
    std::ofstream f(path);
    detail::require(bool(f), errc::system, "plan::save_calibration", "cannot write ", path);
    f << json::dump(calibration_to_json(d)) << "\n";
    detail::require(bool(f), errc::system, "plan::save_calibration", "writing ", path, " failed");
}

}  // namespace plan
AMXMM_NAMESPACE_END
