// The placement solver: the plan with the least predicted time for the workload (cost_model's
// objective) that fits every device's memory.
//
// Search, all deterministic (fixed orders, ties broken by index, no randomness):
//   1. Seeds — the plans llama.cpp's flags express: everything on the CPU (AMX-repacked, or file layout
//      so large batches stream to a GPU); -ngl k for every k (the last k layers on the GPUs, split in
//      proportion to their memory as llama.cpp's default tensor split does), with the CPU layers AMX-
//      repacked or in the file layout; all layers on the GPUs with the experts on the CPU
//      (-ot exps=CPU). Each is scored; those that fit are candidates.
//   2. Greedy — from everything on the CPU, moves of "units" to a GPU in order of predicted time saved
//      per GPU byte (a knapsack greedy with lazy re-evaluation, since a move changes its neighbours'
//      gains). Units: a layer's attention (its projections, norms, KV cache and attention compute), a
//      layer's dense FFN (with router and shared experts), one routed expert of a layer (its gate, up
//      and down matrices), all experts of a layer, a whole layer, and the output head.
//   3. Local improvement — every unit tries every other placement (cpu_amx, cpu_host, each GPU) and
//      keeps the best improving one that fits, pass after pass, from both the greedy result and the
//      best seed.
// The answer is the best of all of these, so it is never predicted slower than any plan of step 1.
//
// Memory is checked conservatively while searching (each GPU pays the workspace of the largest batch,
// the output logits and the staging of the largest streamed weight); the final score recomputes it
// exactly. By construction the solver never puts a cpu_amx (VNNI-packed) weight on a GPU, and
// cost_model never streams one: cpu_amx is computed on the CPU in every phase.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

#include "cost_model.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct solver_options {
    bool per_expert = true;          ///< move single experts (hot/cold splits); false: whole expert tensors only
    bool allow_cpu_host = true;      ///< consider the file layout on the CPU (streamable)
    int local_passes = 4;            ///< local-improvement passes at most
};

/// A plan the solver scored on the way, for the explanation ("the next best plan would cost ...").
struct alternative {
    std::string label;
    double objective_s = 0;
    bool fits = false;
};

struct solve_result {
    plan best;
    plan_score score;
    plan next_best;                      ///< best llama.cpp-expressible seed (step 1) that fits, other than `best`
    plan_score next_best_score;
    std::vector<alternative> alternatives;  ///< every seed, in the order tried
    std::string same_as;                 ///< label of a seed identical to `best` (e.g. "-ngl 49"), else empty
    std::string binding;                 ///< the binding constraint, one sentence
    double blocked_gain_s = 0;           ///< objective seconds a GPU with room for it would save (0: none blocked)
    double solve_seconds = 0;            ///< wall time of solve()
    std::int64_t evaluations = 0;        ///< moves scored
};


}  // namespace plan

namespace detail {
namespace plan_solver {

using plan::cost_model;
using plan::model_desc;
using plan::placement;
using plan::placement_kind;
using plan::solver_options;
using plan::tensor_desc;
using plan::tensor_placement;
using plan::tensor_role;
using plan_t = plan::plan;

enum class unit_kind { attention, ffn, expert, experts_all, layer_all, head };

struct unit {
    unit_kind kind;
    int layer = -1;
    std::int64_t expert = -1;
    std::vector<int> tensors;  // tensor indices it moves
    std::string describe(const model_desc& m) const {
        switch (kind) {
            case unit_kind::attention: return "blk." + std::to_string(layer) + " attention";
            case unit_kind::ffn: return "blk." + std::to_string(layer) + " FFN";
            case unit_kind::expert: return "blk." + std::to_string(layer) + " expert " + std::to_string(expert);
            case unit_kind::experts_all: return "blk." + std::to_string(layer) + " experts";
            case unit_kind::layer_all: return "blk." + std::to_string(layer);
            case unit_kind::head: return m.tensors.empty() ? "output" : "output head";
        }
        return "?";
    }
};

/// Option o: 0 = cpu_amx (file layout for tensors amxmm cannot repack), 1 = cpu_host, 2 + g = GPU g.
inline placement placement_for(const tensor_desc& t, int o) {
    if (o >= 2) return placement::on_gpu(o - 2);
    if (o == 0 && cost_model::amx_capable(t)) return placement::amx();
    return placement::host();
}

class search {
public:
    search(const cost_model& cm, const solver_options& opt) : cm_(cm), opt_(opt), m_(cm.model()) {
        L_ = m_.layers;
        G_ = cm.gpus();
        P_ = cm.phases().size();
        build_units();
        kv_ = detail::plan_cost::to_bytes(cm.kv_cache_bytes_per_layer());
        // Workspace + reserve saturate: a reserve of 2^64 - 1 leaves no room rather than wrapping to a lot.
        using detail::plan_sat_add;
        for (int g = 0; g < G_; ++g) {
            const auto& gd = cm.hardware().gpus[std::size_t(g)];
            const std::uint64_t ws = plan_sat_add(cm.workspace_bytes(1 + g, true, cm.largest_streamable_bytes()), cm.hardware().gpu_reserve_bytes);
            cap_.push_back(gd.memory_bytes > ws ? gd.memory_bytes - ws : 0);
        }
        host_cap_ = 0;
        if (cm.hardware().cpu.memory_bytes > 0) {
            const std::uint64_t ws = plan_sat_add(cm.workspace_bytes(0, true, 0), cm.hardware().cpu_reserve_bytes);
            host_cap_ = cm.hardware().cpu.memory_bytes > ws ? cm.hardware().cpu.memory_bytes - ws : 1;
        }
    }

    // ---- plans ----
    plan_t all_cpu(int o, std::string label) const {
        plan_t p;
        p.label = std::move(label);
        p.attention_gpu.assign(std::size_t(L_), -1);
        for (const auto& t : m_.tensors) p.tensors.push_back({placement_for(t, t.role == tensor_role::token_embedding ? 1 : o), {}});
        return p;
    }
    /// GPU of the j-th of n offloaded layers: contiguous ranges in proportion to GPU memory.
    int split_gpu(int j, int n) const { return plan::layer_split_gpu(cm_.hardware(), j, n); }
    /// llama.cpp -ngl k: the last min(k, L) layers on the GPUs, the output head too when k > L; CPU
    /// weights with option cpu_o. experts_o >= 0: every routed expert tensor at that option (-ot exps=...).
    plan_t ngl(int k, int cpu_o, int experts_o, std::string label) const {
        plan_t p = all_cpu(cpu_o, std::move(label));
        const int n = std::min(k, L_);
        if (G_ == 0 || k <= 0) return p;
        for (int j = 0; j < n; ++j) {
            const int l = L_ - n + j;
            const int g = split_gpu(j, n);
            p.attention_gpu[std::size_t(l)] = g;
            for (int i : cm_.layer_tensors(l)) p.tensors[std::size_t(i)].where = placement_for(m_.tensors[std::size_t(i)], 2 + g);
        }
        if (k > L_) {
            for (int i : cm_.layer_tensors(-1)) {
                const auto& t = m_.tensors[std::size_t(i)];
                if (t.role == tensor_role::token_embedding) continue;
                p.tensors[std::size_t(i)].where = placement_for(t, 2 + (n > 0 ? split_gpu(n - 1, n) : 0));
            }
        }
        if (experts_o >= 0)
            for (std::size_t i = 0; i < m_.tensors.size(); ++i)
                if (m_.tensors[i].is_expert()) p.tensors[i] = {placement_for(m_.tensors[i], experts_o), {}};
        return p;
    }

    // ---- state ----
    void load(const plan_t& p) {
        pl_ = p;
        lt_.assign(std::size_t(L_) * P_, 0.0);
        head_.assign(P_, 0.0);
        sums_.assign(P_, 0.0);
        for (std::size_t pi = 0; pi < P_; ++pi) {
            for (int l = 0; l < L_; ++l) sums_[pi] += lt_[std::size_t(l) * P_ + pi] = cm_.layer_seconds(pl_, l, pi);
            sums_[pi] += head_[pi] = cm_.head_seconds(pl_, pi);
        }
        obj_ = cm_.objective_from(sums_);
        used_.assign(std::size_t(1 + G_), 0);
        for (std::size_t i = 0; i < m_.tensors.size(); ++i) add_tensor_bytes(int(i), used_, +1);
        for (int l = 0; l < L_; ++l) used_[std::size_t(1 + pl_.attention_gpu[std::size_t(l)])] += kv_;
    }
    const plan_t& current() const { return pl_; }
    double objective() const { return obj_; }
    bool fits() const {
        for (int g = 0; g < G_; ++g)
            if (used_[std::size_t(1 + g)] > cap_[std::size_t(g)]) return false;
        return host_cap_ == 0 || used_[0] <= host_cap_;
    }
    std::int64_t evaluations() const { return evals_; }

    /// Scores moving unit u to option o: returns (objective after, feasible). Applies it when `apply`
    /// and it is feasible, else restores the state.
    std::pair<double, bool> try_move(const unit& u, int o, bool apply) {
        ++evals_;
        saved_.clear();
        for (int i : u.tensors) saved_.push_back(pl_.tensors[std::size_t(i)]);
        const int saved_attn = u.layer >= 0 ? pl_.attention_gpu[std::size_t(u.layer)] : 0;
        std::vector<std::uint64_t> before(used_);
        for (int i : u.tensors) add_tensor_bytes(i, used_, -1);
        if (touches_attention(u)) used_[std::size_t(1 + saved_attn)] -= kv_;
        set(u, o);
        for (int i : u.tensors) add_tensor_bytes(i, used_, +1);
        if (touches_attention(u)) used_[std::size_t(1 + pl_.attention_gpu[std::size_t(u.layer)])] += kv_;
        bool ok = true;
        for (int g = 0; g < G_; ++g) {
            const std::uint64_t now = used_[std::size_t(1 + g)];
            if (now > cap_[std::size_t(g)] && now > before[std::size_t(1 + g)]) ok = false;
        }
        if (host_cap_ && used_[0] > host_cap_ && used_[0] > before[0]) ok = false;
        // Re-time the affected layers (the unit's layer, the next one's input link) and the head.
        tmp_sums_ = sums_;
        changed_.clear();
        auto redo_layer = [&](int l) {
            for (std::size_t pi = 0; pi < P_; ++pi) {
                const double x = cm_.layer_seconds(pl_, l, pi);
                double& slot = lt_[std::size_t(l) * P_ + pi];
                changed_.push_back({l, pi, slot});
                tmp_sums_[pi] += x - slot;
                slot = x;
            }
        };
        if (u.layer >= 0) {
            redo_layer(u.layer);
            if (touches_attention(u) && u.layer + 1 < L_) redo_layer(u.layer + 1);
        }
        const bool redo_head = u.kind == unit_kind::head || (touches_attention(u) && u.layer == L_ - 1);
        std::vector<double> old_head;
        if (redo_head) {
            old_head = head_;
            for (std::size_t pi = 0; pi < P_; ++pi) {
                const double x = cm_.head_seconds(pl_, pi);
                tmp_sums_[pi] += x - head_[pi];
                head_[pi] = x;
            }
        }
        const double after = cm_.objective_from(tmp_sums_);
        if (apply && ok) {
            sums_ = tmp_sums_;
            obj_ = after;
            return {after, ok};
        }
        // restore
        for (auto it = changed_.rbegin(); it != changed_.rend(); ++it) lt_[std::size_t(std::get<0>(*it)) * P_ + std::get<1>(*it)] = std::get<2>(*it);
        if (redo_head) head_ = old_head;
        for (std::size_t j = 0; j < u.tensors.size(); ++j) pl_.tensors[std::size_t(u.tensors[j])] = saved_[j];
        if (u.layer >= 0) pl_.attention_gpu[std::size_t(u.layer)] = saved_attn;
        used_ = before;
        return {after, ok};
    }

    /// Bytes option o would add to GPU g's use (for the greedy's ratio), from the current state.
    double gpu_bytes_added(const unit& u, int g) const {
        double b = 0;
        for (int i : u.tensors) {
            const auto& t = m_.tensors[std::size_t(i)];
            const auto& tp = pl_.tensors[std::size_t(i)];
            const double eb = cm_.expert_bytes(t);
            if (u.kind == unit_kind::expert) {
                if (tp.of_expert(u.expert) != placement::on_gpu(g)) b += eb;
            } else if (tp.split()) {
                for (const auto& p : tp.experts)
                    if (p != placement::on_gpu(g)) b += eb;
            } else if (tp.where != placement::on_gpu(g)) {
                b += double(detail::plan_cost::tensor_bytes(t));
            }
        }
        if (touches_attention(u) && pl_.attention_gpu[std::size_t(u.layer)] != g) b += double(kv_);
        return b;
    }

    /// Units of step 2 and 3.
    const std::vector<unit>& units() const { return units_; }
    bool base_unit(const unit& u) const {
        return u.kind == unit_kind::attention || u.kind == unit_kind::ffn || u.kind == unit_kind::head ||
               (u.kind == unit_kind::expert) || (u.kind == unit_kind::experts_all && !opt_.per_expert);
    }
    /// Options a unit may take: 0 cpu_amx, 1 cpu_host, 2 + g.
    int options() const { return 2 + G_; }
    bool option_allowed(int o) const { return o != 1 || opt_.allow_cpu_host; }

    /// Greedy (step 2) from the current state.
    void greedy() {
        if (G_ == 0) return;
        using item = std::tuple<double, int, int>;  // ratio, -unit index (ties: lower index first), gpu
        std::priority_queue<item> heap;
        const double eps = 1e-12 * std::max(obj_, 1e-30);
        for (std::size_t ui = 0; ui < units_.size(); ++ui)
            for (int g = 0; g < G_; ++g) {
                const auto r = try_move(units_[ui], 2 + g, false);
                const double gain = obj_ - r.first;
                const double bytes = std::max(gpu_bytes_added(units_[ui], g), 1.0);
                if (gain > eps) heap.push({gain / bytes, -int(ui), g});
            }
        std::int64_t budget = std::int64_t(units_.size()) * std::max(G_, 1) * 8 + 1000;
        while (!heap.empty() && budget-- > 0) {
            const auto [ratio, nui, g] = heap.top();
            heap.pop();
            const unit& u = units_[std::size_t(-nui)];
            const double bytes = gpu_bytes_added(u, g);
            if (bytes <= 0) continue;  // already there
            const auto r = try_move(u, 2 + g, false);
            const double gain = obj_ - r.first;
            if (gain <= eps) continue;
            const double now = gain / std::max(bytes, 1.0);
            if (!heap.empty() && now < std::get<0>(heap.top()) * (1 - 1e-9)) {
                heap.push({now, nui, g});
                continue;
            }
            if (!r.second) continue;  // does not fit: dropped (smaller units may still fit)
            try_move(u, 2 + g, true);
        }
        (void)0;
    }

    /// Local improvement (step 3) from the current state.
    void improve() {
        const double eps_rel = 1e-12;
        for (int pass = 0; pass < opt_.local_passes; ++pass) {
            bool changed = false;
            for (const unit& u : units_) {
                if (!base_unit(u)) continue;
                int best_o = -1;
                double best = obj_ * (1 - eps_rel);
                for (int o = 0; o < options(); ++o) {
                    if (!option_allowed(o) || is_at(u, o)) continue;
                    const auto r = try_move(u, o, false);
                    if (r.second && r.first < best) best = r.first, best_o = o;
                }
                if (best_o >= 0) {
                    try_move(u, best_o, true);
                    changed = true;
                }
            }
            if (!changed) break;
        }
    }

    /// Objective seconds the best GPU move blocked only by memory would save, and which.
    std::pair<double, std::string> blocked() {
        double best_gain = 0;
        std::string what;
        const auto saved_cap = cap_;
        const auto saved_host = host_cap_;
        for (std::size_t ui = 0; ui < units_.size(); ++ui) {
            const unit& u = units_[ui];
            if (!base_unit(u) && u.kind != unit_kind::experts_all && u.kind != unit_kind::layer_all) continue;
            for (int g = 0; g < G_; ++g) {
                if (gpu_bytes_added(u, g) <= 0) continue;
                const auto r = try_move(u, 2 + g, false);
                if (r.second) continue;  // it fits: not blocked (local improvement found it not worth it)
                const double gain = obj_ - r.first;
                if (gain > best_gain * (1 + 1e-9) + 1e-15) best_gain = gain, what = u.describe(m_) + " -> CUDA" + std::to_string(g);
            }
        }
        cap_ = saved_cap;
        host_cap_ = saved_host;
        return {best_gain, what};
    }
    std::uint64_t gpu_capacity_for_weights(int g) const { return cap_[std::size_t(g)]; }
    std::uint64_t used(int d) const { return used_[std::size_t(d)]; }

private:
    static bool touches_attention(const unit& u) { return u.kind == unit_kind::attention || u.kind == unit_kind::layer_all; }

    bool is_at(const unit& u, int o) const {
        if (touches_attention(u) && pl_.attention_gpu[std::size_t(u.layer)] != (o >= 2 ? o - 2 : -1)) return false;
        for (int i : u.tensors) {
            const auto& t = m_.tensors[std::size_t(i)];
            const placement want = placement_for(t, o);
            const auto& tp = pl_.tensors[std::size_t(i)];
            if (u.kind == unit_kind::expert) {
                if (tp.of_expert(u.expert) != want) return false;
            } else if (tp.split() || tp.where != want) {
                return false;
            }
        }
        return true;
    }

    void set(const unit& u, int o) {
        if (touches_attention(u)) pl_.attention_gpu[std::size_t(u.layer)] = o >= 2 ? o - 2 : -1;
        for (int i : u.tensors) {
            const auto& t = m_.tensors[std::size_t(i)];
            auto& tp = pl_.tensors[std::size_t(i)];
            const placement want = placement_for(t, o);
            if (u.kind == unit_kind::expert) {
                if (!tp.split()) tp.experts.assign(std::size_t(t.experts), tp.where);
                tp.experts[std::size_t(u.expert)] = want;
                // Collapse back to one placement when every expert agrees (keeps plans small and regular).
                bool same = true;
                for (const auto& p : tp.experts) same = same && p == tp.experts.front();
                if (same) {
                    tp.where = tp.experts.front();
                    tp.experts.clear();
                }
            } else {
                tp.where = want;
                tp.experts.clear();
            }
        }
    }

    void add_tensor_bytes(int i, std::vector<std::uint64_t>& used, int sign) const {
        const auto& t = m_.tensors[std::size_t(i)];
        const auto& tp = pl_.tensors[std::size_t(i)];
        auto dev = [](const placement& p) { return p.kind == placement_kind::gpu ? 1 + p.gpu : 0; };
        if (tp.split()) {
            const std::uint64_t eb = std::uint64_t(cm_.expert_bytes(t));
            for (const auto& p : tp.experts) used[std::size_t(dev(p))] += sign > 0 ? eb : std::uint64_t(0) - eb;
        } else {
            const std::uint64_t b = detail::plan_cost::tensor_bytes(t);
            used[std::size_t(dev(tp.where))] += sign > 0 ? b : std::uint64_t(0) - b;
        }
    }

    void build_units() {
        for (int l = 0; l < L_; ++l) {
            unit attn{unit_kind::attention, l, -1, {}}, ffn{unit_kind::ffn, l, -1, {}}, exps{unit_kind::experts_all, l, -1, {}};
            for (int i : cm_.layer_tensors(l)) {
                const auto& t = m_.tensors[std::size_t(i)];
                if (t.is_expert())
                    exps.tensors.push_back(i);
                else if (detail::plan_cost::is_ffn_dense_role(t.role))
                    ffn.tensors.push_back(i);
                else
                    attn.tensors.push_back(i);  // attention projections, norms, anything else of the layer
            }
            units_.push_back(attn);
            if (!ffn.tensors.empty()) units_.push_back(ffn);
            if (!exps.tensors.empty()) {
                units_.push_back(exps);
                if (opt_.per_expert) {
                    const std::int64_t e_count = m_.tensors[std::size_t(exps.tensors.front())].experts;
                    for (std::int64_t e = 0; e < e_count; ++e) units_.push_back({unit_kind::expert, l, e, exps.tensors});
                }
            }
            unit all{unit_kind::layer_all, l, -1, attn.tensors};
            all.tensors.insert(all.tensors.end(), ffn.tensors.begin(), ffn.tensors.end());
            all.tensors.insert(all.tensors.end(), exps.tensors.begin(), exps.tensors.end());
            units_.push_back(all);
        }
        unit head{unit_kind::head, -1, -1, {}};
        for (int i : cm_.layer_tensors(-1)) {
            const auto& t = m_.tensors[std::size_t(i)];
            if (t.role == tensor_role::token_embedding && i != cm_.head_tensor()) continue;  // stays in host memory
            head.tensors.push_back(i);
        }
        if (!head.tensors.empty()) units_.push_back(head);
    }

    const cost_model& cm_;
    solver_options opt_;
    const model_desc& m_;
    int L_ = 0, G_ = 0;
    std::size_t P_ = 0;
    std::vector<unit> units_;
    std::uint64_t kv_ = 0;
    std::vector<std::uint64_t> cap_;
    std::uint64_t host_cap_ = 0;
    plan_t pl_;
    std::vector<double> lt_, head_, sums_, tmp_sums_;
    double obj_ = 0;
    std::vector<std::uint64_t> used_;
    std::vector<tensor_placement> saved_;
    std::vector<std::tuple<int, std::size_t, double>> changed_;
    std::int64_t evals_ = 0;
};

}  // namespace plan_solver
}  // namespace detail

namespace plan {

/// Plans the model on the machine for the workload (all in `cm`). Deterministic: the same inputs give
/// the same plan, bit for bit. Throws invalid_argument when a GPU's memory_bytes is 0 (unknown): the
/// solver cannot decide what fits on it (give the size, or leave the GPU out with gpu_count).
/// When no plan fits, the result is the least bad one (score.valid false) and `binding` names the
/// device whose memory is exceeded.
inline solve_result solve(const cost_model& cm, const solver_options& opt = {}) {
    using namespace detail::plan_solver;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t g = 0; g < cm.hardware().gpus.size(); ++g)
        amxmm::detail::require(cm.hardware().gpus[g].memory_bytes > 0, errc::invalid_argument, "plan::solve", "hardware.gpus[", g,
                               "] ('", cm.hardware().gpus[g].name, "') has memory_bytes = 0 (unknown); the planner needs it to "
                               "place weights there (set it, e.g. \"memory_bytes\": \"24GiB\" or amxmm-plan --gpu-mem 24GiB, or leave "
                               "the GPU out with \"gpu_count\")");
    search s(cm, opt);
    const int L = cm.model().layers, G = cm.gpus();
    solve_result res;

    struct cand {
        plan p;
        double obj;
        bool fits;
    };
    std::vector<cand> seeds;
    auto add_seed = [&](plan p) {
        s.load(p);
        seeds.push_back({std::move(p), s.objective(), s.fits()});
        res.alternatives.push_back({seeds.back().p.label, seeds.back().obj, seeds.back().fits});
    };
    add_seed(s.all_cpu(0, "all CPU (AMX)"));
    if (opt.allow_cpu_host) add_seed(s.all_cpu(1, "all CPU (file layout)"));
    if (G > 0) {
        for (int k = 1; k <= L + 1; ++k) {
            add_seed(s.ngl(k, 0, -1, "-ngl " + std::to_string(k)));
            if (opt.allow_cpu_host) add_seed(s.ngl(k, 1, -1, "-ngl " + std::to_string(k) + " (CPU layers in file layout)"));
        }
        add_seed(s.ngl(L + 1, 0, 0, "-ngl " + std::to_string(L + 1) + " -ot exps=AMX"));
        if (opt.allow_cpu_host) add_seed(s.ngl(L + 1, 0, 1, "-ngl " + std::to_string(L + 1) + " -ot exps=CPU"));
    }
    // Best seed that fits (or the least bad, when none does).
    std::size_t best_seed = 0;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        const auto& a = seeds[i];
        const auto& b = seeds[best_seed];
        if ((a.fits && !b.fits) || (a.fits == b.fits && a.obj < b.obj)) best_seed = i;
    }

    // Greedy from the best all-CPU seed, then local improvement; local improvement of the best seed.
    std::vector<cand> finals;
    {
        std::size_t cpu_seed = 0;
        if (seeds.size() > 1 && opt.allow_cpu_host && seeds[1].fits && seeds[1].obj < seeds[0].obj) cpu_seed = 1;
        s.load(seeds[cpu_seed].p);
        s.greedy();
        s.improve();
        finals.push_back({s.current(), s.objective(), s.fits()});
    }
    s.load(seeds[best_seed].p);
    s.improve();
    finals.push_back({s.current(), s.objective(), s.fits()});
    finals.push_back(seeds[best_seed]);

    std::size_t pick = 0;
    for (std::size_t i = 1; i < finals.size(); ++i) {
        const auto& a = finals[i];
        const auto& b = finals[pick];
        if ((a.fits && !b.fits) || (a.fits == b.fits && a.obj < b.obj)) pick = i;
    }
    res.best = finals[pick].p;
    res.best.label = "planner";
    res.score = cm.score(res.best);

    // Next best: the best seed that fits and differs from the plan.
    int nb = -1;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        if (same_placement(seeds[i].p, res.best)) {
            if (res.same_as.empty()) res.same_as = seeds[i].p.label;
            continue;
        }
        if (!seeds[i].fits) continue;
        if (nb < 0 || seeds[i].obj < seeds[std::size_t(nb)].obj) nb = int(i);
    }
    if (nb >= 0) {
        res.next_best = seeds[std::size_t(nb)].p;
        res.next_best_score = cm.score(res.next_best);
    }

    // Binding constraint.
    s.load(res.best);
    const auto blk = G > 0 ? s.blocked() : std::pair<double, std::string>{0.0, ""};
    res.blocked_gain_s = blk.first;
    std::string exceeded;  // no plan fits: the devices whose memory the least bad one exceeds
    for (const auto& m : res.score.memory)
        if (m.exceeded())
            exceeded += (exceeded.empty() ? "" : ", ") + m.name + " (needs " + format_size(m.used()) + ", has " +
                        format_size(m.capacity) + ")";
    if (!res.score.valid) {
        res.binding = exceeded.empty() ? "no valid plan: " + (res.score.problems.empty() ? std::string("?") : res.score.problems.front())
                                       : "memory: no plan fits; the least bad one exceeds " + exceeded;
    } else if (G == 0) {
        res.binding = "no GPU: every weight is computed on the CPU";
    } else if (blk.first > 0) {
        std::string full;
        for (const auto& m : res.score.memory)
            if (m.name != "CPU" && m.capacity > 0 && double(m.used()) > 0.9 * double(m.capacity))
                full += (full.empty() ? "" : ", ") + m.name;
        res.binding = "GPU memory" + (full.empty() ? std::string() : " (" + full + " nearly full)") + ": moving " + blk.second +
                      " would save " + std::to_string(blk.first * 1e3) + " ms of the objective job but does not fit";
    } else {
        res.binding = "no memory limit binds: every unit that is predicted faster on a GPU is on one";
    }
    res.evaluations = s.evaluations();
    res.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace plan
AMXMM_NAMESPACE_END
