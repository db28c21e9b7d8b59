// What the planner optimises for: prompt processing at one or more batch sizes, decoding at a batch
// size, a context length (KV-cache bytes), and optionally measured routing statistics so hot experts
// can be placed apart from cold ones.
//
//   workload_desc w = workload_from_json(json::parse(R"({"prompt_batches": [512, 2048], "decode_batch": 4,
//                                                        "context": 32768, "kv_cache_type": "q8_0"})"));
//   validate(w, model);                        // batches and context in [1, 2^40], routing rows fit the model
//   std::uint64_t kv = kv_cache_bytes(model, w);
//   w.expert_frequency = load_routing_stats(json::parse_file("routing.json"));   // {"layers": [[...], ...]}
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/version.hpp"
#include "../format/ggml_type.hpp"
#include "json.hpp"
#include "model.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct workload_desc {
    std::vector<std::int64_t> prompt_batches{512};  ///< tokens per prompt-processing ubatch (e.g. 64, 2048)
    std::int64_t decode_batch = 1;                  ///< sequences decoded together (tokens per decode step)
    std::int64_t context = 4096;                    ///< context length the KV cache must hold
    ggml_type kv_cache_type = ggml_type::f16;
    /// Optional: expert_frequency[layer][e] = fraction of routed (token, slot) pairs that pick expert e
    /// in that layer (each row sums to 1). Empty: uniform routing.
    std::vector<std::vector<double>> expert_frequency;
};

/// KV-cache bytes for `w.context` tokens of `m` in `w.kv_cache_type`: kv_bytes_per_token × context.
/// The context is the total number of cache cells (llama.cpp's n_ctx, shared by the decode_batch
/// sequences), so the decode batch does not multiply it.
/// Throws invalid_argument when the product does not fit 64 bits.
inline std::uint64_t kv_cache_bytes(const model_desc& m, const workload_desc& w) {
    detail::require(w.context >= 0, errc::invalid_argument, "kv_cache_bytes", "context = ", w.context, " is negative");
    return detail::plan_checked_mul(m.kv_bytes_per_token(w.kv_cache_type), static_cast<std::uint64_t>(w.context),
                                    "kv_cache_bytes", "KV cache bytes (bytes per token x context)");
}

}  // namespace plan
namespace detail {

/// Normalizes one row of expert frequencies or counts in place: entries finite and >= 0, sum > 0.
inline void plan_normalize_row(std::vector<double>& row, const char* fn, std::size_t layer) {
    double sum = 0;
    for (std::size_t e = 0; e < row.size(); ++e) {
        require(std::isfinite(row[e]) && row[e] >= 0, errc::invalid_argument, fn, "layer ", layer, ", expert ", e,
                ": frequency ", row[e], " is negative or not finite");
        sum += row[e];
    }
    require(sum > 0, errc::invalid_argument, fn, "layer ", layer, ": frequencies sum to 0");
    for (double& x : row) x /= sum;
}

}  // namespace detail
namespace plan {

/// Tolerance of "each row sums to 1" in validate().
inline constexpr double expert_frequency_tolerance = 1e-3;

/// Largest batch or context validate() accepts (2^40 tokens, as the C API): far above any real one, and
/// low enough that byte counts derived from it stay well inside 64 bits for real models.
inline constexpr std::int64_t workload_max_tokens = std::int64_t(1) << 40;

/// Checks `w` on its own: prompt_batches non-empty with every batch in [1, workload_max_tokens],
/// decode_batch and context in [1, workload_max_tokens], a KV cache type ggml knows, and
/// expert_frequency rows of one length whose entries are finite, >= 0 and sum to 1 (within
/// expert_frequency_tolerance). Throws invalid_argument naming the field and value.
inline void validate(const workload_desc& w) {
    const char* fn = "validate(workload)";
    constexpr std::int64_t top = workload_max_tokens;
    detail::require(!w.prompt_batches.empty(), errc::invalid_argument, fn, "prompt_batches is empty");
    for (std::size_t i = 0; i < w.prompt_batches.size(); ++i)
        detail::require(w.prompt_batches[i] >= 1 && w.prompt_batches[i] <= top, errc::invalid_argument, fn,
                        "prompt_batches[", i, "] = ", w.prompt_batches[i], " (1 to 2^40 expected)");
    detail::require(w.decode_batch >= 1 && w.decode_batch <= top, errc::invalid_argument, fn,
                    "decode_batch = ", w.decode_batch, " (1 to 2^40 expected)");
    detail::require(w.context >= 1 && w.context <= top, errc::invalid_argument, fn, "context = ", w.context,
                    " (1 to 2^40 expected)");
    detail::require(is_known_ggml_type(static_cast<std::uint32_t>(w.kv_cache_type)), errc::invalid_argument, fn,
                    "kv_cache_type = ", static_cast<std::uint32_t>(w.kv_cache_type), " is not a ggml type");
    for (std::size_t l = 0; l < w.expert_frequency.size(); ++l) {
        const std::vector<double>& row = w.expert_frequency[l];
        detail::require(row.size() == w.expert_frequency[0].size() && !row.empty(), errc::invalid_argument, fn,
                        "expert_frequency[", l, "] has ", row.size(), " entries, expert_frequency[0] has ",
                        w.expert_frequency[0].size());
        double sum = 0;
        for (std::size_t e = 0; e < row.size(); ++e) {
            detail::require(std::isfinite(row[e]) && row[e] >= 0, errc::invalid_argument, fn, "expert_frequency[", l,
                            "][", e, "] = ", row[e], " is negative or not finite");
            sum += row[e];
        }
        detail::require(std::fabs(sum - 1.0) <= expert_frequency_tolerance, errc::invalid_argument, fn,
                        "expert_frequency[", l, "] sums to ", sum, ", not 1 (normalize with load_routing_stats)");
    }
}

/// validate(w), and that the routing statistics fit `m`: rows of m.experts entries, one per layer
/// (m.layers rows), or one per MoE layer (m.layers - m.leading_dense_layers rows, the first row then
/// belonging to layer leading_dense_layers); statistics for a dense model are an error. A context above
/// the model's trained context (m.context_length) is not an error: llama.cpp runs it (with a warning;
/// RoPE scaling such as YaRN makes it useful), and models described without "context_length" carry a
/// default of 4096 rather than a trained value. explain() notes it.
inline void validate(const workload_desc& w, const model_desc& m) {
    const char* fn = "validate(workload, model)";
    validate(w);
    if (w.expert_frequency.empty()) return;
    detail::require(m.experts > 0, errc::invalid_argument, fn, "routing statistics given for '", m.name,
                    "', which has no experts");
    const std::size_t layers = std::size_t(m.layers), moe_layers = std::size_t(m.layers - m.leading_dense_layers);
    detail::require(w.expert_frequency.size() == layers || w.expert_frequency.size() == moe_layers,
                    errc::invalid_argument, fn, "expert_frequency has ", w.expert_frequency.size(),
                    " rows; the model has ", layers, " layers (", moe_layers, " with experts)");
    detail::require(w.expert_frequency[0].size() == std::size_t(m.experts), errc::invalid_argument, fn,
                    "expert_frequency rows have ", w.expert_frequency[0].size(), " entries; the model has ", m.experts,
                    " experts");
}

/// The routing row of model layer `layer` in w.expert_frequency (which validate(w, m) accepted), or
/// nullptr when there are no statistics or the layer is a leading dense one.
inline const std::vector<double>* expert_frequency_of_layer(const workload_desc& w, const model_desc& m, int layer) {
    if (w.expert_frequency.empty() || layer < 0 || layer >= m.layers) return nullptr;
    std::size_t row = std::size_t(layer);
    if (w.expert_frequency.size() != std::size_t(m.layers)) {
        if (layer < m.leading_dense_layers) return nullptr;
        row = std::size_t(layer - m.leading_dense_layers);
    }
    return row < w.expert_frequency.size() ? &w.expert_frequency[row] : nullptr;
}

/// Routing statistics from JSON: {"layers": [[f0, f1, ...], ...]} with one row per layer of per-expert
/// frequencies or raw counts (each row is normalized to sum to 1), or a bare array of rows. Optional
/// members "experts" (checked against the row length) and "notes". Throws malformed_input naming the
/// row and entry for negative, non-finite or all-zero rows, ragged rows, or other shapes.
inline std::vector<std::vector<double>> load_routing_stats(const json::value& j) {
    const char* fn = "load_routing_stats";
    const json::value* rows = &j;
    std::int64_t experts = -1;
    if (j.is_object()) {
        detail::json_require_object(j, {"layers", "experts", "notes"}, fn, "routing");
        detail::require(j.contains("layers"), errc::malformed_input, fn, "routing: missing member \"layers\"");
        rows = &j.at("layers");
        detail::json_member(j, "experts", fn, "routing", [&](const json::value& v) { experts = v.as_int(); });
    }
    if (!rows->is_array())
        detail::json_fail(fn, "routing.layers", "expected an array of rows, found ", json::kind_name(rows->type()));
    std::vector<std::vector<double>> out;
    for (std::size_t l = 0; l < rows->items().size(); ++l) {
        const json::value& r = rows->items()[l];
        const std::string where = detail::concat("routing.layers[", l, "]");
        if (!r.is_array()) detail::json_fail(fn, where, "expected an array of numbers, found ", json::kind_name(r.type()));
        std::vector<double> row;
        for (std::size_t e = 0; e < r.items().size(); ++e) {
            const json::value& x = r.items()[e];
            if (!x.is_number()) detail::json_fail(fn, where, "entry ", e, " is ", json::kind_name(x.type()), ", not a number");
            row.push_back(x.as_number());
        }
        if (row.empty()) detail::json_fail(fn, where, "is empty");
        if (!out.empty() && row.size() != out[0].size())
            detail::json_fail(fn, where, "has ", row.size(), " entries, routing.layers[0] has ", out[0].size());
        if (experts >= 0 && std::int64_t(row.size()) != experts)
            detail::json_fail(fn, where, "has ", row.size(), " entries, \"experts\" says ", experts);
        try {
            detail::plan_normalize_row(row, fn, l);
        } catch (const error& e) {
            throw error(errc::malformed_input, e.what());
        }
        out.push_back(std::move(row));
    }
    return out;
}

/// The workload as JSON (the schema of workload_from_json).
inline json::value to_json(const workload_desc& w) {
    json::value o = json::value::object();
    json::value pb = json::value::array();
    for (std::int64_t b : w.prompt_batches) pb.push_back(b);
    o.set("prompt_batches", std::move(pb))
        .set("decode_batch", w.decode_batch)
        .set("context", w.context)
        .set("kv_cache_type", std::string(traits_of(w.kv_cache_type).name));
    if (!w.expert_frequency.empty()) {
        json::value rows = json::value::array();
        for (const auto& r : w.expert_frequency) {
            json::value row = json::value::array();
            for (double x : r) row.push_back(x);
            rows.push_back(std::move(row));
        }
        json::value routing = json::value::object();
        routing.set("layers", std::move(rows));
        o.set("expert_frequency", std::move(routing));
    }
    return o;
}

/// A workload from JSON; members not given keep workload_desc's defaults. Schema:
///
///   {
///     "prompt_batches": [512, 2048],   // or a single number
///     "decode_batch": 1,
///     "context": 4096,
///     "kv_cache_type": "f16",          // ggml type name or number (f16, bf16, q8_0, q4_0, ...)
///     "expert_frequency": {"layers": [[...], ...]},   // or [[...], ...]; rows normalized (see
///                                                     // load_routing_stats)
///     "notes": "..."
///   }
///
/// The result is validate()d (a model-independent check); errors are malformed_input naming the member.
inline workload_desc workload_from_json(const json::value& j) {
    const char* fn = "workload_from_json";
    detail::json_require_object(j, {"prompt_batches", "decode_batch", "context", "kv_cache_type", "expert_frequency", "notes"},
                                fn, "workload");
    workload_desc w;
    using V = json::value;
    detail::json_member(j, "prompt_batches", fn, "workload", [&](const V& v) {
        w.prompt_batches.clear();
        if (v.is_number()) {
            w.prompt_batches.push_back(v.as_int());
        } else {
            for (const V& b : v.items()) w.prompt_batches.push_back(b.as_int());
        }
    });
    detail::json_member(j, "decode_batch", fn, "workload", [&](const V& v) { w.decode_batch = v.as_int(); });
    detail::json_member(j, "context", fn, "workload", [&](const V& v) { w.context = v.as_int(); });
    detail::json_member(j, "kv_cache_type", fn, "workload", [&](const V& v) { w.kv_cache_type = detail::json_ggml_type(v); });
    if (const V* ef = j.find("expert_frequency")) w.expert_frequency = load_routing_stats(*ef);
    try {
        validate(w);
    } catch (const error& e) {
        throw error(errc::malformed_input, detail::concat(fn, ": ", e.what()));
    }
    return w;
}

/// Reads a workload JSON file (see workload_from_json); errors carry the path.
inline workload_desc workload_from_json_file(const std::string& path) {
    const json::value j = json::parse_file(path);
    try {
        return workload_from_json(j);
    } catch (const error& e) {
        throw error(e.code(), path + ": " + e.what());
    }
}

/// Routing statistics from a JSON file (see load_routing_stats); errors carry the path.
inline std::vector<std::vector<double>> load_routing_stats_file(const std::string& path) {
    const json::value j = json::parse_file(path);
    try {
        return load_routing_stats(j);
    } catch (const error& e) {
        throw error(e.code(), path + ": " + e.what());
    }
}

}  // namespace plan
AMXMM_NAMESPACE_END
