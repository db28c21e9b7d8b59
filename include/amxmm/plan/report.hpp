// Plan output: a human table per layer, an explanation, JSON (docs/plan-json-schema.md) and the
// llama.cpp flags that reproduce as much of a plan as llama.cpp can express.
//
//   format_table(cm, plan, score)     per layer: where attention/KV, FFN and experts live, predicted ms
//                                     per phase, bytes per device
//   explain(cm, result)               tokens/s per phase, where time goes, the binding constraint, the
//                                     next-best plan and what it would cost
//   to_llama_flags(cm, plan)          -ngl N and -ot REGEX=DEV rules, whether they are exact, and why not
//   to_json(cm, result, whatifs)      the schema "amxmm-plan/1"
#pragma once

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cost_model.hpp"
#include "hardware.hpp"
#include "json.hpp"
#include "solver.hpp"
#include "whatif.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

namespace report_detail {

inline std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}
inline std::string mib(double bytes) { return fmt("%.0f", bytes / double(1 << 20)); }
inline std::string gib(double bytes) { return fmt("%.2f", bytes / double(1ull << 30)); }

/// "CUDA0", "CPU amx", "CPU file", or "CUDA0 96/CPU amx 32" for a mixed set, from placement counts.
inline std::string summarize(const std::map<std::string, std::int64_t>& counts) {
    if (counts.empty()) return "-";
    if (counts.size() == 1) return counts.begin()->first;
    std::string s;
    for (const auto& [k, n] : counts) s += (s.empty() ? "" : " + ") + std::to_string(n) + " " + k;
    return s;
}
inline std::string short_name(const placement& p) {
    switch (p.kind) {
        case placement_kind::gpu: return "CUDA" + std::to_string(p.gpu);
        case placement_kind::cpu_amx: return "CPU amx";
        case placement_kind::cpu_host: return "CPU file";
    }
    return "?";
}
inline std::string layout_name(const placement& p) {
    switch (p.kind) {
        case placement_kind::gpu: return "gpu";
        case placement_kind::cpu_amx: return "amx_vnni";
        case placement_kind::cpu_host: return "file";
    }
    return "?";
}
inline std::string device_name(const placement& p) { return p.kind == placement_kind::gpu ? "CUDA" + std::to_string(p.gpu) : "CPU"; }

/// Regex-escaped literal.
inline std::string escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (std::string(".^$|()[]{}*+?\\").find(c) != std::string::npos) o += '\\';
        o += c;
    }
    return o;
}

}  // namespace report_detail

// ---- table ---------------------------------------------------------------------------------------------

/// Per layer: attention device (and KV cache), attention weights, dense FFN, experts; predicted ms per
/// phase; MiB per device. Then the head and totals.
inline std::string format_table(const cost_model& cm, const plan& pl, const plan_score& sc) {
    using namespace report_detail;
    const model_desc& m = cm.model();
    const int G = cm.gpus();
    std::string out;
    char buf[512];
    std::string hdr = "layer  attn+KV  attention weights     FFN / experts                  ";
    for (const auto& ph : sc.phases) {
        std::snprintf(buf, sizeof buf, "%12s", (ph.ph.name() + " ms").c_str());
        hdr += buf;
    }
    hdr += "   CPU MiB";
    for (int g = 0; g < G; ++g) hdr += "  CUDA" + std::to_string(g) + " MiB";
    out += hdr + "\n" + std::string(hdr.size(), '-') + "\n";
    const double kv = cm.kv_cache_bytes_per_layer();
    for (int l = 0; l < m.layers; ++l) {
        std::map<std::string, std::int64_t> attn, ffn;
        std::vector<double> bytes(std::size_t(1 + G), 0.0);
        for (int i : cm.layer_tensors(l)) {
            const tensor_desc& t = m.tensors[std::size_t(i)];
            const tensor_placement& tp = pl.tensors[std::size_t(i)];
            const double eb = cm.expert_bytes(t);
            const bool is_ffn = detail::plan_cost::is_ffn_dense_role(t.role) || t.is_expert();
            if (tp.split()) {
                std::map<std::string, std::int64_t> c;
                for (const auto& p : tp.experts) {
                    ++c[short_name(p)];
                    bytes[std::size_t(p.kind == placement_kind::gpu ? 1 + p.gpu : 0)] += eb;
                }
                for (const auto& [k, n] : c) ffn[k] = std::max(ffn[k], n);
            } else {
                bytes[std::size_t(tp.where.kind == placement_kind::gpu ? 1 + tp.where.gpu : 0)] += double(detail::plan_cost::tensor_bytes(t));
                if (!t.is_matmul()) continue;
                auto& c = is_ffn ? ffn : attn;
                const std::int64_t n = t.is_expert() ? t.experts : 0;
                if (t.is_expert()) c[short_name(tp.where)] = std::max(c[short_name(tp.where)], n);
                else c[short_name(tp.where)] = std::max<std::int64_t>(c[short_name(tp.where)], 0);
            }
        }
        const int a = pl.attention_gpu[std::size_t(l)];
        bytes[std::size_t(1 + a)] += kv;
        // Experts: counts; dense: names only.
        std::string f;
        if (ffn.size() == 1) f = ffn.begin()->first;
        else {
            for (const auto& [k, n] : ffn) f += (f.empty() ? "" : " + ") + (n ? std::to_string(n) + " " : std::string()) + k;
        }
        std::string at;
        for (const auto& kv2 : attn) at += (at.empty() ? "" : " + ") + kv2.first;
        std::snprintf(buf, sizeof buf, "%5d  %-7s  %-20s  %-30s ", l, a < 0 ? "CPU" : ("CUDA" + std::to_string(a)).c_str(),
                      at.empty() ? "-" : at.c_str(), f.empty() ? "-" : f.c_str());
        std::string row = buf;
        for (const auto& ph : sc.phases) {
            std::snprintf(buf, sizeof buf, "%12.3f", ph.layer_seconds[std::size_t(l)] * 1e3);
            row += buf;
        }
        std::snprintf(buf, sizeof buf, "  %8s", mib(bytes[0]).c_str());
        row += buf;
        for (int g = 0; g < G; ++g) {
            std::snprintf(buf, sizeof buf, "  %9s", mib(bytes[std::size_t(1 + g)]).c_str());
            row += buf;
        }
        out += row + "\n";
    }
    // Head and totals.
    std::string head = "-";
    if (cm.head_tensor() >= 0) head = short_name(pl.tensors[std::size_t(cm.head_tensor())].where);
    std::snprintf(buf, sizeof buf, "%5s  %-7s  %-20s  %-30s ", "head", "", ("output: " + head).c_str(), "");
    std::string row = buf;
    for (const auto& ph : sc.phases) {
        std::snprintf(buf, sizeof buf, "%12.3f", ph.head_seconds * 1e3);
        row += buf;
    }
    out += row + "\n";
    std::snprintf(buf, sizeof buf, "%5s  %-7s  %-20s  %-30s ", "total", "", "", "");
    row = buf;
    for (const auto& ph : sc.phases) {
        std::snprintf(buf, sizeof buf, "%12.3f", ph.seconds * 1e3);
        row += buf;
    }
    out += std::string(hdr.size(), '-') + "\n" + row + "\n";
    return out;
}

// ---- llama.cpp flags ---------------------------------------------------------------------------------------

struct llama_cpp_flags {
    int ngl = 0;
    std::vector<std::pair<std::string, std::string>> overrides;  ///< -ot rules (regex, device)
    bool exact = true;                 ///< the flags reproduce the plan exactly (under the stated assumptions)
    std::vector<std::string> notes;    ///< what could not be expressed, and assumptions
    std::vector<std::string> args() const {
        std::vector<std::string> a{"-ngl", std::to_string(ngl)};
        for (const auto& r : overrides) a.push_back("-ot"), a.push_back(r.first + "=" + r.second);
        return a;
    }
    /// Shell-quoted, e.g. -ngl 49 -ot "blk\.(3|4)\.ffn_.*_exps\.=CPU".
    std::string command_line() const {
        std::string s = "-ngl " + std::to_string(ngl);
        for (const auto& r : overrides) s += " -ot \"" + r.first + "=" + r.second + "\"";
        return s;
    }
};

/// The -ngl / -ot flags closest to `pl` (assumes llama.cpp built with its AMX back end, so CPU tensors
/// without a rule are AMX-repacked; "-ot X=CPU" keeps X in the file layout).
inline llama_cpp_flags to_llama_flags(const cost_model& cm, const plan& pl) {
    using namespace report_detail;
    const model_desc& m = cm.model();
    const int L = m.layers, G = cm.gpus();
    llama_cpp_flags f;
    // -ngl: the longest suffix of layers whose attention (and KV cache) is on a GPU.
    int n = 0;
    while (n < L && pl.attention_gpu[std::size_t(L - 1 - n)] >= 0) ++n;
    const int head = cm.head_tensor();
    const bool head_gpu = head >= 0 && pl.tensors[std::size_t(head)].where.kind == placement_kind::gpu &&
                          m.tensors[std::size_t(head)].role == tensor_role::output;
    f.ngl = (n == L && head_gpu) ? L + 1 : n;
    for (int l = 0; l < L - n; ++l)
        if (pl.attention_gpu[std::size_t(l)] >= 0) {
            f.exact = false;
            f.notes.push_back("blk." + std::to_string(l) + "'s attention and KV cache are planned on CUDA" +
                              std::to_string(pl.attention_gpu[std::size_t(l)]) +
                              ", but llama.cpp keeps a layer's KV cache with its -ngl device (CPU here)");
        }
    // What -ngl alone gives (AMX build), to find the tensors that need a rule.
    llama_flags base;
    base.ngl = f.ngl;
    const plan expect = plan_from_llama_flags(cm, base, whatif_options{cpu_layout::amx, false});
    for (int l = L - n; l < L; ++l)
        if (pl.attention_gpu[std::size_t(l)] != expect.attention_gpu[std::size_t(l)]) {
            f.exact = false;
            f.notes.push_back("blk." + std::to_string(l) + "'s KV cache is planned on CUDA" +
                              std::to_string(pl.attention_gpu[std::size_t(l)]) + "; llama.cpp's layer split puts it on CUDA" +
                              std::to_string(expect.attention_gpu[std::size_t(l)]) + " (use --tensor-split to move it)");
        }
    // (device, suffix) -> layers; non-block tensors by full name.
    std::map<std::pair<std::string, std::string>, std::vector<int>> groups;
    std::vector<std::pair<std::string, std::string>> singles;
    std::vector<std::string> amx_forced;  // cpu_amx tensors that need a rule: -ot can only say CPU (file layout)
    for (std::size_t i = 0; i < m.tensors.size(); ++i) {
        const tensor_desc& t = m.tensors[i];
        const tensor_placement& tp = pl.tensors[i];
        placement want = tp.where;
        if (tp.split()) {
            std::map<std::string, std::int64_t> c;
            std::map<std::string, placement> rep;
            for (const auto& p : tp.experts) ++c[short_name(p)], rep[short_name(p)] = p;
            std::string maj;
            std::int64_t best = -1;
            for (const auto& [k, v] : c)
                if (v > best) best = v, maj = k;
            want = rep[maj];
            f.exact = false;
            std::string parts;
            for (const auto& [k, v] : c) parts += (parts.empty() ? "" : ", ") + std::to_string(v) + " on " + k;
            f.notes.push_back(t.name + ": per-expert placement (" + parts +
                              ") cannot be expressed with -ot; the flags put the whole tensor on " + maj);
        }
        const placement have = expect.tensors[i].where;
        if (want == have) continue;
        std::string dev;
        if (want.kind == placement_kind::gpu) dev = "CUDA" + std::to_string(want.gpu);
        else if (want.kind == placement_kind::cpu_host) dev = "CPU";
        else {
            // cpu_amx where -ngl gives a GPU or the file layout: llama.cpp's -ot has no AMX buffer name.
            dev = "CPU";
            f.exact = false;
            amx_forced.push_back(t.name);
        }
        if (t.layer >= 0) {
            std::string suffix = t.name.substr(t.name.find('.', 4) + 1);  // after "blk.N."
            if (suffix.size() > 7 && suffix.compare(suffix.size() - 7, 7, ".weight") == 0) suffix.resize(suffix.size() - 7);
            groups[{dev, suffix}].push_back(t.layer);
        } else {
            singles.push_back({"^" + escape(t.name) + "$", dev});
        }
    }
    if (!amx_forced.empty()) {
        std::string list;
        for (std::size_t j = 0; j < amx_forced.size() && j < 3; ++j) list += (j ? ", " : "") + amx_forced[j];
        if (amx_forced.size() > 3) list += ", ...";
        f.notes.push_back(std::to_string(amx_forced.size()) + " tensors (" + list +
                          ") are planned AMX-repacked on the CPU inside the -ngl range; -ot can only name the plain CPU "
                          "buffer, so llama.cpp keeps them in the file layout (streamed to the GPU for batches >= 32)");
    }
    // Merge suffixes that share the same (device, layer set): blk\.(3|4)\.(ffn_up_exps|ffn_gate_exps)\.
    std::map<std::pair<std::string, std::vector<int>>, std::vector<std::string>> merged;
    for (const auto& [k, layers] : groups) merged[{k.first, layers}].push_back(k.second);
    for (const auto& [k, suffixes] : merged) {
        const auto& layers = k.second;
        std::string lay;
        if (int(layers.size()) == L) lay = "\\d+";
        else {
            lay = "(";
            for (std::size_t j = 0; j < layers.size(); ++j) lay += (j ? "|" : "") + std::to_string(layers[j]);
            lay += ")";
            if (layers.size() == 1) lay = std::to_string(layers[0]);
        }
        std::string suf;
        if (suffixes.size() == 1) suf = escape(suffixes[0]);
        else {
            suf = "(";
            for (std::size_t j = 0; j < suffixes.size(); ++j) suf += (j ? "|" : "") + escape(suffixes[j]);
            suf += ")";
        }
        f.overrides.push_back({"blk\\." + lay + "\\." + suf + "\\.", k.first});
    }
    for (const auto& s : singles) f.overrides.push_back(s);
    if (G > 1) f.notes.push_back("several GPUs: -ngl splits layers in proportion to GPU memory (llama.cpp's default --tensor-split)");
    bool any_amx = false;
    for (const auto& tp : pl.tensors) {
        any_amx = any_amx || tp.where.kind == placement_kind::cpu_amx;
        for (const auto& p : tp.experts) any_amx = any_amx || p.kind == placement_kind::cpu_amx;
    }
    if (any_amx)
        f.notes.push_back("CPU tensors without a rule are AMX-repacked: llama.cpp must be built with its AMX back end on an AMX CPU");
    // Self-check: the flags, read back with llama.cpp's semantics, give the plan (except what is noted).
    llama_flags back;
    back.ngl = f.ngl;
    back.overrides = f.overrides;
    const plan again = plan_from_llama_flags(cm, back, whatif_options{cpu_layout::amx, false});
    for (std::size_t i = 0; i < m.tensors.size() && f.exact; ++i)
        if (pl.tensors[i].split() || again.tensors[i].where != pl.tensors[i].where) f.exact = false;
    return f;
}

// ---- explanation -------------------------------------------------------------------------------------------

inline std::string describe_phases(const plan_score& s) {
    std::string o;
    for (const auto& ph : s.phases)
        o += (o.empty() ? "" : ", ") + ph.ph.name() + " " + report_detail::fmt("%.1f", ph.tokens_per_s) + " t/s";
    return o;
}

/// Why the plan is what it is, and what the next-best plan would cost.
inline std::string explain(const cost_model& cm, const solve_result& r) {
    using namespace report_detail;
    std::string o;
    o += "Predicted: " + describe_phases(r.score) + " (objective: a " + fmt("%.0f", cm.weights().prompt_tokens) +
         "-token prompt + " + fmt("%.0f", cm.weights().decode_tokens) + " generated tokens = " + fmt("%.3f", r.score.objective_s) +
         " s).\n";
    o += std::string("Cost model: CPU matmuls from ") + (cm.calibrated() ? "this machine's calibration" : "the roofline of the hardware description") +
         (cm.gpus() ? "; GPU matmuls from the roofline of the GPU description" : "") + ".\n";
    for (const auto& ph : r.score.phases) {
        const auto& b = ph.breakdown;
        const double tot = std::max(ph.seconds, 1e-30);
        o += "  " + ph.ph.name() + ": CPU " + fmt("%.0f", 100 * b.cpu_s / tot) + "%, GPU " + fmt("%.0f", 100 * b.gpu_s / tot) +
             "%, weight streaming " + fmt("%.0f", 100 * b.stream_s / tot) + "%, activations over the link " +
             fmt("%.0f", 100 * b.link_s / tot) + "%, overhead " + fmt("%.0f", 100 * b.other_s / tot) + "% of " +
             fmt("%.2f", ph.seconds * 1e3) + " ms per pass\n";
    }
    o += "Memory:";
    for (const auto& m : r.score.memory)
        o += " " + m.name + " " + gib(double(m.used())) + (m.capacity ? " of " + gib(double(m.capacity)) : std::string()) + " GiB;";
    o += "\n";
    o += "Binding constraint: " + r.binding + ".\n";
    if (cm.model().context_length > 0 && cm.workload().context > cm.model().context_length)
        o += "Note: the context (" + std::to_string(cm.workload().context) + ") is above the model's trained context (" +
             std::to_string(cm.model().context_length) + "); llama.cpp runs it with a warning, and it needs RoPE scaling "
             "(e.g. YaRN) to be useful.\n";
    if (!r.same_as.empty()) o += "The plan is what llama.cpp's " + r.same_as + " gives.\n";
    if (!r.next_best.tensors.empty()) {
        const double d = r.next_best_score.objective_s - r.score.objective_s;
        o += "Next best (the best other llama.cpp -ngl/-ot plan): " + r.next_best.label + ": " + describe_phases(r.next_best_score) +
             "; " + fmt("%.3f", r.next_best_score.objective_s) + " s for the job (" +
             (d >= 0 ? "+" : "") + fmt("%.1f", 100 * d / std::max(r.score.objective_s, 1e-30)) + "%).\n";
    }
    if (!r.score.valid)
        for (const auto& p : r.score.problems) o += "PROBLEM: " + p + "\n";
    o += "Solved in " + fmt("%.1f", r.solve_seconds * 1e3) + " ms (" + std::to_string(r.evaluations) + " moves scored).\n";
    return o;
}

/// One line per what-if beside the plan: tokens/s per phase, memory per device, validity.
inline std::string format_whatif(const cost_model& cm, const solve_result& r, const std::vector<whatif_result>& ws) {
    using namespace report_detail;
    (void)cm;
    std::string o;
    auto line = [&](const std::string& label, const plan_score& s, bool valid, const std::vector<std::string>& probs) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "  %-34s", label.c_str());
        std::string l = buf;
        for (const auto& ph : s.phases) {
            std::snprintf(buf, sizeof buf, " %12.1f", ph.tokens_per_s);
            l += buf;
        }
        for (const auto& m : s.memory) l += "  " + m.name + " " + gib(double(m.used())) + " GiB";
        l += valid ? "  valid" : "  INVALID";
        o += l + "\n";
        for (const auto& p : probs) o += "      - " + p + "\n";
    };
    std::string h = "  plan                              ";
    for (const auto& ph : r.score.phases) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " %12s", (ph.ph.name() + " t/s").c_str());
        h += buf;
    }
    o += h + "\n";
    line("planner", r.score, r.score.valid, r.score.problems);
    for (const auto& w : ws) line(w.label, w.score, w.valid, w.problems);
    return o;
}

// ---- JSON --------------------------------------------------------------------------------------------------

inline json::value to_json(const plan_score& s) {
    json::value o = json::value::object();
    o.set("objective_s", s.objective_s);
    o.set("valid", s.valid);
    json::value probs = json::value::array();
    for (const auto& p : s.problems) probs.push_back(p);
    o.set("problems", probs);
    json::value phases = json::value::array();
    for (const auto& ph : s.phases) {
        json::value p = json::value::object();
        p.set("name", ph.ph.name());
        p.set("kind", ph.ph.decode ? "decode" : "prompt");
        p.set("batch", std::int64_t(ph.ph.m));
        p.set("attended_keys", ph.ph.keys);
        p.set("seconds", ph.seconds);
        p.set("tokens_per_s", ph.tokens_per_s);
        json::value b = json::value::object();
        b.set("cpu_s", ph.breakdown.cpu_s);
        b.set("gpu_s", ph.breakdown.gpu_s);
        b.set("stream_s", ph.breakdown.stream_s);
        b.set("link_s", ph.breakdown.link_s);
        b.set("overhead_s", ph.breakdown.other_s);
        p.set("breakdown", b);
        json::value ls = json::value::array();
        for (double x : ph.layer_seconds) ls.push_back(x * 1e3);
        p.set("layer_ms", ls);
        p.set("head_ms", ph.head_seconds * 1e3);
        phases.push_back(p);
    }
    o.set("phases", phases);
    json::value devs = json::value::array();
    for (const auto& m : s.memory) {
        json::value d = json::value::object();
        d.set("name", m.name);
        d.set("description", m.description);
        d.set("capacity_bytes", std::uint64_t(m.capacity));
        d.set("used_bytes", std::uint64_t(m.used()));
        d.set("weights_bytes", std::uint64_t(m.weights));
        d.set("kv_cache_bytes", std::uint64_t(m.kv_cache));
        d.set("workspace_bytes", std::uint64_t(m.workspace));
        d.set("reserve_bytes", std::uint64_t(m.reserve));
        d.set("exceeded", m.exceeded());
        devs.push_back(d);
    }
    o.set("devices", devs);
    return o;
}

/// The placement of every tensor (per expert where split) and of each layer's attention / KV cache.
inline json::value to_json(const cost_model& cm, const plan& pl) {
    using namespace report_detail;
    const model_desc& m = cm.model();
    json::value o = json::value::object();
    o.set("label", pl.label);
    json::value attn = json::value::array();
    for (int l = 0; l < m.layers; ++l) {
        const int g = pl.attention_gpu[std::size_t(l)];
        attn.push_back(g < 0 ? std::string("CPU") : "CUDA" + std::to_string(g));
    }
    o.set("attention_device", attn);
    json::value ts = json::value::array();
    for (std::size_t i = 0; i < m.tensors.size(); ++i) {
        const tensor_desc& t = m.tensors[i];
        const tensor_placement& tp = pl.tensors[i];
        json::value j = json::value::object();
        j.set("name", t.name);
        j.set("layer", t.layer);
        j.set("role", role_name(t.role));
        j.set("type", std::string(traits_of(t.type).name));
        j.set("bytes", std::uint64_t(detail::plan_cost::tensor_bytes(t)));
        if (!tp.split()) {
            j.set("device", device_name(tp.where));
            j.set("layout", layout_name(tp.where));
        } else {
            j.set("device", "split");
            j.set("layout", "split");
            // Groups of experts sharing a placement, in expert order of first appearance.
            std::vector<std::pair<placement, std::vector<std::int64_t>>> groups;
            for (std::int64_t e = 0; e < t.experts; ++e) {
                const placement& p = tp.experts[std::size_t(e)];
                auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == p; });
                if (it == groups.end()) groups.push_back({p, {e}});
                else it->second.push_back(e);
            }
            json::value ex = json::value::array();
            for (const auto& [p, ids] : groups) {
                json::value g = json::value::object();
                g.set("device", device_name(p));
                g.set("layout", layout_name(p));
                g.set("bytes", std::uint64_t(cm.expert_bytes(t) * double(ids.size())));
                json::value idv = json::value::array();
                for (auto e : ids) idv.push_back(std::int64_t(e));
                g.set("experts", idv);
                ex.push_back(g);
            }
            j.set("experts", ex);
        }
        ts.push_back(j);
    }
    o.set("tensors", ts);
    return o;
}

inline json::value to_json(const llama_cpp_flags& f) {
    json::value o = json::value::object();
    o.set("ngl", f.ngl);
    json::value ot = json::value::array();
    for (const auto& r : f.overrides) ot.push_back(r.first + "=" + r.second);
    o.set("override_tensor", ot);
    o.set("command_line", f.command_line());
    o.set("exact", f.exact);
    json::value notes = json::value::array();
    for (const auto& n : f.notes) notes.push_back(n);
    o.set("notes", notes);
    return o;
}

/// The whole report (schema "amxmm-plan/1", docs/plan-json-schema.md).
inline json::value to_json(const cost_model& cm, const solve_result& r, const std::vector<whatif_result>& whatifs = {}) {
    const model_desc& m = cm.model();
    json::value o = json::value::object();
    o.set("schema", "amxmm-plan/1");
    json::value md = json::value::object();
    md.set("name", m.name);
    md.set("architecture", m.architecture);
    md.set("layers", m.layers);
    md.set("experts", m.experts);
    md.set("experts_used", m.experts_used);
    md.set("bytes", std::uint64_t(m.total_bytes()));
    o.set("model", md);
    o.set("hardware", to_json(cm.hardware()));
    json::value wl = json::value::object();
    json::value pb = json::value::array();
    for (auto b : cm.workload().prompt_batches) pb.push_back(std::int64_t(b));
    wl.set("prompt_batches", pb);
    wl.set("decode_batch", std::int64_t(cm.workload().decode_batch));
    wl.set("context", std::int64_t(cm.workload().context));
    wl.set("objective_prompt_tokens", cm.weights().prompt_tokens);
    wl.set("objective_decode_tokens", cm.weights().decode_tokens);
    o.set("workload", wl);
    o.set("calibrated", cm.calibrated());
    o.set("plan", to_json(cm, r.best));
    o.set("score", to_json(r.score));
    o.set("binding_constraint", r.binding);
    o.set("same_as", r.same_as);
    o.set("blocked_gain_s", r.blocked_gain_s);
    if (!r.next_best.tensors.empty()) {
        json::value nb = json::value::object();
        nb.set("label", r.next_best.label);
        nb.set("score", to_json(r.next_best_score));
        o.set("next_best", nb);
    }
    json::value alts = json::value::array();
    for (const auto& a : r.alternatives) {
        json::value j = json::value::object();
        j.set("label", a.label);
        j.set("objective_s", a.objective_s);
        j.set("fits", a.fits);
        alts.push_back(j);
    }
    o.set("alternatives", alts);
    o.set("llama_cpp", to_json(to_llama_flags(cm, r.best)));
    json::value wi = json::value::array();
    for (const auto& w : whatifs) {
        json::value j = json::value::object();
        j.set("label", w.label);
        j.set("valid", w.valid);
        json::value probs = json::value::array();
        for (const auto& p : w.problems) probs.push_back(p);
        j.set("problems", probs);
        j.set("score", to_json(w.score));
        wi.push_back(j);
    }
    o.set("whatif", wi);
    o.set("solve_seconds", r.solve_seconds);
    return o;
}

}  // namespace plan
AMXMM_NAMESPACE_END
