// amxmm_bench_moe: MoE expert GEMM (moe_gemm, the gate projection) and fused expert FFN (moe_ffn).
//
// Benchmarks are named  <op>/<layer>/<routing>/<mode>/<isa>/M<M>/<cold|hot>  for
//   op       moe_ffn (gate + up + SiLU + down + weighted sum over slots; gate and up packed together,
//            pack_q4_0_vnni_gate_up), moe_ffn_separate (the same with separate gate and up weights;
//            Qwen3, uniform, M >= 512 only), moe_gemm (gate only, MUL_MAT_ID)
//   layer    qwen3_30b_a3b  E=128, top-8, K=2048, F=768     M in 1, 4, 16, 64, 512, 2048
//            deepseek_v3    E=256, top-8, K=7168, F=2048    M in 1, 16, 512
//            mixtral_8x7b   E=8,   top-2, K=4096, F=14336   M in 1, 16, 512
//   routing  uniform (each token's top_k distinct experts uniformly at random) or
//            zipf (expert ranks drawn with P(r) ∝ r^-1.2, distinct per token; ranks randomly mapped to ids)
//   mode     auto (the plan moe_* picks; the label says which), and for M >= 64 also the other of exact/fast
//   isa      the default back end (AMXMM_BENCH_ISAS overrides: a list; unsupported ones are skipped)
//   cold     M <= 16: a ring of weight copies; each call uses the next copy, and the copies' ACTIVE
//            experts total >= 4 × LLC, so every call streams its experts from DRAM. Only the experts the
//            routing uses are materialised in each copy (sparse, MAP_NORESERVE), so the ring costs about
//            4 × LLC of memory whatever the layer size. hot: M >= 64, the one packed layer.
// Routing is fixed per benchmark (seeded by layer, M, routing). Expert weights are random Q4_0 blocks
// (random nibbles, fp16 scales in [0.001, 0.01)), distinct per expert. Memory (packed layer + ring) is
// capped at 60% of physical RAM (or the cgroup limit); a benchmark that cannot fit is skipped with a message.
//
// Counters (from the benchmark's own time):
//   flops               moe_ffn: 2·M·top_k·3·K·F per second;  moe_gemm: 2·M·top_k·K·F per second
//   tokens_per_second   M per second
//   bytes_per_second    the active experts' packed weight bytes (distinct experts × bytes per expert;
//                       moe_ffn: gate + up + down, moe_gemm: gate) per second
//   active_experts      distinct experts the routing uses
//   pct_of_probe        cold (M <= 16): bytes_per_second vs the DRAM read probe; else flops vs the AMX bf16
//                       (fast) / int8 (exact) probe, or the AVX-512 VNNI probe on avx512_vnni (label ref=...)
//   pct_dram            cold runs: bytes_per_second as % of the DRAM read probe
//   qwen3_expert_stack_tokens_per_s  moe_ffn on qwen3_30b_a3b only: M / (48 × time per call), the prompt
//                       speed 48 such layers' expert FFNs alone would allow
//
//   amxmm_bench_moe --benchmark_filter='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/.*/M(1|512)/'
//                   --benchmark_out=moe.json --benchmark_out_format=json
#include "bench_common.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <exception>
#include <fstream>
#include <functional>

namespace {

using namespace amxmm_bench;

// ---- layers and routing ---------------------------------------------------------------------------------

struct moe_layer {
    std::string name;
    std::int64_t experts = 0, top_k = 0, k = 0, f = 0;
    std::vector<std::int64_t> ms;
};

std::vector<moe_layer> moe_layers() {
    return {
        {"qwen3_30b_a3b", 128, 8, 2048, 768, {1, 4, 16, 64, 512, 2048}},
        {"deepseek_v3", 256, 8, 7168, 2048, {1, 16, 512}},
        {"mixtral_8x7b", 8, 2, 4096, 14336, {1, 16, 512}},
    };
}

enum class routing_kind { uniform, zipf };
const char* to_string(routing_kind r) { return r == routing_kind::uniform ? "uniform" : "zipf"; }

/// A fixed routing: ids [M][top_k] (distinct per token), weights [M][top_k] (normalised per token).
struct routing_data {
    std::int64_t m = 0, top_k = 0;
    std::vector<std::int32_t> ids;
    std::vector<float> weights;
    std::vector<std::int32_t> active;  ///< the distinct experts used, ascending
    std::int64_t max_rows = 0;         ///< rows of the busiest expert
    amxmm::moe_routing view() const { return {m, top_k, ids.data(), top_k}; }
};

routing_data make_routing(const moe_layer& L, std::int64_t m, routing_kind kind) {
    routing_data r;
    r.m = m;
    r.top_k = L.top_k;
    r.ids.resize(static_cast<std::size_t>(m * L.top_k));
    r.weights.resize(r.ids.size());
    std::mt19937_64 rng(0x5EED0000u + static_cast<std::uint64_t>(m) * 7919u + (kind == routing_kind::zipf ? 1u : 0u) +
                        static_cast<std::uint64_t>(L.experts) * 104729u);
    // Zipf: rank r (0-based) has weight (r + 1)^-1.2; ranks are mapped to experts by a fixed permutation.
    std::vector<double> p(static_cast<std::size_t>(L.experts));
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = kind == routing_kind::zipf ? std::pow(double(i + 1), -1.2) : 1.0;
    std::discrete_distribution<int> pick(p.begin(), p.end());
    std::vector<std::int32_t> perm(static_cast<std::size_t>(L.experts));
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::int32_t>(i);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::uniform_real_distribution<float> u(0.05f, 1.0f);
    std::vector<std::int64_t> rows(static_cast<std::size_t>(L.experts), 0);
    for (std::int64_t t = 0; t < m; ++t) {
        std::int32_t* ids = r.ids.data() + t * L.top_k;
        float* w = r.weights.data() + t * L.top_k;
        float sum = 0;
        for (std::int64_t s = 0; s < L.top_k; ++s) {
            std::int32_t e;
            do e = perm[static_cast<std::size_t>(pick(rng))];
            while (std::find(ids, ids + s, e) != ids + s);
            ids[s] = e;
            ++rows[static_cast<std::size_t>(e)];
            w[s] = u(rng);
            sum += w[s];
        }
        for (std::int64_t s = 0; s < L.top_k; ++s) w[s] /= sum;
    }
    for (std::size_t e = 0; e < rows.size(); ++e) {
        if (rows[e] > 0) r.active.push_back(static_cast<std::int32_t>(e));
        r.max_rows = std::max(r.max_rows, rows[e]);
    }
    return r;
}

// ---- memory ----------------------------------------------------------------------------------------------

constexpr std::size_t huge_page = std::size_t(2) << 20;

/// 60% of physical memory, or of the cgroup (v2 / v1) limit when that is smaller.
std::size_t memory_budget() {
    static const std::size_t budget = [] {
        double phys = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
        for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
            std::ifstream in(path);
            double v = 0;
            if (in >> v && v > 0 && v < phys) phys = v;
        }
        return static_cast<std::size_t>(0.6 * phys);
    }();
    return budget;
}

std::string mib(double bytes) { return fmt("%.0fMiB", bytes / 1048576.0); }

/// Anonymous memory that is only backed where written (MAP_NORESERVE; transparent huge pages requested).
class sparse_buffer {
public:
    sparse_buffer() = default;
    explicit sparse_buffer(std::size_t bytes) : bytes_(bytes) {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        data_ = static_cast<std::byte*>(p);
    }
    sparse_buffer(const sparse_buffer&) = delete;
    sparse_buffer& operator=(const sparse_buffer&) = delete;
    ~sparse_buffer() {
        if (data_) munmap(data_, bytes_);
    }
    std::byte* data() const noexcept { return data_; }

private:
    std::byte* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// ---- packed experts ------------------------------------------------------------------------------------------

/// E packed experts of one shape (N rows of K) in one big_buffer, expert e at e · stride.
struct expert_matrix {
    amxmm::q4_0_vnni_layout layout{};
    std::int64_t experts = 0, stride = 0;
    big_buffer buf;
    std::size_t expert_bytes() const noexcept { return static_cast<std::size_t>(layout.total_bytes()); }
    std::size_t total_bytes() const noexcept { return static_cast<std::size_t>(stride * experts); }
    amxmm::packed_q4_0_vnni_experts_view view() const { return {experts, layout, stride, buf.data()}; }
};

/// Random experts (distinct per expert), packed a batch at a time to bound the unpacked copy's size.
expert_matrix make_experts(std::int64_t experts, std::int64_t n, std::int64_t k, std::uint64_t seed) {
    expert_matrix out;
    out.layout.n = n;
    out.layout.k = k;
    out.experts = experts;
    out.stride = out.layout.total_bytes();
    out.buf = big_buffer(out.total_bytes());
    const std::int64_t blocks_per_expert = n * (k / amxmm::block_k);
    const std::int64_t batch = std::max<std::int64_t>(1, std::min<std::int64_t>(experts, (std::int64_t(256) << 20) /
                                                                                            (blocks_per_expert * 18)));
    std::vector<amxmm::block_q4_0> blocks(static_cast<std::size_t>(batch * blocks_per_expert));
    constexpr std::int64_t chunk = 1 << 16;  // blocks filled by one task (its own seed)
    for (std::int64_t e0 = 0; e0 < experts; e0 += batch) {
        const std::int64_t count = std::min(batch, experts - e0);
        const std::int64_t total = count * blocks_per_expert, chunks = (total + chunk - 1) / chunk;
        executor().parallel_for(chunks, [&](std::int64_t c) {
            std::mt19937_64 rng(seed ^ (static_cast<std::uint64_t>(e0 * blocks_per_expert + c * chunk) * 0x9E3779B97F4A7C15ull));
            std::uniform_real_distribution<float> scale(0.001f, 0.01f);
            for (std::int64_t i = c * chunk; i < std::min(total, (c + 1) * chunk); ++i) {
                amxmm::block_q4_0& b = blocks[static_cast<std::size_t>(i)];
                b.d = amxmm::fp32_to_fp16(scale(rng));
                const std::uint64_t lo = rng(), hi = rng();
                std::memcpy(b.qs, &lo, 8);
                std::memcpy(b.qs + 8, &hi, 8);
            }
        });
        const amxmm::packed_q4_0_vnni_experts p = amxmm::pack_q4_0_vnni_experts(blocks.data(), count, n, k, executor());
        if (p.expert_stride() != out.stride) throw std::runtime_error("pack_q4_0_vnni_experts: unexpected expert stride");
        parallel_copy(out.buf.data() + e0 * out.stride, p.data(), static_cast<std::size_t>(count * out.stride));
    }
    return out;
}

/// One layer's gate, up (F × K) and down (K × F) experts, and gate + up packed together (2F × K,
/// panels alternating: pack_q4_0_vnni_gate_up's layout; random like the others).
struct layer_weights {
    std::string name;
    expert_matrix gate, up, down, gate_up;
    std::size_t total_bytes() const {
        return gate.total_bytes() + up.total_bytes() + down.total_bytes() + gate_up.total_bytes();
    }
};

/// Bytes the packed layer will take (before building it).
std::size_t layer_bytes(const moe_layer& L) {
    amxmm::q4_0_vnni_layout a, b;
    a.n = L.f;
    a.k = L.k;
    b.n = L.k;
    b.k = L.f;
    return static_cast<std::size_t>(L.experts * (4 * a.total_bytes() + b.total_bytes()));
}

/// The packed layer of L (only one layer is kept alive; benchmarks are registered layer by layer).
layer_weights& weights_for(const moe_layer& L) {
    static std::unique_ptr<layer_weights> w;
    if (!w || w->name != L.name) {
        w.reset();
        const auto t0 = std::chrono::steady_clock::now();
        auto nw = std::make_unique<layer_weights>();
        nw->name = L.name;
        nw->gate = make_experts(L.experts, L.f, L.k, 0x6A7E0000ull + std::hash<std::string>{}(L.name));
        nw->up = make_experts(L.experts, L.f, L.k, 0x0B000000ull + std::hash<std::string>{}(L.name));
        nw->down = make_experts(L.experts, L.k, L.f, 0xD0770000ull + std::hash<std::string>{}(L.name));
        nw->gate_up = make_experts(L.experts, 2 * L.f, L.k, 0x6A7E0B00ull + std::hash<std::string>{}(L.name));
        w = std::move(nw);
        std::fprintf(stderr, "amxmm bench: %s: packed %lld experts, %s, in %.1f s\n", L.name.c_str(),
                     static_cast<long long>(L.experts), mib(double(w->total_bytes())).c_str(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return *w;
}

/// Cold copies of some of a layer's matrices: copy c of matrix j is a view into its own sparse
/// buffer in which only the routing's active experts are written (from the packed layer).
class cold_ring {
public:
    cold_ring(const std::vector<const expert_matrix*>& mats, const std::vector<std::int32_t>& active,
              std::size_t copies)
        : copies_(copies) {
        for (const expert_matrix* m : mats) {
            auto buf = std::make_unique<sparse_buffer>(copies * m->total_bytes());
            std::byte* base = buf->data();
            const std::int64_t slots = static_cast<std::int64_t>(copies * active.size());
            executor().parallel_for(slots, [&](std::int64_t i) {
                const std::size_t c = static_cast<std::size_t>(i) / active.size();
                const std::int64_t e = active[static_cast<std::size_t>(i) % active.size()];
                std::memcpy(base + c * m->total_bytes() + static_cast<std::size_t>(e * m->stride),
                            m->buf.data() + e * m->stride, m->expert_bytes());
            });
            std::vector<amxmm::packed_q4_0_vnni_experts_view> views;
            for (std::size_t c = 0; c < copies; ++c) views.push_back({m->experts, m->layout, m->stride, base + c * m->total_bytes()});
            views_.push_back(std::move(views));
            bufs_.push_back(std::move(buf));
        }
    }
    std::size_t copies() const noexcept { return copies_; }
    const amxmm::packed_q4_0_vnni_experts_view& view(std::size_t matrix, std::size_t copy) const {
        return views_[matrix][copy];
    }

    /// Physical bytes a ring would take: every active expert slot rounded up to whole huge pages.
    static std::size_t estimate(const std::vector<const expert_matrix*>& mats, std::size_t active, std::size_t copies) {
        std::size_t per_copy = 0;
        for (const expert_matrix* m : mats) per_copy += active * ((m->expert_bytes() + 2 * huge_page - 1) / huge_page * huge_page);
        return copies * per_copy;
    }

private:
    std::size_t copies_;
    std::vector<std::unique_ptr<sparse_buffer>> bufs_;
    std::vector<std::vector<amxmm::packed_q4_0_vnni_experts_view>> views_;
};

/// The one live cold ring (released before the next is built).
std::unique_ptr<cold_ring>& ring_slot() {
    static std::unique_ptr<cold_ring> r;
    return r;
}

// ---- the benchmark --------------------------------------------------------------------------------------------

/// ffn: moe_ffn with gate and up packed together (the fast way); ffn_separate: with separate gate and
/// up weights (for the comparison); gemm: moe_gemm on the gate weights.
enum class op { ffn, ffn_separate, gemm };

struct moe_case {
    op what = op::ffn;
    moe_layer layer;
    routing_kind routing = routing_kind::uniform;
    std::int64_t m = 1;
    amxmm::compute_mode mode = amxmm::compute_mode::automatic;
    amxmm::isa backend = amxmm::isa::scalar;
    bool cold = false;
    std::string name;
};

void bm_moe(benchmark::State& st, moe_case c) {
    if (const std::string why = amxmm::isa_unsupported_reason(c.backend); !why.empty()) {
        st.SkipWithError((std::string(amxmm::to_string(c.backend)) + " unavailable: " + why).c_str());
        return;
    }
    try {
        const moe_layer& L = c.layer;
        ring_slot().reset();  // free the previous benchmark's ring first
        const std::size_t budget = memory_budget();
        if (layer_bytes(L) > budget) {
            const std::string msg = "layer " + L.name + " needs " + mib(double(layer_bytes(L))) + ", over the memory cap " +
                                    mib(double(budget)) + " (60% of RAM)";
            std::fprintf(stderr, "amxmm bench: %s: skipped: %s\n", c.name.c_str(), msg.c_str());
            st.SkipWithError(msg.c_str());
            return;
        }
        layer_weights& W = weights_for(L);
        const routing_data R = make_routing(L, c.m, c.routing);
        const amxmm::moe_routing routing = R.view();

        std::vector<const expert_matrix*> mats;
        if (c.what == op::ffn) mats = {&W.gate_up, &W.down};
        else if (c.what == op::ffn_separate) mats = {&W.gate, &W.up, &W.down};
        else mats = {&W.gate};
        std::size_t bytes_per_expert = 0;
        for (const expert_matrix* m : mats) bytes_per_expert += m->expert_bytes();
        const double active_bytes = double(R.active.size()) * double(bytes_per_expert);

        std::size_t copies = 1;
        if (c.cold) {
            const double llc = double(std::max<std::size_t>(limits().cache.total_bytes, std::size_t(1) << 20));
            copies = std::max<std::size_t>(2, static_cast<std::size_t>(std::ceil(4.0 * llc / active_bytes)));
            const std::size_t need = cold_ring::estimate(mats, R.active.size(), copies);
            if (W.total_bytes() + need > budget) {
                const std::string msg = "cold ring of " + std::to_string(copies) + " copies needs " + mib(double(need)) +
                                        " + layer " + mib(double(W.total_bytes())) + ", over the memory cap " +
                                        mib(double(budget)) + " (60% of RAM)";
                std::fprintf(stderr, "amxmm bench: %s: skipped: %s\n", c.name.c_str(), msg.c_str());
                st.SkipWithError(msg.c_str());
                return;
            }
            ring_slot() = std::make_unique<cold_ring>(mats, R.active, copies);
        }
        const cold_ring* ring = ring_slot().get();
        const auto view = [&](std::size_t matrix, std::size_t copy) {
            return ring ? ring->view(matrix, copy) : mats[matrix]->view();
        };

        const std::int64_t m = c.m, k = L.k, f = L.f, top_k = L.top_k;
        const float* x = activations(static_cast<std::size_t>(m * k));
        amxmm::moe_ffn_options opt;
        opt.mode = c.mode;
        opt.force_isa = c.backend;
        amxmm::tbb_executor& ex = executor();

        float* y = nullptr;
        std::function<amxmm::gemm_plan(std::size_t)> call;
        if (c.what == op::ffn) {
            y = outputs(static_cast<std::size_t>(m * k));
            call = [&](std::size_t copy) {
                return amxmm::moe_ffn(amxmm::packed_q4_0_vnni_gate_up_view{view(0, copy)}, view(1, copy), routing,
                                      R.weights.data(), top_k, x, k, y, k, opt, ex);
            };
        } else if (c.what == op::ffn_separate) {
            y = outputs(static_cast<std::size_t>(m * k));
            call = [&](std::size_t copy) {
                return amxmm::moe_ffn(view(0, copy), view(1, copy), view(2, copy), routing, R.weights.data(), top_k, x, k,
                                      y, k, opt, ex);
            };
        } else {
            y = outputs(static_cast<std::size_t>(m * top_k * f));
            const amxmm::gemm_options& gopt = opt;
            call = [&, gopt](std::size_t copy) {
                return amxmm::moe_gemm(view(0, copy), routing, x, amxmm::moe_input_rows::per_token, k, 0, y, top_k * f, f,
                                       gopt, ex);
            };
        }

        const amxmm::gemm_plan plan = call(0);  // warm-up; throws on bad arguments
        std::size_t next = copies > 1 ? 1 : 0;
        loop_timer timer;
        timer.start();
        for (auto _ : st) {
            call(next);
            benchmark::DoNotOptimize(y);
            benchmark::ClobberMemory();
            if (++next == copies) next = 0;
        }
        const double seconds = timer.stop(st);

        const bool ffn = c.what != op::gemm;
        const double flops = 2.0 * double(m) * double(top_k) * double(k) * double(f) * (ffn ? 3.0 : 1.0);
        st.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
        st.counters["tokens_per_second"] = benchmark::Counter(double(m), benchmark::Counter::kIsIterationInvariantRate);
        st.counters["active_experts"] = double(R.active.size());
        st.SetBytesProcessed(static_cast<std::int64_t>(active_bytes * double(st.iterations())));
        const reference ref = gemm_reference(plan.mode, plan.backend, m, c.cold);
        if (const double rate = reference_rate(ref); rate > 0 && seconds > 0)
            st.counters["pct_of_probe"] = 100.0 * (ref == reference::dram ? active_bytes : flops) / seconds / rate;
        if (const double dram = reference_rate(reference::dram); c.cold && dram > 0 && seconds > 0)
            st.counters["pct_dram"] = 100.0 * active_bytes / seconds / dram;
        if (ffn && L.name == "qwen3_30b_a3b" && seconds > 0)
            st.counters["qwen3_expert_stack_tokens_per_s"] = double(m) / (48.0 * seconds);

        char buf[192];
        std::snprintf(buf, sizeof buf, "ref=%s plan=%s/%s experts=%zu/%lld max_rows=%lld", to_string(ref),
                      amxmm::to_string(plan.backend), amxmm::to_string(plan.mode), R.active.size(),
                      static_cast<long long>(L.experts), static_cast<long long>(R.max_rows));
        std::string label = buf;
        if (ring) label += " ring=" + std::to_string(ring->copies()) + "x" + mib(active_bytes);
        st.SetLabel(label);
    } catch (const std::exception& e) {
        ring_slot().reset();
        st.SkipWithError(e.what());
    }
}

/// The back ends to run: AMXMM_BENCH_ISAS when set, else the default one.
std::vector<amxmm::isa> moe_isas() {
    const char* v = std::getenv("AMXMM_BENCH_ISAS");
    if (v && *v) return bench_isas();
    return {amxmm::default_isa().chosen};
}

void register_all() {
    const std::vector<amxmm::isa> isas = moe_isas();
    for (const moe_layer& L : moe_layers())
        for (op what : {op::ffn, op::ffn_separate, op::gemm})
            for (routing_kind routing : {routing_kind::uniform, routing_kind::zipf})
                for (std::int64_t m : L.ms)
                    for (amxmm::isa backend : isas) {
                        // The separate-gate/up comparison: Qwen3's layer, uniform routing, large M only.
                        if (what == op::ffn_separate &&
                            (L.name != "qwen3_30b_a3b" || routing != routing_kind::uniform || m < 512))
                            continue;
                        const bool cold = m <= memory_bound_max_m;
                        std::vector<amxmm::compute_mode> modes{amxmm::compute_mode::automatic};
                        if (m >= 64 && amxmm::isa_unsupported_reason(backend).empty()) {
                            amxmm::gemm_options o;
                            o.force_isa = backend;
                            const amxmm::gemm_plan p = amxmm::plan_moe_q4_0(m, L.top_k, L.experts, o);
                            modes.push_back(p.mode == amxmm::compute_mode::fast ? amxmm::compute_mode::exact
                                                                                : amxmm::compute_mode::fast);
                        }
                        for (amxmm::compute_mode mode : modes) {
                            const char* op_name = what == op::ffn            ? "moe_ffn/"
                                                  : what == op::ffn_separate ? "moe_ffn_separate/"
                                                                             : "moe_gemm/";
                            const std::string name = std::string(op_name) + L.name +
                                                     "/" + to_string(routing) + "/" + amxmm::to_string(mode) + "/" +
                                                     amxmm::to_string(backend) + "/M" + std::to_string(m) +
                                                     (cold ? "/cold" : "/hot");
                            benchmark::RegisterBenchmark(name.c_str(), bm_moe,
                                                         moe_case{what, L, routing, m, mode, backend, cold, name})
                                ->UseRealTime()
                                ->MinTime(min_time())
                                ->Unit(benchmark::kMicrosecond);
                        }
                    }
}

}  // namespace

int main(int argc, char** argv) { return amxmm_bench::bench_main(argc, argv, register_all); }
