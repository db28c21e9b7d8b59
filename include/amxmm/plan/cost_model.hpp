// The planner's cost model: how long one forward pass of a model takes on a machine for a given
// placement of its weights, and how much memory each device needs for it.
//
// Vocabulary (used by every plan/ header):
//
//   placement   where one weight lives and in which layout:
//                 gpu      on GPU g, in the GPU's layout; computed there
//                 cpu_amx  in host memory, repacked to amxmm's VNNI panels (llama.cpp's "AMX" buffer);
//                          computed on the CPU — never copied to, streamed to or computed on a GPU
//                 cpu_host in host memory in the file layout (llama.cpp's plain "CPU" buffer); computed on
//                          the CPU, or — for batches of >= 32 tokens when a GPU exists, as llama.cpp's
//                          scheduler does — streamed over the host link and computed on a GPU
//               An expert tensor (E experts) may place each expert on its own.
//   plan        a placement for every tensor, plus the device that runs each layer's attention (and
//               holds that layer's KV cache).
//   phase       one step the workload runs: prompt processing of an ubatch of M tokens, or one decode
//               step of decode_batch tokens (one per sequence).
//
// The physics, per phase (every number comes from hardware_desc or from calibration):
//   matmul   weight bytes / memory bandwidth vs FLOPs (2·M·N·K) / throughput, whichever is larger,
//            plus a fixed per-call overhead; on the CPU from calibrated time tables of amxmm's own
//            kernels when they are available (scaled to other shapes by that roofline), else roofline.
//   experts  for a batch of M tokens, top-k and routing frequency p of expert e: it gets M·k·p rows and
//            its weight is read with probability a = 1 − (1 − p)^(M·k); its time is a × t(M·k·p / a rows).
//   stream   a cpu_host weight computed on a GPU first crosses the link: bytes / host_to_device (only the
//            experts that are used: a × bytes per expert).
//   attention scores and weighted sum: 2·M·keys·heads·(key_length + value_length) FLOPs, with keys the
//            average number of cached tokens a query attends to (grows with the context), and the KV
//            cache read; runs where the layer's KV cache is.
//   link     every time the activations change device (CPU <-> GPU, GPU <-> GPU through the host):
//            latency + bytes / link bandwidth.
//   other    norms, RoPE, residual adds, activation functions: a few passes over M × embedding floats.
//
// Memory per device: the weights placed there, the KV cache of the layers whose attention runs there
// (context × bytes per token), a compute workspace for the largest batch, and the reserve of
// hardware_desc; host memory likewise (cpu_amx and cpu_host weights, CPU layers' KV cache).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../format/ggml_type.hpp"
#include "hardware.hpp"
#include "model.hpp"
#include "workload.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

// ---- placements and plans -----------------------------------------------------------------------------

enum class placement_kind : std::uint8_t { cpu_amx, cpu_host, gpu };

inline const char* to_string(placement_kind k) noexcept {
    switch (k) {
        case placement_kind::cpu_amx: return "cpu_amx";
        case placement_kind::cpu_host: return "cpu_host";
        case placement_kind::gpu: return "gpu";
    }
    return "?";
}

/// Where one weight (or one expert of an expert tensor) lives.
struct placement {
    placement_kind kind = placement_kind::cpu_host;
    int gpu = -1;  ///< GPU index when kind == gpu, else -1

    static placement on_gpu(int g) { return {placement_kind::gpu, g}; }
    static placement amx() { return {placement_kind::cpu_amx, -1}; }
    static placement host() { return {placement_kind::cpu_host, -1}; }
    bool operator==(const placement& o) const noexcept { return kind == o.kind && gpu == o.gpu; }
    bool operator!=(const placement& o) const noexcept { return !(*this == o); }
};

/// "CUDA0", "CPU (AMX/VNNI)", "CPU (file layout)".
inline std::string describe(const placement& p) {
    switch (p.kind) {
        case placement_kind::gpu: return "CUDA" + std::to_string(p.gpu);
        case placement_kind::cpu_amx: return "CPU (AMX/VNNI)";
        case placement_kind::cpu_host: return "CPU (file layout)";
    }
    return "?";
}

/// One tensor's placement: `where`, or one placement per expert when `experts` is non-empty.
struct tensor_placement {
    placement where;
    std::vector<placement> experts;  ///< empty, or exactly E entries (then `where` is ignored)

    const placement& of_expert(std::int64_t e) const { return experts.empty() ? where : experts[std::size_t(e)]; }
    bool split() const noexcept { return !experts.empty(); }
};

/// A complete placement of a model on a machine.
struct plan {
    std::string label;                     ///< e.g. "planner", "all CPU", "-ngl 12"
    std::vector<tensor_placement> tensors; ///< parallel to model_desc::tensors
    std::vector<int> attention_gpu;        ///< per layer: GPU running attention and holding its KV cache, -1 = CPU
};

/// True when two plans place every tensor (and expert) and every layer's attention identically.
inline bool same_placement(const plan& a, const plan& b) {
    if (a.attention_gpu != b.attention_gpu || a.tensors.size() != b.tensors.size()) return false;
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
        const auto& x = a.tensors[i];
        const auto& y = b.tensors[i];
        const std::size_t n = std::max(x.experts.size(), y.experts.size());
        if (n == 0) {
            if (x.where != y.where) return false;
            continue;
        }
        for (std::size_t e = 0; e < n; ++e)
            if (x.of_expert(std::int64_t(e)) != y.of_expert(std::int64_t(e))) return false;
    }
    return true;
}

// ---- calibration tables (filled by calibration.hpp, or loaded from JSON) ----------------------------------

/// Measured time of one operation shape on one device path as a function of the batch M.
struct calibration_curve {
    std::string device;           ///< "cpu_amx", "cpu_host", or "gpu:<gpu_desc::name>"
    std::string op;               ///< "dense" (gemm_q4_0: M rows) or "experts" (moe_gemm: M tokens, uniform routing)
    std::int64_t n = 0, k = 0;    ///< weight shape (per expert for "experts")
    std::int64_t experts = 0, top_k = 0;  ///< for "experts"
    std::vector<std::pair<double, double>> points;  ///< (M, seconds per call), M ascending
};

/// A machine's calibration: what was measured and on which machine.
struct calibration_data {
    std::string machine;                ///< key: CPU name, threads, ISA (see calibration.hpp machine_key)
    std::string cpu_name;
    int threads = 0;
    std::string isa;
    std::string created;                ///< UTC time stamp
    double dram_read_bytes_per_s = 0;   ///< measured, 0 if not
    double matmul_flops = 0;            ///< best FLOP/s-equivalent seen in the dense tables
    std::vector<calibration_curve> curves;

    bool empty() const noexcept { return curves.empty() && dram_read_bytes_per_s <= 0; }
};

/// Checks a calibration: threads >= 0, dram_read_bytes_per_s and matmul_flops finite and >= 0, every
/// curve with n, k >= 1 (and experts, top_k >= 1 for op "experts", else >= 0) and at least one point
/// [M, seconds] with both finite and > 0. Throws invalid_argument naming the curve and value. (A time of
/// 0, negative or NaN would make matmuls free: the overhead is subtracted and the rest clamped at 0.)
inline void validate(const calibration_data& d) {
    constexpr const char* fn = "validate(calibration)";
    detail::require(d.threads >= 0, errc::invalid_argument, fn, "threads = ", d.threads, " is negative");
    detail::require(std::isfinite(d.dram_read_bytes_per_s) && d.dram_read_bytes_per_s >= 0, errc::invalid_argument, fn,
                    "dram_read_bytes_per_s = ", d.dram_read_bytes_per_s, " (finite and >= 0 expected)");
    detail::require(std::isfinite(d.matmul_flops) && d.matmul_flops >= 0, errc::invalid_argument, fn,
                    "matmul_flops = ", d.matmul_flops, " (finite and >= 0 expected)");
    for (std::size_t i = 0; i < d.curves.size(); ++i) {
        const calibration_curve& c = d.curves[i];
        const bool experts = c.op == "experts";
        detail::require(c.n >= 1 && c.k >= 1, errc::invalid_argument, fn, "curves[", i, "] (", c.device, "/", c.op,
                        "): n = ", c.n, ", k = ", c.k, " (1 or more expected)");
        detail::require(c.experts >= (experts ? 1 : 0) && c.top_k >= (experts ? 1 : 0), errc::invalid_argument, fn,
                        "curves[", i, "] (", c.device, "/", c.op, "): experts = ", c.experts, ", top_k = ", c.top_k,
                        experts ? " (1 or more expected)" : " (0 or more expected)");
        detail::require(!c.points.empty(), errc::invalid_argument, fn, "curves[", i, "] (", c.device, "/", c.op,
                        ") has no points");
        for (std::size_t j = 0; j < c.points.size(); ++j) {
            const auto& [m, sec] = c.points[j];
            detail::require(std::isfinite(m) && m > 0 && std::isfinite(sec) && sec > 0, errc::invalid_argument, fn,
                            "curves[", i, "] (", c.device, "/", c.op, ") point ", j, ": [", m, ", ", sec,
                            "] (M and seconds finite and > 0 expected)");
        }
    }
}

// ---- knobs ---------------------------------------------------------------------------------------------

/// Constants of the model that hardware_desc does not carry. Defaults are documented estimates; none
/// depends on the model or the placement being scored.
struct cost_params {
    std::int64_t stream_min_batch = 32;     ///< llama.cpp offloads ops on host weights from this many tokens
    bool stream_host_weights = true;        ///< cpu_host weights may be streamed to a GPU at all
    double cpu_op_overhead_s = 20e-6;       ///< per CPU matmul call (thread fork/join, activation prep)
    double gpu_op_overhead_s = 6e-6;        ///< per GPU kernel
    double link_latency_s = 25e-6;          ///< per activation copy between devices (copy + synchronisation)
    double graph_overhead_s = 200e-6;       ///< per forward pass (graph build, scheduling)
    double cpu_matmul_half_rows = 8;        ///< rows at which the CPU reaches half its large-M matmul throughput
    double gpu_matmul_half_rows = 32;       ///< same for a GPU
    double cpu_host_matmul_fraction = 0.35; ///< CPU matmul on file-layout Q4_0 (no AMX repack) vs cpu.matmul_flops
    double cpu_attention_fraction = 1.0;    ///< attention throughput on the CPU, of cpu.vector_flops
    double gpu_attention_fraction = 0.5;    ///< attention throughput on a GPU, of gpu.matmul_flops
    double elementwise_passes = 12;         ///< passes over M × embedding fp32 per layer (norms, RoPE, residual, act)
    int elementwise_ops = 8;                ///< elementwise kernels per layer (each pays an op overhead)
    double attention_query_tile = 64;       ///< queries per pass over the KV cache (flash-attention tile)
    // Fallbacks when hardware_desc leaves a limit at 0 (unknown).
    double default_cpu_dram_bytes_per_s = 50e9;
    double default_cpu_matmul_flops = 1e12;
    double default_cpu_vector_flops = 0.5e12;
    double default_gpu_memory_bytes_per_s = 1e12;
    double default_gpu_matmul_flops = 50e12;
    double default_link_bytes_per_s = 25e9;
};

/// What the job the planner optimises for looks like: a prompt of `prompt_tokens` tokens processed in
/// the workload's ubatches (split evenly over its prompt batch sizes), then `decode_tokens` tokens
/// generated per sequence. The objective is that job's predicted seconds.
struct objective_weights {
    double prompt_tokens = 2048;
    double decode_tokens = 256;
};

/// Checks cost_params: times, half-rows and passes finite and >= 0; fractions, the query tile and the
/// default limits finite and > 0 (they divide); counts >= 0. Throws invalid_argument naming the field.
inline void validate(const cost_params& p) {
    constexpr const char* fn = "validate(cost_params)";
    auto at_least_0 = [&](const char* name, double x) {
        detail::require(std::isfinite(x) && x >= 0, errc::invalid_argument, fn, name, " = ", x, " (finite and >= 0 expected)");
    };
    auto above_0 = [&](const char* name, double x) {
        detail::require(std::isfinite(x) && x > 0, errc::invalid_argument, fn, name, " = ", x, " (finite and > 0 expected)");
    };
    detail::require(p.stream_min_batch >= 0, errc::invalid_argument, fn, "stream_min_batch = ", p.stream_min_batch,
                    " is negative");
    detail::require(p.elementwise_ops >= 0, errc::invalid_argument, fn, "elementwise_ops = ", p.elementwise_ops,
                    " is negative");
    at_least_0("cpu_op_overhead_s", p.cpu_op_overhead_s);
    at_least_0("gpu_op_overhead_s", p.gpu_op_overhead_s);
    at_least_0("link_latency_s", p.link_latency_s);
    at_least_0("graph_overhead_s", p.graph_overhead_s);
    at_least_0("cpu_matmul_half_rows", p.cpu_matmul_half_rows);
    at_least_0("gpu_matmul_half_rows", p.gpu_matmul_half_rows);
    at_least_0("elementwise_passes", p.elementwise_passes);
    above_0("cpu_host_matmul_fraction", p.cpu_host_matmul_fraction);
    above_0("cpu_attention_fraction", p.cpu_attention_fraction);
    above_0("gpu_attention_fraction", p.gpu_attention_fraction);
    above_0("attention_query_tile", p.attention_query_tile);
    above_0("default_cpu_dram_bytes_per_s", p.default_cpu_dram_bytes_per_s);
    above_0("default_cpu_matmul_flops", p.default_cpu_matmul_flops);
    above_0("default_cpu_vector_flops", p.default_cpu_vector_flops);
    above_0("default_gpu_memory_bytes_per_s", p.default_gpu_memory_bytes_per_s);
    above_0("default_gpu_matmul_flops", p.default_gpu_matmul_flops);
    above_0("default_link_bytes_per_s", p.default_link_bytes_per_s);
}

/// Checks objective_weights: both finite and >= 0. Throws invalid_argument naming the field.
inline void validate(const objective_weights& w) {
    constexpr const char* fn = "validate(objective_weights)";
    detail::require(std::isfinite(w.prompt_tokens) && w.prompt_tokens >= 0, errc::invalid_argument, fn,
                    "prompt_tokens = ", w.prompt_tokens, " (finite and >= 0 expected)");
    detail::require(std::isfinite(w.decode_tokens) && w.decode_tokens >= 0, errc::invalid_argument, fn,
                    "decode_tokens = ", w.decode_tokens, " (finite and >= 0 expected)");
}

// ---- phases and scores -----------------------------------------------------------------------------------

struct phase {
    bool decode = false;
    std::int64_t m = 1;       ///< tokens per forward pass
    double keys = 0;          ///< average cached tokens a query attends to
    std::string name() const { return (decode ? "decode@" : "prompt@") + std::to_string(m); }
};

/// Where the time of a phase goes.
struct time_breakdown {
    double cpu_s = 0;         ///< CPU compute (matmuls, attention, elementwise)
    double gpu_s = 0;         ///< GPU compute
    double stream_s = 0;      ///< cpu_host weights crossing the link
    double link_s = 0;        ///< activations crossing between devices
    double other_s = 0;       ///< per-pass overhead
};

struct phase_score {
    phase ph;
    double seconds = 0;                 ///< one forward pass
    double tokens_per_s = 0;
    std::vector<double> layer_seconds;  ///< per layer (including the link into it)
    double head_seconds = 0;            ///< token embedding + output head
    time_breakdown breakdown;
};

/// Memory one device needs under a plan.
struct device_memory {
    std::string name;              ///< "CPU" or "CUDA<g>"
    std::string description;       ///< cpu/gpu name
    std::uint64_t capacity = 0;    ///< 0 = unknown (never exceeded)
    std::uint64_t weights = 0, kv_cache = 0, workspace = 0, reserve = 0;
    /// The sum, saturating at 2^64 - 1 (a reserve of 2^64 - 1 is then exceeded, never wrapped to a small number).
    std::uint64_t used() const noexcept {
        return detail::plan_sat_add(detail::plan_sat_add(weights, kv_cache), detail::plan_sat_add(workspace, reserve));
    }
    bool exceeded() const noexcept { return capacity > 0 && used() > capacity; }
};

struct plan_score {
    std::vector<phase_score> phases;
    std::vector<device_memory> memory;  ///< [0] host, [1 + g] GPU g
    double objective_s = 0;             ///< predicted seconds of the objective job
    bool valid = true;
    std::vector<std::string> problems;  ///< why it is not valid (memory, placements the machine cannot run)
};

}  // namespace plan

// ---- helpers (internal; in amxmm::detail::plan_cost, never in a plan::detail that would hide amxmm::detail) --

namespace detail {
namespace plan_cost {
using plan::tensor_role;
using plan::tensor_desc;

inline bool is_attention_role(tensor_role r) noexcept {
    return r == tensor_role::attn_q || r == tensor_role::attn_k || r == tensor_role::attn_v ||
           r == tensor_role::attn_qkv || r == tensor_role::attn_other;
}
inline bool is_expert_role(tensor_role r) noexcept {
    return r == tensor_role::ffn_gate_exps || r == tensor_role::ffn_up_exps || r == tensor_role::ffn_down_exps;
}
inline bool is_ffn_dense_role(tensor_role r) noexcept {
    return r == tensor_role::ffn_gate || r == tensor_role::ffn_up || r == tensor_role::ffn_down ||
           r == tensor_role::ffn_gate_shexp || r == tensor_role::ffn_up_shexp || r == tensor_role::ffn_down_shexp ||
           r == tensor_role::ffn_router;
}
/// FFN matmuls whose output feeds the down projection (gate/up) vs the down projections.
inline bool is_ffn_down_role(tensor_role r) noexcept {
    return r == tensor_role::ffn_down || r == tensor_role::ffn_down_shexp || r == tensor_role::ffn_down_exps;
}

/// A byte count computed in double as an integer: clamped to [0, 2^64 - 1] (a double at or above 2^64
/// converted to uint64 is undefined behaviour); NaN gives 2^64 - 1, so that it is never taken to fit.
inline std::uint64_t to_bytes(double x) noexcept {
    if (!(x < 18446744073709551616.0)) return ~std::uint64_t(0);
    return x > 0 ? std::uint64_t(x) : 0;
}

inline double type_bytes_per_element(ggml_type t) {
    const auto tr = traits_of(t);
    return tr.block_elements ? double(tr.block_bytes) / double(tr.block_elements) : 2.0;
}

/// Bytes of a tensor: its file bytes, or computed from its shape when the description left them 0.
inline std::uint64_t tensor_bytes(const tensor_desc& t) {
    if (t.bytes) return t.bytes;
    const double el = double(std::max<std::int64_t>(t.rows, 1)) * double(std::max<std::int64_t>(t.cols, 1)) *
                      double(std::max<std::int64_t>(t.experts, 1));
    return to_bytes(el * type_bytes_per_element(t.type));
}

/// Linear interpolation of log(seconds) in log(M) over a curve's points (M ascending); outside the
/// measured range, the end point scaled by `scale_out(m_end, m)`.
template <class ScaleOut>
double curve_at(const std::vector<std::pair<double, double>>& pts, double m, ScaleOut&& scale_out) {
    if (pts.empty()) return 0;
    if (m <= pts.front().first) return pts.front().second * scale_out(pts.front().first, m);
    if (m >= pts.back().first) return pts.back().second * scale_out(pts.back().first, m);
    for (std::size_t i = 1; i < pts.size(); ++i) {
        if (m <= pts[i].first) {
            const double x0 = std::log(pts[i - 1].first), x1 = std::log(pts[i].first);
            const double y0 = std::log(std::max(pts[i - 1].second, 1e-12)), y1 = std::log(std::max(pts[i].second, 1e-12));
            const double f = x1 > x0 ? (std::log(m) - x0) / (x1 - x0) : 0.0;
            return std::exp(y0 + f * (y1 - y0));
        }
    }
    return pts.back().second;
}

/// curve_at of per-call seconds less the fixed per-call `overhead` (never below 0). Outside the measured
/// range the overhead is removed before scaling the end point: it does not grow or shrink with M.
template <class ScaleOut>
double curve_at_less(const std::vector<std::pair<double, double>>& pts, double m, double overhead, ScaleOut&& scale_out) {
    if (pts.empty()) return 0;
    if (m <= pts.front().first) return std::max(0.0, pts.front().second - overhead) * scale_out(pts.front().first, m);
    if (m >= pts.back().first) return std::max(0.0, pts.back().second - overhead) * scale_out(pts.back().first, m);
    return std::max(0.0, curve_at(pts, m, scale_out) - overhead);
}

}  // namespace plan_cost
}  // namespace detail

namespace plan {

/// Tokens of KV cache per layer per token of context (bytes), for this model and cache type.
inline double kv_bytes_per_token_per_layer(const model_desc& m, ggml_type cache_type) {
    const double eb = detail::plan_cost::type_bytes_per_element(cache_type);
    if (m.kv_lora_rank > 0) return double(m.kv_lora_rank + m.rope_dimensions) * eb;
    const std::int64_t heads = m.heads > 0 ? m.heads : 1;
    const std::int64_t kvh = m.kv_heads > 0 ? m.kv_heads : heads;
    const std::int64_t kl = m.key_length > 0 ? m.key_length : (m.embedding > 0 ? m.embedding / heads : 0);
    const std::int64_t vl = m.value_length > 0 ? m.value_length : kl;
    return double(kvh) * double(kl + vl) * eb;
}

/// The phases a workload runs: each prompt batch, then decode. Attention keys: a prompt that fills the
/// context in ubatches of M sees on average max(M, context)/2 cached tokens per query; a decode step
/// over a cache being filled to `context` sees context/2 on average.
inline std::vector<phase> phases_of(const workload_desc& w) {
    std::vector<phase> out;
    const double ctx = double(std::max<std::int64_t>(w.context, 1));
    for (std::int64_t b : w.prompt_batches) {
        detail::require(b > 0, errc::invalid_argument, "plan::phases_of", "prompt batch ", b, " must be > 0");
        out.push_back({false, b, std::max(double(b), ctx) / 2});
    }
    detail::require(w.decode_batch >= 0, errc::invalid_argument, "plan::phases_of", "decode_batch = ", w.decode_batch,
                    " is negative");
    if (w.decode_batch > 0) out.push_back({true, w.decode_batch, ctx / 2});
    return out;
}

/// GPU of the j-th of n layers offloaded as llama.cpp's -ngl does with its default tensor split:
/// contiguous ranges, in device order, in proportion to each GPU's memory.
inline int layer_split_gpu(const hardware_desc& hw, int j, int n) {
    const int G = int(hw.gpus.size());
    if (G <= 1) return 0;
    double total = 0;
    for (const auto& g : hw.gpus) total += double(std::max<std::uint64_t>(g.memory_bytes, 1));
    double cum = 0;
    for (int g = 0; g < G; ++g) {
        cum += double(std::max<std::uint64_t>(hw.gpus[std::size_t(g)].memory_bytes, 1)) / total;
        if ((double(j) + 0.5) / double(n) < cum) return g;
    }
    return G - 1;
}

// ---- the cost model --------------------------------------------------------------------------------------

/// Scores plans for one (model, hardware, workload). Construction precomputes every tensor's time per
/// phase and device path; scoring a plan is then a pass over the tensors. Not thread-safe for
/// concurrent scoring (uses scratch), cheap to copy.
///
/// The constructor throws invalid_argument naming the value for inputs it cannot score: matmul weights
/// with N or K of 0, a workload validate(w, m) refuses, a calibration, cost_params or objective_weights
/// that validate() refuses, non-finite or negative hardware rates, more than 63 GPUs, weights plus KV
/// cache above 2^64 - 1 bytes. A GPU's memory_bytes of 0 means unknown: memory() reports capacity 0 and
/// scores never find it exceeded (solve() refuses such a GPU: it cannot plan onto unknown memory).
class cost_model {
public:
    cost_model(model_desc model, hardware_desc hw, workload_desc wl, calibration_data calib = {}, cost_params params = {},
               objective_weights weights = {})
        : model_(std::move(model)), hw_(std::move(hw)), wl_(std::move(wl)), calib_(std::move(calib)), p_(params),
          w_(weights) {
        constexpr const char* fn = "plan::cost_model";
        detail::require(model_.layers >= 0, errc::invalid_argument, fn, "model.layers = ", model_.layers);
        for (const auto& t : model_.tensors) {
            detail::require(t.layer < model_.layers, errc::invalid_argument, fn, "tensor ", t.name, " has layer ",
                            t.layer, " but the model has ", model_.layers, " layers");
            detail::require(t.rows >= 0 && t.cols >= 0 && t.experts >= 0, errc::invalid_argument, fn, "tensor ", t.name,
                            " has rows = ", t.rows, ", cols = ", t.cols, ", experts = ", t.experts, " (negative)");
            // A matmul of N or K = 0 has no cost curve (log 0) and no meaning; neither has an expert tensor of 0 experts.
            detail::require(!t.is_matmul() || (t.rows >= 1 && t.cols >= 1), errc::invalid_argument, fn, "tensor ", t.name,
                            " is a matmul weight of rows (N) = ", t.rows, " and cols (K) = ", t.cols, " (1 or more expected)");
            detail::require(!detail::plan_cost::is_expert_role(t.role) || t.experts >= 1, errc::invalid_argument, fn,
                            "expert tensor ", t.name, " has experts = ", t.experts, " (1 or more expected)");
        }
        validate(wl_, model_);  // workload.hpp: batches, context, routing statistics' shape
        validate(calib_);
        validate(p_);
        validate(w_);
        check_hardware();
        phases_ = phases_of(wl_);
        detail::require(!phases_.empty(), errc::invalid_argument, fn, "the workload has no phase (no prompt batch, decode_batch 0)");
        gpus_ = int(hw_.gpus.size());
        index_layers();
        // Every device's weights plus KV cache must be countable in 64 bits (sums below never wrap).
        std::uint64_t total_weights = 0;
        for (const auto& t : model_.tensors) {
            const std::uint64_t b = detail::plan_cost::tensor_bytes(t);
            detail::require(b <= ~total_weights, errc::invalid_argument, fn, "the model's weights total more than 2^64 - 1 bytes (at tensor ",
                            t.name, ", ", b, " bytes)");
            total_weights += b;
        }
        const double kv_total = kv_cache_bytes_per_layer() * double(model_.layers);
        // (With a margin for the rounding of the double sum, so that no integer sum of them can wrap.)
        detail::require(kv_total + double(total_weights) < 0x1p64 * 0.999, errc::invalid_argument, fn, "the KV cache of context ",
                        wl_.context, " (", kv_cache_bytes_per_layer(), " bytes per layer, ", model_.layers,
                        " layers) and the weights (", total_weights, " bytes) total 2^64 bytes or more");
        for (const auto& g : hw_.gpus)
            stream_ok_.push_back(g.memory_bytes == 0 ||
                                 g.memory_bytes >= detail::plan_sat_add(hw_.gpu_reserve_bytes, workspace_bytes(1, false, largest_matmul_)));
        precompute();
    }

    const model_desc& model() const noexcept { return model_; }
    const hardware_desc& hardware() const noexcept { return hw_; }
    const workload_desc& workload() const noexcept { return wl_; }
    const cost_params& params() const noexcept { return p_; }
    const objective_weights& weights() const noexcept { return w_; }
    const calibration_data& calibration() const noexcept { return calib_; }
    const std::vector<phase>& phases() const noexcept { return phases_; }
    int gpus() const noexcept { return gpus_; }
    /// True when CPU matmul times come from calibrated tables (else roofline).
    bool calibrated() const noexcept { return !cpu_dense_.empty() || !cpu_experts_.empty(); }

    /// Tensors of layer l (indices into model().tensors), in file order; layer -1: outside the blocks.
    const std::vector<int>& layer_tensors(int l) const { return l < 0 ? outer_ : layer_tensors_[std::size_t(l)]; }

    /// Index of the LM head tensor (output, or token_embd when tied), -1 when the model has neither.
    int head_tensor() const noexcept { return head_; }
    /// True when amxmm's CPU kernels (and so the cpu_amx placement) can hold this tensor: Q4_0 matmuls.
    static bool amx_capable(const tensor_desc& t) { return t.type == ggml_type::q4_0 && t.is_matmul() && t.cols % 32 == 0; }

    // ---- elementary costs (seconds), public for reports and tests ----

    /// Weight bytes of one expert (or of the whole tensor when not an expert tensor).
    double expert_bytes(const tensor_desc& t) const { return double(detail::plan_cost::tensor_bytes(t)) / double(std::max<std::int64_t>(t.experts, 1)); }

    /// A matmul of m rows on a weight of N × K holding `bytes`, on the CPU (amx: amxmm's packed path)
    /// or a GPU, excluding the per-call overhead.
    double cpu_matmul_s(bool amx, double m, std::int64_t n, std::int64_t k, double bytes) const {
        const double flops = 2.0 * m * double(n) * double(k);
        const double tp = cpu_flops() * (amx ? 1.0 : p_.cpu_host_matmul_fraction) * m / (m + p_.cpu_matmul_half_rows);
        const double roof = std::max(flops / tp, bytes / cpu_bw());
        if (!amx) return roof;
        const calibration_curve* c = pick_curve(cpu_dense_, n, k);
        if (!c) return roof;
        // Calibrated: the curve's time at m (overhead removed), scaled by the roofline ratio of shapes.
        const double cb = double(c->n) * double(c->k) * 18.0 / 32.0;
        const double ref_roof = std::max(2.0 * m * double(c->n) * double(c->k) / tp, cb / cpu_bw());
        const double t = detail::plan_cost::curve_at_less(c->points, m, p_.cpu_op_overhead_s, [&](double m0, double m1) {
            return roof_ratio_cpu(m0, m1, c->n, c->k, cb);
        });
        return t * roof / ref_roof;
    }
    double gpu_matmul_s(int g, double m, std::int64_t n, std::int64_t k, double bytes) const {
        const gpu_desc& d = hw_.gpus[std::size_t(g)];
        const double flops = 2.0 * m * double(n) * double(k);
        const double tp = gpu_flops(d) * m / (m + p_.gpu_matmul_half_rows);
        const double roof = std::max(flops / tp, bytes / gpu_bw(d));
        const calibration_curve* c = pick_curve(gpu_dense_[std::size_t(g)], n, k);
        if (!c) return roof;
        const double cb = double(c->n) * double(c->k) * 18.0 / 32.0;
        const double ref_roof = std::max(2.0 * m * double(c->n) * double(c->k) / tp, cb / gpu_bw(d));
        const double t = detail::plan_cost::curve_at_less(c->points, m, p_.gpu_op_overhead_s, [&](double m0, double m1) {
            const double r0 = std::max(2.0 * m0 * double(c->n) * double(c->k) / (gpu_flops(d) * m0 / (m0 + p_.gpu_matmul_half_rows)), cb / gpu_bw(d));
            const double r1 = std::max(2.0 * m1 * double(c->n) * double(c->k) / (gpu_flops(d) * m1 / (m1 + p_.gpu_matmul_half_rows)), cb / gpu_bw(d));
            return r1 / r0;
        });
        return t * roof / ref_roof;
    }
    /// One expert of N × K given `rows` rows of the batch in expectation and activity probability `a`.
    double cpu_expert_s(bool amx, double rows, double a, std::int64_t n, std::int64_t k, double bytes) const {
        if (a <= 0) return 0;
        const double me = std::max(rows / a, 1.0);
        const expert_curve* c = amx ? pick_expert_curve(n, k) : nullptr;
        if (c) {  // null without curves (or for a shape no curve is near): the dense path below
            const double tp = cpu_flops() * me / (me + p_.cpu_matmul_half_rows);
            const double roof = std::max(2.0 * me * double(n) * double(k) / tp, bytes / cpu_bw());
            const double ref_roof = std::max(2.0 * me * double(c->n) * double(c->k) / tp, c->bytes / cpu_bw());
            const double u = detail::plan_cost::curve_at(c->unit, me, [&](double m0, double m1) {
                return roof_ratio_cpu(m0, m1, c->n, c->k, c->bytes);
            });
            return a * u * roof / ref_roof;
        }
        return a * cpu_matmul_s(amx, me, n, k, bytes);
    }
    /// A GPU expert: from the GPU's calibrated "experts" curves (moe_gemm per active expert) when there
    /// are any, scaled to N × K by the GPU roofline; else (or when no curve is near N × K) from the dense path.
    double gpu_expert_s(int g, double rows, double a, std::int64_t n, std::int64_t k, double bytes) const {
        if (a <= 0) return 0;
        const double me = std::max(rows / a, 1.0);
        if (const expert_curve* c = pick_expert_curve(gpu_experts_[std::size_t(g)], n, k)) {  // else the dense path
            const gpu_desc& d = hw_.gpus[std::size_t(g)];
            auto roof = [&](double m, std::int64_t nn, std::int64_t kk, double b) {
                return std::max(2.0 * m * double(nn) * double(kk) / (gpu_flops(d) * m / (m + p_.gpu_matmul_half_rows)), b / gpu_bw(d));
            };
            const double u = detail::plan_cost::curve_at(c->unit, me, [&](double m0, double m1) {
                return roof(m1, c->n, c->k, c->bytes) / roof(m0, c->n, c->k, c->bytes);
            });
            return a * u * roof(me, n, k, bytes) / roof(me, c->n, c->k, c->bytes);
        }
        return a * gpu_matmul_s(g, me, n, k, bytes);
    }
    /// Activations of `bytes` from device `from` to device `to` (0 = CPU, 1 + g = GPU g).
    double link_s(double bytes, int from, int to) const {
        if (from == to) return 0;
        double t = 0;
        if (from > 0) t += p_.link_latency_s + bytes / link_bw(from - 1);
        if (to > 0) t += p_.link_latency_s + bytes / link_bw(to - 1);
        return t;
    }
    /// Attention (scores, softmax, weighted sum) of one layer on device d for a phase.
    double attention_s(int d, const phase& ph) const {
        if (model_.heads <= 0) return 0;
        const double kl = double(key_length()), vl = double(value_length());
        const double flops = 2.0 * double(ph.m) * ph.keys * double(model_.heads) * (kl + vl);
        const double kv = kv_bytes_per_token_per_layer(model_, wl_.kv_cache_type) * ph.keys;
        const double passes = ph.decode ? double(ph.m) : std::ceil(double(ph.m) / p_.attention_query_tile);
        const double bytes = kv * passes;
        if (d == 0) return std::max(flops / (cpu_vector_flops() * p_.cpu_attention_fraction), bytes / cpu_bw()) + p_.cpu_op_overhead_s;
        const gpu_desc& g = hw_.gpus[std::size_t(d - 1)];
        return std::max(flops / (gpu_flops(g) * p_.gpu_attention_fraction), bytes / gpu_bw(g)) + p_.gpu_op_overhead_s;
    }
    /// Norms, RoPE, residual adds and activation functions of one layer on device d.
    double elementwise_s(int d, const phase& ph) const {
        const double bytes = p_.elementwise_passes * double(ph.m) * double(std::max<std::int64_t>(model_.embedding, 1)) * 4.0;
        if (d == 0) return bytes / cpu_bw() + p_.elementwise_ops * p_.cpu_op_overhead_s * 0.25;
        return bytes / gpu_bw(hw_.gpus[std::size_t(d - 1)]) + p_.elementwise_ops * p_.gpu_op_overhead_s;
    }
    double op_overhead_s(int d) const { return d == 0 ? p_.cpu_op_overhead_s : p_.gpu_op_overhead_s; }

    /// Execution device (0 = CPU, 1 + g) of a weight with placement p in phase ph, for a layer whose
    /// attention runs on `attn` (cpu_host weights stream to that GPU, or GPU 0 for a CPU layer).
    int exec_device(const placement& p, const phase& ph, int attn) const {
        switch (p.kind) {
            case placement_kind::gpu: return 1 + p.gpu;
            case placement_kind::cpu_amx: return 0;
            case placement_kind::cpu_host: {
                if (!streams(ph)) return 0;
                const int target = attn > 0 ? attn : 1;
                return stream_ok_[std::size_t(target - 1)] ? target : 0;
            }
        }
        return 0;
    }
    /// True when cpu_host weights are streamed to a GPU in this phase (when the target GPU has room for
    /// the compute workspace and staging at all; a GPU too small for that never receives streamed weights).
    bool streams(const phase& ph) const noexcept { return p_.stream_host_weights && gpus_ > 0 && ph.m >= p_.stream_min_batch; }

    // ---- plan-level ----

    /// Seconds of layer l in phase index pi under plan `pl` (including the activations' trip into it
    /// from the previous layer's device). Accumulates into `bd` when given.
    double layer_seconds(const plan& pl, int l, std::size_t pi, time_breakdown* bd = nullptr) const;
    /// Token embedding, output norm and head, logits back to the host.
    double head_seconds(const plan& pl, std::size_t pi, time_breakdown* bd = nullptr) const;
    /// The objective (seconds of the job in objective_weights) from per-phase seconds.
    double objective_from(const std::vector<double>& phase_seconds) const {
        double prompt = 0, decode = 0;
        std::size_t np = 0;
        for (std::size_t i = 0; i < phases_.size(); ++i)
            if (!phases_[i].decode) ++np;
        for (std::size_t i = 0; i < phases_.size(); ++i) {
            const phase& ph = phases_[i];
            if (ph.decode)
                decode += w_.decode_tokens * phase_seconds[i] / double(ph.m);
            else
                prompt += (w_.prompt_tokens / double(np)) * phase_seconds[i] / double(ph.m);
        }
        return prompt + decode;
    }
    /// Memory per device ([0] host, [1 + g] GPU g).
    std::vector<device_memory> memory(const plan& pl) const;
    /// Workspace bytes a device needs (compute buffers for the largest batch; on a GPU also staging for
    /// streamed weights and the logits when it runs the output head).
    std::uint64_t workspace_bytes(int d, bool runs_output, std::uint64_t largest_streamed) const {
        std::int64_t mmax = 1;
        for (const auto& ph : phases_) mmax = std::max(mmax, ph.m);
        const double e = double(std::max<std::int64_t>(model_.embedding, 1));
        const double ffw = double(std::max(model_.feed_forward, model_.expert_feed_forward * std::max(model_.experts_used, 1)));
        const double attn = double(model_.heads) * double(key_length()) * 3.0;
        double bytes = double(mmax) * 4.0 * (4.0 * e + 3.0 * ffw + attn);
        if (runs_output) bytes += double(mmax_output()) * double(std::max<std::int64_t>(model_.vocabulary, 1)) * 4.0;
        if (d > 0) bytes += 2.0 * double(largest_streamed);
        return detail::plan_cost::to_bytes(bytes);
    }
    /// Largest cpu_host matmul tensor (bytes): the staging a GPU needs to stream weights.
    std::uint64_t largest_streamable_bytes() const { return largest_matmul_; }
    double kv_cache_bytes_per_layer() const {
        return kv_bytes_per_token_per_layer(model_, wl_.kv_cache_type) * double(std::max<std::int64_t>(wl_.context, 0));
    }

    /// Full evaluation: per phase, per layer time; memory; validity; the objective.
    plan_score score(const plan& pl) const;

    /// Checks a plan's shape against the model (sizes, GPU indices, cpu_amx only on amx-capable tensors).
    void check_plan(const plan& pl, const char* fn) const {
        detail::require(pl.tensors.size() == model_.tensors.size(), errc::invalid_argument, fn, "plan has ",
                        pl.tensors.size(), " tensors, the model ", model_.tensors.size());
        detail::require(int(pl.attention_gpu.size()) == model_.layers, errc::invalid_argument, fn, "plan has ",
                        pl.attention_gpu.size(), " layers' attention devices, the model ", model_.layers, " layers");
        for (int g : pl.attention_gpu)
            detail::require(g >= -1 && g < gpus_, errc::out_of_range, fn, "attention GPU ", g, " with ", gpus_, " GPUs");
        for (std::size_t i = 0; i < pl.tensors.size(); ++i) {
            const auto& tp = pl.tensors[i];
            const auto& t = model_.tensors[i];
            detail::require(!tp.split() || std::int64_t(tp.experts.size()) == t.experts, errc::invalid_argument, fn,
                            "tensor ", t.name, " has ", tp.experts.size(), " expert placements for ", t.experts, " experts");
            auto one = [&](const placement& p) {
                detail::require(p.kind != placement_kind::gpu || (p.gpu >= 0 && p.gpu < gpus_), errc::out_of_range, fn,
                                "tensor ", t.name, " placed on GPU ", p.gpu, " of ", gpus_);
            };
            if (tp.split())
                for (const auto& p : tp.experts) one(p);
            else
                one(tp.where);
        }
    }

private:
    struct expert_curve {
        std::int64_t n = 0, k = 0;
        double bytes = 0;  // one expert's bytes
        std::vector<std::pair<double, double>> unit;  // (rows per active expert, seconds per active expert)
    };

    // Per tensor, per phase: rows (expected per expert for experts) and activity probability per expert.
    struct tensor_phase {
        double rows = 0;                 ///< M (or M_out for the head); for experts: rows per expert (uniform)
        std::vector<double> exp_rows;    ///< per expert when routing is not uniform
        std::vector<double> exp_active;  ///< per expert when routing is not uniform
        double active = 1;               ///< uniform routing: activity probability of each expert
    };
    // Precomputed times per tensor, phase and path: [cpu_amx, cpu_host on CPU, gpu g..., stream to g...]
    // (whole tensor for non-experts; per expert for experts, one column when routing is uniform).
    struct tensor_cost {
        int cols = 1;                 // 1, or E when routing is not uniform
        std::vector<double> t;        // [phase][path][col]
        std::vector<double> stream_bytes;  // [phase][col] bytes crossing the link when streamed
    };

    double cpu_bw() const { return hw_.cpu.dram_read_bytes_per_s > 0 ? hw_.cpu.dram_read_bytes_per_s : (calib_.dram_read_bytes_per_s > 0 ? calib_.dram_read_bytes_per_s : p_.default_cpu_dram_bytes_per_s); }
    double cpu_flops() const { return hw_.cpu.matmul_flops > 0 ? hw_.cpu.matmul_flops : (calib_.matmul_flops > 0 ? calib_.matmul_flops : p_.default_cpu_matmul_flops); }
    double cpu_vector_flops() const { return hw_.cpu.vector_flops > 0 ? hw_.cpu.vector_flops : p_.default_cpu_vector_flops; }
    double gpu_bw(const gpu_desc& g) const { return g.memory_bytes_per_s > 0 ? g.memory_bytes_per_s : p_.default_gpu_memory_bytes_per_s; }
    double gpu_flops(const gpu_desc& g) const { return g.matmul_flops > 0 ? g.matmul_flops : p_.default_gpu_matmul_flops; }
    double link_bw(int g) const {
        const double b = hw_.gpus[std::size_t(g)].host_to_device_bytes_per_s;
        return b > 0 ? b : p_.default_link_bytes_per_s;
    }
    std::int64_t key_length() const {
        const std::int64_t heads = model_.heads > 0 ? model_.heads : 1;
        return model_.key_length > 0 ? model_.key_length : (model_.embedding > 0 ? model_.embedding / heads : 0);
    }
    std::int64_t value_length() const { return model_.value_length > 0 ? model_.value_length : key_length(); }
    std::int64_t mmax_output() const {
        std::int64_t m = 1;
        for (const auto& ph : phases_)
            if (ph.decode) m = std::max(m, ph.m);
        return m;
    }
    /// Ratio of the CPU roofline at m1 to that at m0 for an N × K shape of `bytes`.
    double roof_ratio_cpu(double m0, double m1, std::int64_t n, std::int64_t k, double bytes) const {
        auto r = [&](double m) {
            const double tp = cpu_flops() * m / (m + p_.cpu_matmul_half_rows);
            return std::max(2.0 * m * double(n) * double(k) / tp, bytes / cpu_bw());
        };
        return r(m1) / r(m0);
    }
    /// The curve whose shape is closest (in log N·K, then log N/K) to N × K; null when none.
    static const calibration_curve* pick_curve(const std::vector<calibration_curve>& cs, std::int64_t n, std::int64_t k) {
        const calibration_curve* best = nullptr;
        double best_d = std::numeric_limits<double>::infinity();
        for (const calibration_curve& c : cs) {
            const double d = std::fabs(std::log(double(n) * double(k)) - std::log(double(c.n) * double(c.k))) +
                             0.25 * std::fabs(std::log(double(n) / double(k)) - std::log(double(c.n) / double(c.k)));
            if (d < best_d) best_d = d, best = &c;
        }
        return best;
    }
    const expert_curve* pick_expert_curve(std::int64_t n, std::int64_t k) const { return pick_expert_curve(cpu_experts_, n, k); }
    static const expert_curve* pick_expert_curve(const std::vector<expert_curve>& cs, std::int64_t n, std::int64_t k) {
        const expert_curve* best = nullptr;
        double best_d = std::numeric_limits<double>::infinity();
        for (const auto& c : cs) {
            const double d = std::fabs(std::log(double(n) * double(k)) - std::log(double(c.n) * double(c.k))) +
                             0.25 * std::fabs(std::log(double(n) / double(k)) - std::log(double(c.n) / double(c.k)));
            if (d < best_d) best_d = d, best = &c;
        }
        return best;
    }

    /// The machine's numbers: at most 63 GPUs (devices are bits of a 64-bit set), rates finite and >= 0.
    void check_hardware() const {
        constexpr const char* fn = "plan::cost_model";
        detail::require(hw_.gpus.size() <= 63, errc::invalid_argument, fn, "the hardware has ", hw_.gpus.size(),
                        " GPUs; the planner supports at most 63");
        auto rate = [&](const std::string& name, double x) {
            detail::require(std::isfinite(x) && x >= 0, errc::invalid_argument, fn, "hardware.", name, " = ", x,
                            " (finite and >= 0 expected; 0: unknown)");
        };
        rate("cpu.dram_read_bytes_per_s", hw_.cpu.dram_read_bytes_per_s);
        rate("cpu.matmul_flops", hw_.cpu.matmul_flops);
        rate("cpu.vector_flops", hw_.cpu.vector_flops);
        for (std::size_t g = 0; g < hw_.gpus.size(); ++g) {
            const gpu_desc& d = hw_.gpus[g];
            const std::string at = "gpus[" + std::to_string(g) + "].";
            rate(at + "memory_bytes_per_s", d.memory_bytes_per_s);
            rate(at + "matmul_flops", d.matmul_flops);
            rate(at + "host_to_device_bytes_per_s", d.host_to_device_bytes_per_s);
            rate(at + "link_nominal_bytes_per_s", d.link_nominal_bytes_per_s);
        }
    }

    void index_layers() {
        layer_tensors_.assign(std::size_t(std::max(model_.layers, 0)), {});
        outer_.clear();
        for (std::size_t i = 0; i < model_.tensors.size(); ++i) {
            const auto& t = model_.tensors[i];
            if (t.layer >= 0)
                layer_tensors_[std::size_t(t.layer)].push_back(int(i));
            else
                outer_.push_back(int(i));
            if (t.is_matmul() && t.role != tensor_role::output) largest_matmul_ = std::max(largest_matmul_, detail::plan_cost::tensor_bytes(t));
            if (t.role == tensor_role::output) head_ = int(i);
        }
        if (head_ < 0)  // tied embeddings: the LM head reads token_embd
            for (std::size_t i = 0; i < model_.tensors.size(); ++i)
                if (model_.tensors[i].role == tensor_role::token_embedding) head_ = int(i);
    }

    void precompute() {
        // Calibration curves usable on this machine: CPU ones, and GPU ones whose name matches a GPU.
        cpu_dense_.clear();
        cpu_experts_.clear();
        gpu_dense_.assign(std::size_t(gpus_), {});
        gpu_experts_.assign(std::size_t(gpus_), {});
        for (const auto& c : calib_.curves) {
            if (c.points.empty() || c.n <= 0 || c.k <= 0) continue;
            std::vector<int> gpus_of;  // every GPU named by the curve ("gpu:<name>"; identical GPUs share a name)
            for (int g = 0; g < gpus_; ++g)
                if (c.device == "gpu:" + hw_.gpus[std::size_t(g)].name) gpus_of.push_back(g);
            if (c.op == "dense") {
                calibration_curve sorted = c;  // curve_at needs M ascending (the JSON loader sorts; code may not)
                std::sort(sorted.points.begin(), sorted.points.end());
                if (c.device == "cpu_amx") cpu_dense_.push_back(sorted);
                for (int g : gpus_of) gpu_dense_[std::size_t(g)].push_back(sorted);
            }
            if ((c.device == "cpu_amx" || !gpus_of.empty()) && c.op == "experts" && c.experts > 0 && c.top_k > 0) {
                const double overhead = !gpus_of.empty() ? p_.gpu_op_overhead_s : p_.cpu_op_overhead_s;
                expert_curve ec;
                ec.n = c.n;
                ec.k = c.k;
                ec.bytes = double(c.n) * double(c.k) * 18.0 / 32.0;
                const double e = double(c.experts);
                for (const auto& [mm, sec] : c.points) {
                    const double rows = mm * double(c.top_k);
                    const double act = e * (1.0 - std::pow(1.0 - 1.0 / e, rows));
                    ec.unit.push_back({rows / act, std::max(sec - overhead, 1e-9) / act});
                }
                std::sort(ec.unit.begin(), ec.unit.end());
                if (gpus_of.empty()) cpu_experts_.push_back(std::move(ec));
                for (int g : gpus_of) gpu_experts_[std::size_t(g)].push_back(ec);
            }
        }
        const int paths = 2 + 2 * gpus_;
        costs_.assign(model_.tensors.size(), {});
        for (std::size_t i = 0; i < model_.tensors.size(); ++i) {
            const tensor_desc& t = model_.tensors[i];
            tensor_cost& tc = costs_[i];
            const bool is_head = int(i) == head_;
            if (!t.is_matmul() && !is_head) continue;
            const bool exp = t.is_expert();
            const std::vector<double>* freq = nullptr;
            if (exp) freq = expert_frequency_of_layer(wl_, model_, t.layer);
            if (freq)
                detail::require(std::int64_t(freq->size()) == t.experts, errc::invalid_argument, "plan::cost_model",
                                "routing statistics of layer ", t.layer, " have ", freq->size(), " entries; tensor ",
                                t.name, " has ", t.experts, " experts");
            tc.cols = freq ? int(t.experts) : 1;
            tc.t.assign(phases_.size() * std::size_t(paths) * std::size_t(tc.cols), 0.0);
            tc.stream_bytes.assign(phases_.size() * std::size_t(tc.cols), 0.0);
            const double eb = expert_bytes(t);
            const int topk = std::max(model_.experts_used, 1);
            for (std::size_t pi = 0; pi < phases_.size(); ++pi) {
                const phase& ph = phases_[pi];
                const double m = is_head ? (ph.decode ? double(ph.m) : 1.0) : double(ph.m);
                for (int col = 0; col < tc.cols; ++col) {
                    double rows = m, act = 1.0;
                    if (exp) {
                        const double p = freq ? (*freq)[std::size_t(col)] : 1.0 / double(t.experts);
                        rows = m * double(topk) * p;
                        act = p > 0 ? 1.0 - std::pow(1.0 - std::min(p, 1.0), m * double(topk)) : 0.0;
                    }
                    auto at = [&](int path) -> double& {
                        return tc.t[(pi * std::size_t(paths) + std::size_t(path)) * std::size_t(tc.cols) + std::size_t(col)];
                    };
                    if (exp) {
                        at(0) = cpu_expert_s(true, rows, act, t.rows, t.cols, eb);
                        at(1) = cpu_expert_s(false, rows, act, t.rows, t.cols, eb);
                        for (int g = 0; g < gpus_; ++g) {
                            at(2 + g) = gpu_expert_s(g, rows, act, t.rows, t.cols, eb);
                            at(2 + gpus_ + g) = at(2 + g) + act * eb / link_bw(g);
                        }
                        tc.stream_bytes[pi * std::size_t(tc.cols) + std::size_t(col)] = act * eb;
                    } else {
                        at(0) = cpu_matmul_s(true, m, t.rows, t.cols, eb);
                        at(1) = cpu_matmul_s(false, m, t.rows, t.cols, eb);
                        for (int g = 0; g < gpus_; ++g) {
                            at(2 + g) = gpu_matmul_s(g, m, t.rows, t.cols, eb);
                            at(2 + gpus_ + g) = at(2 + g) + eb / link_bw(g);
                        }
                        tc.stream_bytes[pi * std::size_t(tc.cols)] = eb;
                    }
                }
            }
        }
    }

public:
    /// Seconds of tensor i (one expert e of it for expert tensors) in phase pi on `exec` device under
    /// placement p, excluding the per-call overhead. Link time for streamed weights included.
    double tensor_seconds(std::size_t i, std::int64_t e, std::size_t pi, const placement& p, int exec) const {
        const tensor_cost& tc = costs_[i];
        if (tc.t.empty()) return 0;
        const int paths = 2 + 2 * gpus_;
        int path = 0;
        if (p.kind == placement_kind::gpu) path = 2 + p.gpu;
        else if (p.kind == placement_kind::cpu_amx) path = 0;
        else path = exec == 0 ? 1 : 2 + gpus_ + (exec - 1);
        const std::size_t col = tc.cols == 1 ? 0 : std::size_t(e);
        return tc.t[(pi * std::size_t(paths) + std::size_t(path)) * std::size_t(tc.cols) + col];
    }
    /// Link bytes of streaming tensor i (expert e) in phase pi.
    double stream_bytes(std::size_t i, std::int64_t e, std::size_t pi) const {
        const tensor_cost& tc = costs_[i];
        if (tc.stream_bytes.empty()) return 0;
        return tc.stream_bytes[pi * std::size_t(tc.cols) + (tc.cols == 1 ? 0 : std::size_t(e))];
    }
    /// True when routing is uniform (all experts of a tensor cost the same).
    bool uniform_experts(std::size_t i) const { return costs_[i].cols == 1; }

private:
    model_desc model_;
    hardware_desc hw_;
    workload_desc wl_;
    calibration_data calib_;
    cost_params p_;
    objective_weights w_;
    std::vector<phase> phases_;
    int gpus_ = 0;
    std::vector<std::vector<int>> layer_tensors_;
    std::vector<int> outer_;
    std::uint64_t largest_matmul_ = 0;
    std::vector<bool> stream_ok_;  // per GPU: room for streaming at all
    int head_ = -1;  // the LM head tensor (output, or token_embd when embeddings are tied)
    // Usable curves, by value (not pointers into calib_, which a copy of the model would not own).
    std::vector<calibration_curve> cpu_dense_;
    std::vector<expert_curve> cpu_experts_;
    std::vector<std::vector<calibration_curve>> gpu_dense_;
    std::vector<std::vector<expert_curve>> gpu_experts_;  // per GPU: calibrated "experts" curves (may be empty)
    std::vector<tensor_cost> costs_;
};

// ---- layer and head evaluation ---------------------------------------------------------------------------

inline double cost_model::layer_seconds(const plan& pl, int l, std::size_t pi, time_breakdown* bd) const {
    const phase& ph = phases_[pi];
    const int nd = 1 + gpus_;
    const int A = 1 + pl.attention_gpu[std::size_t(l)];                       // 0 = CPU
    const int prev = l > 0 ? 1 + pl.attention_gpu[std::size_t(l - 1)] : 0;    // token embedding is on the CPU
    const double M = double(ph.m);
    const double E = double(std::max<std::int64_t>(model_.embedding, 1));
    double compute[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // per device, up to 7 GPUs in the fixed array
    std::vector<double> compute_v;
    double* comp = compute;
    if (nd > 8) {
        compute_v.assign(std::size_t(nd), 0.0);
        comp = compute_v.data();
    }
    double link = 0, stream = 0;
    link += link_s(M * E * 4.0, prev, A);
    comp[A] += elementwise_s(A, ph);
    comp[A] += attention_s(A, ph);

    // Small bitsets of devices that already received the current input (supports up to 64 devices).
    std::uint64_t have_attn_in = 1ull << A, have_ffn_in = 1ull << A;
    const std::vector<int>& ts = layer_tensors_[std::size_t(l)];
    // Down-projection devices (one per dense FFN group) to route gate/up outputs; found first.
    int dense_down = -1, shexp_down = -1;
    for (int i : ts) {
        const tensor_desc& t = model_.tensors[std::size_t(i)];
        if (t.role == tensor_role::ffn_down) dense_down = exec_device(pl.tensors[std::size_t(i)].where, ph, A);
        if (t.role == tensor_role::ffn_down_shexp) shexp_down = exec_device(pl.tensors[std::size_t(i)].where, ph, A);
    }
    // Experts: per device sums for gate/up and down, plus intermediates crossing devices.
    for (int i : ts) {
        const tensor_desc& t = model_.tensors[std::size_t(i)];
        if (!t.is_matmul()) continue;
        const tensor_placement& tp = pl.tensors[std::size_t(i)];
        if (!t.is_expert()) {
            const int d = exec_device(tp.where, ph, A);
            const double ts_ = tensor_seconds(std::size_t(i), 0, pi, tp.where, d);
            if (tp.where.kind == placement_kind::cpu_host && d > 0) {
                const double sb = stream_bytes(std::size_t(i), 0, pi) / link_bw(d - 1);
                stream += sb;
                comp[d] += ts_ - sb;
            } else {
                comp[d] += ts_;
            }
            comp[d] += op_overhead_s(d);
            const double n = double(t.rows);
            if (detail::plan_cost::is_attention_role(t.role)) {
                if (!(have_attn_in >> d & 1)) link += link_s(M * E * 4.0, A, d), have_attn_in |= 1ull << d;
                if (d != A) link += link_s(M * n * 4.0, d, A);
            } else if (t.role == tensor_role::attn_output) {
                if (d != A) link += link_s(M * double(model_.heads) * double(value_length()) * 4.0, A, d) + link_s(M * E * 4.0, d, A);
            } else if (t.role == tensor_role::ffn_router) {
                if (!(have_ffn_in >> d & 1)) link += link_s(M * E * 4.0, A, d), have_ffn_in |= 1ull << d;
                if (d != A) link += link_s(M * n * 4.0, d, A);
            } else {  // dense FFN or shared expert
                if (!(have_ffn_in >> d & 1)) link += link_s(M * E * 4.0, A, d), have_ffn_in |= 1ull << d;
                const bool down = t.role == tensor_role::ffn_down || t.role == tensor_role::ffn_down_shexp;
                if (down) {
                    if (d != A) link += link_s(M * E * 4.0, d, A);
                } else {
                    const int dd = t.role == tensor_role::ffn_gate_shexp || t.role == tensor_role::ffn_up_shexp ? shexp_down : dense_down;
                    if (dd >= 0 && dd != d) link += link_s(M * n * 4.0, d, dd);
                }
            }
            continue;
        }
        // Expert tensor: group experts by execution device.
        const bool down = t.role == tensor_role::ffn_down_exps;
        double dev_t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::vector<double> dev_v;
        double* dt = dev_t;
        if (nd > 8) dev_v.assign(std::size_t(nd), 0.0), dt = dev_v.data();
        std::uint64_t used = 0;
        const bool uniform = uniform_experts(std::size_t(i));
        if (!tp.split()) {
            const int d = exec_device(tp.where, ph, A);
            double per = tensor_seconds(std::size_t(i), 0, pi, tp.where, d);
            double tot = 0, sb = 0;
            if (uniform) {
                tot = per * double(t.experts);
                if (tp.where.kind == placement_kind::cpu_host && d > 0) sb = stream_bytes(std::size_t(i), 0, pi) * double(t.experts);
            } else {
                for (std::int64_t e = 0; e < t.experts; ++e) {
                    tot += tensor_seconds(std::size_t(i), e, pi, tp.where, d);
                    if (tp.where.kind == placement_kind::cpu_host && d > 0) sb += stream_bytes(std::size_t(i), e, pi);
                }
            }
            const double st = d > 0 ? sb / link_bw(d - 1) : 0.0;
            stream += st;
            dt[d] += tot - st;
            used |= 1ull << d;
        } else {
            for (std::int64_t e = 0; e < t.experts; ++e) {
                const placement& p = tp.experts[std::size_t(e)];
                const int d = exec_device(p, ph, A);
                const double x = tensor_seconds(std::size_t(i), e, pi, p, d);
                if (p.kind == placement_kind::cpu_host && d > 0) {
                    const double st = stream_bytes(std::size_t(i), e, pi) / link_bw(d - 1);
                    stream += st;
                    dt[d] += x - st;
                } else {
                    dt[d] += x;
                }
                used |= 1ull << d;
            }
        }
        for (int d = 0; d < nd; ++d) {
            if (!(used >> d & 1)) continue;
            comp[d] += dt[d] + op_overhead_s(d);
            if (!down) {
                if (!(have_ffn_in >> d & 1)) link += link_s(M * E * 4.0, A, d), have_ffn_in |= 1ull << d;
            } else if (d != A) {
                link += link_s(M * E * 4.0, d, A);
            }
        }
        // gate/up -> down intermediates that change device (rows of F floats), when placements differ.
        if (!down) {
            int down_i = -1;
            for (int j : ts)
                if (model_.tensors[std::size_t(j)].role == tensor_role::ffn_down_exps) down_i = j;
            if (down_i >= 0) {
                const tensor_placement& dp = pl.tensors[std::size_t(down_i)];
                const int topk = std::max(model_.experts_used, 1);
                double cross[64] = {};
                std::uint64_t pairs = 0;
                const bool simple = !tp.split() && !dp.split();
                if (simple) {
                    const int a = exec_device(tp.where, ph, A), b = exec_device(dp.where, ph, A);
                    if (a != b) link += link_s(M * double(topk) * double(t.rows) * 4.0, a, b);
                } else if (nd <= 8) {
                    for (std::int64_t e = 0; e < t.experts; ++e) {
                        const int a = exec_device(tp.of_expert(e), ph, A), b = exec_device(dp.of_expert(e), ph, A);
                        if (a == b) continue;
                        const std::vector<double>* fr = expert_frequency_of_layer(wl_, model_, l);
                        const double p = fr ? (*fr)[std::size_t(e)] : 1.0 / double(t.experts);
                        cross[a * 8 + b] += M * double(topk) * p * double(t.rows) * 4.0;
                        pairs |= 1ull << (a * 8 + b);
                    }
                    for (int q = 0; q < 64; ++q)
                        if (pairs >> q & 1) link += link_s(cross[q], q / 8, q % 8);
                }
            }
        }
    }
    double comp_sum = 0;
    for (int d = 0; d < nd; ++d) {
        comp_sum += comp[d];
        if (bd) (d == 0 ? bd->cpu_s : bd->gpu_s) += comp[d];
    }
    if (bd) bd->link_s += link, bd->stream_s += stream;
    return comp_sum + link + stream;
}

inline double cost_model::head_seconds(const plan& pl, std::size_t pi, time_breakdown* bd) const {
    const phase& ph = phases_[pi];
    const double E = double(std::max<std::int64_t>(model_.embedding, 1));
    const double M = double(ph.m);
    const double mout = ph.decode ? M : 1.0;
    const int last = model_.layers > 0 ? 1 + pl.attention_gpu[std::size_t(model_.layers - 1)] : 0;
    double cpu = 0, gpu = 0, link = 0, stream = 0;
    // Token embedding: a row gather on the CPU (llama.cpp keeps token_embd in host memory).
    for (int i : outer_) {
        const tensor_desc& t = model_.tensors[std::size_t(i)];
        if (t.role == tensor_role::token_embedding)  // one row of `cols` per token, dequantized to fp32
            cpu += M * (double(detail::plan_cost::tensor_bytes(t)) / double(std::max<std::int64_t>(t.rows, 1)) + E * 4.0) / cpu_bw();
        if (i != head_) continue;
        const tensor_placement& tp = pl.tensors[std::size_t(i)];
        phase rows = ph;  // llama.cpp decides offloading by the op's rows: the head has mout of them
        rows.m = std::int64_t(mout);
        const int d = exec_device(tp.where, rows, last);
        // output norm where the head runs; hidden state of the output rows to it; logits to the host.
        link += link_s(mout * E * 4.0, last, d);
        double x = tensor_seconds(std::size_t(i), 0, pi, tp.where, d) + op_overhead_s(d);
        if (tp.where.kind == placement_kind::cpu_host && d > 0) {
            const double st = stream_bytes(std::size_t(i), 0, pi) / link_bw(d - 1);
            stream += st;
            x -= st;
        }
        (d == 0 ? cpu : gpu) += x;
        if (d > 0) link += link_s(mout * double(t.rows) * 4.0, d, 0);
    }
    if (bd) bd->cpu_s += cpu, bd->gpu_s += gpu, bd->link_s += link, bd->stream_s += stream, bd->other_s += p_.graph_overhead_s;
    return cpu + gpu + link + stream + p_.graph_overhead_s;
}

inline std::vector<device_memory> cost_model::memory(const plan& pl) const {
    std::vector<device_memory> mem(std::size_t(1 + gpus_));
    mem[0].name = "CPU";
    mem[0].description = hw_.cpu.name;
    mem[0].capacity = hw_.cpu.memory_bytes;
    mem[0].reserve = hw_.cpu_reserve_bytes;
    for (int g = 0; g < gpus_; ++g) {
        mem[std::size_t(1 + g)].name = "CUDA" + std::to_string(g);
        mem[std::size_t(1 + g)].description = hw_.gpus[std::size_t(g)].name;
        mem[std::size_t(1 + g)].capacity = hw_.gpus[std::size_t(g)].memory_bytes;
        mem[std::size_t(1 + g)].reserve = hw_.gpu_reserve_bytes;
    }
    std::vector<bool> used(std::size_t(1 + gpus_), false), runs_output(std::size_t(1 + gpus_), false);
    std::vector<std::uint64_t> streamed(std::size_t(1 + gpus_), 0);
    used[0] = true;
    std::int64_t mmax = 1;
    for (const auto& ph : phases_) mmax = std::max(mmax, ph.m);
    const phase big{false, mmax, 0};
    for (std::size_t i = 0; i < model_.tensors.size(); ++i) {
        const tensor_desc& t = model_.tensors[i];
        const tensor_placement& tp = pl.tensors[i];
        const int A = t.layer >= 0 ? 1 + pl.attention_gpu[std::size_t(t.layer)]
                                   : (model_.layers > 0 ? 1 + pl.attention_gpu[std::size_t(model_.layers - 1)] : 0);
        const double eb = expert_bytes(t);
        auto add = [&](const placement& p, double bytes) {
            const int d = p.kind == placement_kind::gpu ? 1 + p.gpu : 0;
            mem[std::size_t(d)].weights = detail::plan_sat_add(mem[std::size_t(d)].weights, detail::plan_cost::to_bytes(bytes));
            used[std::size_t(d)] = true;
            if (int(i) == head_) runs_output[std::size_t(exec_device(p, {false, mmax_output(), 0}, A))] = true;
            if (p.kind == placement_kind::cpu_host && t.is_matmul() && int(i) != head_ && exec_device(p, big, A) > 0) {
                const int s = exec_device(p, big, A);
                streamed[std::size_t(s)] = std::max<std::uint64_t>(streamed[std::size_t(s)], detail::plan_cost::tensor_bytes(t));
                used[std::size_t(s)] = true;
            }
        };
        if (tp.split())
            for (std::int64_t e = 0; e < t.experts; ++e) add(tp.experts[std::size_t(e)], eb);
        else
            add(tp.where, double(detail::plan_cost::tensor_bytes(t)));
    }
    const double kv = kv_cache_bytes_per_layer();
    for (int l = 0; l < model_.layers; ++l) {
        const int d = 1 + pl.attention_gpu[std::size_t(l)];
        mem[std::size_t(d)].kv_cache = detail::plan_sat_add(mem[std::size_t(d)].kv_cache, detail::plan_cost::to_bytes(kv));
        used[std::size_t(d)] = true;
    }
    for (int d = 0; d <= gpus_; ++d) {
        if (used[std::size_t(d)]) mem[std::size_t(d)].workspace = workspace_bytes(d, runs_output[std::size_t(d)], streamed[std::size_t(d)]);
        else mem[std::size_t(d)].reserve = 0;  // a GPU the plan does not use needs nothing
    }
    return mem;
}

inline plan_score cost_model::score(const plan& pl) const {
    check_plan(pl, "plan::cost_model::score");
    plan_score s;
    std::vector<double> secs;
    for (std::size_t pi = 0; pi < phases_.size(); ++pi) {
        phase_score ps;
        ps.ph = phases_[pi];
        for (int l = 0; l < model_.layers; ++l) ps.layer_seconds.push_back(layer_seconds(pl, l, pi, &ps.breakdown));
        ps.head_seconds = head_seconds(pl, pi, &ps.breakdown);
        ps.seconds = ps.head_seconds;
        for (double x : ps.layer_seconds) ps.seconds += x;
        ps.tokens_per_s = ps.seconds > 0 ? double(ps.ph.m) / ps.seconds : 0;
        secs.push_back(ps.seconds);
        s.phases.push_back(std::move(ps));
    }
    s.objective_s = objective_from(secs);
    s.memory = memory(pl);
    for (const auto& m : s.memory)
        if (m.exceeded())
            s.problems.push_back(m.name + " memory exceeded: needs " + std::to_string(m.used() >> 20) + " MiB (weights " +
                                 std::to_string(m.weights >> 20) + ", KV cache " + std::to_string(m.kv_cache >> 20) +
                                 ", workspace " + std::to_string(m.workspace >> 20) + ", reserve " +
                                 std::to_string(m.reserve >> 20) + "), has " + std::to_string(m.capacity >> 20) + " MiB");
    for (std::size_t i = 0; i < model_.tensors.size(); ++i) {
        const auto& tp = pl.tensors[i];
        const auto& t = model_.tensors[i];
        bool amx = tp.where.kind == placement_kind::cpu_amx && !tp.split();
        if (tp.split())
            for (const auto& p : tp.experts) amx = amx || p.kind == placement_kind::cpu_amx;
        if (amx && !amx_capable(t))
            s.problems.push_back(t.name + " is " + std::string(traits_of(t.type).name) +
                                 ": amxmm's AMX/VNNI kernels take Q4_0 matmul weights only");
    }
    s.valid = s.problems.empty();
    return s;
}

}  // namespace plan
AMXMM_NAMESPACE_END
