// What-if: score a placement the user already runs, given as llama.cpp flags, with the planner's own
// cost model — so "-ngl 12" and "-ot exps=CPU" can be compared with the planner's plan on equal terms.
//
// llama.cpp semantics modelled (llama-model.cpp, common/arg.cpp):
//   -ngl N   the last min(N, L) of the L repeating layers go to the GPUs (split across several GPUs in
//            contiguous ranges in proportion to their memory, llama.cpp's default tensor split); the output
//            layer too when N > L. A layer's KV cache and attention run where the layer is.
//   -ot REGEX=DEV  (repeatable; one -ot may hold several comma-separated rules) tensors whose name matches
//            REGEX (std::regex_search, ECMAScript) go to buffer DEV instead; rules are tried in order,
//            the first match wins, and they override -ngl. DEV: CPU (llama.cpp's plain host buffer: the
//            file layout, which its scheduler streams to a GPU for batches >= 32), CUDA0, CUDA1, ...
//            This header also accepts AMX (the AMX-repacked CPU buffer: cpu_amx) to describe a setup
//            exactly.
//   token_embd stays in host memory unless a rule moves it.
// CPU tensors that no rule names take `cpu_layout`: amx (llama.cpp built with its AMX back end repacks
// them: cpu_amx, computed on the CPU, never streamed) or host (no repack: cpu_host, streamable).
//
// Validity: a what-if can be invalid — a GPU or host memory exceeded, a device that does not exist, or
// (with whatif_options::vnni_offload, modelling llama.cpp builds whose scheduler offloaded ops on
// AMX-repacked weights: the seed report's crash) VNNI weights streamed to a GPU. The reasons are listed.
#pragma once

#include <cctype>
#include <cstdlib>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "cost_model.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

enum class cpu_layout { amx, host };

/// llama.cpp's placement flags.
struct llama_flags {
    int ngl = 0;                                              ///< -ngl / --n-gpu-layers
    std::vector<std::pair<std::string, std::string>> overrides;  ///< -ot rules (regex, device), in order
};

struct whatif_options {
    cpu_layout layout = cpu_layout::amx;  ///< CPU tensors without an -ot rule
    bool vnni_offload = false;            ///< model builds that stream AMX-repacked weights (the crash): invalid
};

struct whatif_result {
    std::string label;        ///< the flags as given, e.g. "-ngl 12 -ot exps=CPU"
    plan placement;
    plan_score score;
    bool valid = true;
    std::vector<std::string> problems;  ///< score.problems plus the what-if's own
};

/// Parses one "-ot" value: "REGEX=DEV[,REGEX=DEV...]" into rules appended to `out`.
inline void parse_override(const std::string& value, std::vector<std::pair<std::string, std::string>>& out) {
    constexpr const char* fn = "plan::parse_override";
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t end = value.find(',', start);
        if (end == std::string::npos) end = value.size();
        const std::string rule = value.substr(start, end - start);
        const std::size_t eq = rule.rfind('=');
        detail::require(eq != std::string::npos && eq > 0 && eq + 1 < rule.size(), errc::invalid_argument, fn,
                        "override \"", rule, "\" is not REGEX=DEVICE");
        out.emplace_back(rule.substr(0, eq), rule.substr(eq + 1));
        start = end + 1;
    }
}

/// Parses llama.cpp arguments: -ngl N / --n-gpu-layers N / --gpu-layers N, -ot V / --override-tensor V
/// (also the "--flag=value" spelling). Other arguments are an error (the what-if would silently ignore them).
inline llama_flags parse_llama_flags(const std::vector<std::string>& args) {
    constexpr const char* fn = "plan::parse_llama_flags";
    llama_flags f;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i], v;
        const std::size_t eq = a.find('=');
        const bool long_opt = a.rfind("--", 0) == 0;
        if (long_opt && eq != std::string::npos) v = a.substr(eq + 1), a = a.substr(0, eq);
        auto value = [&]() -> std::string {
            if (!v.empty()) return v;
            detail::require(i + 1 < args.size(), errc::invalid_argument, fn, a, " needs a value");
            return args[++i];
        };
        if (a == "-ngl" || a == "--n-gpu-layers" || a == "--gpu-layers") {
            const std::string s = value();
            char* end = nullptr;
            const long n = std::strtol(s.c_str(), &end, 10);
            detail::require(!s.empty() && end && *end == '\0' && n >= 0, errc::invalid_argument, fn, a, " ", s,
                            " is not a non-negative layer count");
            f.ngl = int(std::min<long>(n, 1 << 20));
        } else if (a == "-ot" || a == "--override-tensor") {
            parse_override(value(), f.overrides);
        } else {
            detail::fail(errc::invalid_argument, fn, "unsupported argument \"", args[i], "\" (accepted: -ngl N, -ot REGEX=DEV)");
        }
    }
    return f;
}

/// "-ngl 12 -ot exps=CPU".
inline std::string to_string(const llama_flags& f) {
    std::string s = "-ngl " + std::to_string(f.ngl);
    for (const auto& r : f.overrides) s += " -ot " + r.first + "=" + r.second;
    return s;
}

namespace whatif_detail {

/// Placement of a -ot device name; problems get a line when it names a GPU that does not exist.
inline placement device_placement(const std::string& dev, int gpus, std::vector<std::string>& problems) {
    std::string u;
    for (char c : dev) u += char(std::toupper(static_cast<unsigned char>(c)));
    if (u == "CPU" || u == "CUDA_HOST" || u == "CPU_HOST") return placement::host();
    if (u == "AMX" || u == "CPU_AMX") return placement::amx();
    if (u.rfind("CUDA", 0) == 0 && u.size() > 4) {
        const std::string num = u.substr(4);
        const bool digits = num.find_first_not_of("0123456789") == std::string::npos && num.size() < 6;
        detail::require(digits, errc::invalid_argument, "plan::evaluate_llama_flags", "device \"", dev,
                        "\" is not CPU, AMX or CUDA<n>");
        const int g = std::atoi(num.c_str());
        if (g >= gpus) {
            problems.push_back("device " + dev + " does not exist (this machine has " + std::to_string(gpus) +
                               " GPU" + (gpus == 1 ? "" : "s") + "); llama.cpp would refuse it");
            return placement::host();
        }
        return placement::on_gpu(g);
    }
    detail::fail(errc::invalid_argument, "plan::evaluate_llama_flags", "device \"", dev, "\" is not CPU, AMX or CUDA<n>");
}

}  // namespace whatif_detail

/// The plan llama.cpp would run for these flags (see the header comment), and the problems found while
/// building it (non-existent devices).
inline plan plan_from_llama_flags(const cost_model& cm, const llama_flags& f, const whatif_options& opt,
                                  std::vector<std::string>* problems = nullptr) {
    const model_desc& m = cm.model();
    const int L = m.layers, G = cm.gpus();
    std::vector<std::string> local;
    std::vector<std::string>& probs = problems ? *problems : local;
    std::vector<std::regex> res;
    std::vector<placement> devs;
    for (const auto& r : f.overrides) {
        try {
            res.emplace_back(r.first, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            detail::fail(errc::invalid_argument, "plan::plan_from_llama_flags", "-ot regex \"", r.first, "\": ", e.what());
        }
        devs.push_back(whatif_detail::device_placement(r.second, G, probs));
    }
    plan p;
    p.label = to_string(f);
    p.attention_gpu.assign(std::size_t(L), -1);
    const int n = G > 0 ? std::min(f.ngl, L) : 0;
    for (int j = 0; j < n; ++j) p.attention_gpu[std::size_t(L - n + j)] = layer_split_gpu(cm.hardware(), j, n);
    const bool output_gpu = G > 0 && f.ngl > L;
    const int output_g = n > 0 ? layer_split_gpu(cm.hardware(), n - 1, n) : 0;
    for (const tensor_desc& t : m.tensors) {
        placement where;
        int rule = -1;
        for (std::size_t r = 0; r < res.size() && rule < 0; ++r)
            if (std::regex_search(t.name, res[r])) rule = int(r);
        if (rule >= 0) {
            where = devs[std::size_t(rule)];
            if (where.kind == placement_kind::cpu_amx && !cost_model::amx_capable(t)) where = placement::host();
        } else {
            const bool gpu = t.layer >= 0 ? p.attention_gpu[std::size_t(t.layer)] >= 0
                                          : (output_gpu && t.role != tensor_role::token_embedding);
            if (gpu)
                where = placement::on_gpu(t.layer >= 0 ? p.attention_gpu[std::size_t(t.layer)] : output_g);
            else if (opt.layout == cpu_layout::amx && cost_model::amx_capable(t))
                where = placement::amx();
            else
                where = placement::host();
        }
        p.tensors.push_back({where, {}});
    }
    return p;
}

/// Scores llama.cpp flags with the cost model: the plan, its score, and whether it is valid.
inline whatif_result evaluate_llama_flags(const cost_model& cm, const llama_flags& f, const whatif_options& opt = {}) {
    whatif_result r;
    r.label = to_string(f);
    r.placement = plan_from_llama_flags(cm, f, opt, &r.problems);
    r.score = cm.score(r.placement);
    for (const auto& s : r.score.problems) r.problems.push_back(s);
    if (opt.vnni_offload && cm.gpus() > 0) {
        std::int64_t big = 0;
        for (const auto& ph : cm.phases()) big = std::max(big, ph.m);
        if (big >= cm.params().stream_min_batch) {
            int count = 0;
            std::string first;
            for (std::size_t i = 0; i < r.placement.tensors.size(); ++i) {
                const auto& tp = r.placement.tensors[i];
                bool amx = tp.where.kind == placement_kind::cpu_amx;
                for (const auto& e : tp.experts) amx = amx || e.kind == placement_kind::cpu_amx;
                if (amx && cm.model().tensors[i].is_matmul()) {
                    if (!count) first = cm.model().tensors[i].name;
                    ++count;
                }
            }
            if (count)
                r.problems.push_back(std::to_string(count) + " VNNI-packed (AMX-repacked) weights, e.g. " + first +
                                     ", would be streamed to CUDA0 for batches of " + std::to_string(big) +
                                     " tokens (>= " + std::to_string(cm.params().stream_min_batch) +
                                     "): the GPU cannot read that layout (the seed report's crash)");
        }
    }
    r.valid = r.problems.empty();
    return r;
}

/// Convenience: parse llama.cpp arguments and score them.
inline whatif_result evaluate_llama_args(const cost_model& cm, const std::vector<std::string>& args,
                                         const whatif_options& opt = {}) {
    return evaluate_llama_flags(cm, parse_llama_flags(args), opt);
}

}  // namespace plan
AMXMM_NAMESPACE_END
