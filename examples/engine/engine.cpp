// amxmm-engine: a small host engine on amxmm. It opens a GGUF model (by default a Qwen3-30B-A3B-shaped
// model of 4 layers with random Q4_0 weights, written on first run), asks the planner where each weight
// should live on this machine, packs the CPU weights (VNNI), uploads the GPU ones (amxmm-engine-gpu
// only), and runs the layers for a prompt batch and for decode steps. It prints the measured matmul
// tokens/s of each phase next to the planner's prediction for the same matmuls, and where each tensor ran.
//
//   amxmm-engine [--layers 4] [--experts 128] [--batch 2048] [--decode-steps 32] [--calibrate | --quick]
//   amxmm-engine --model FILE.gguf ...
//
// What runs, per layer: RMSNorm; q/k/v projections (gemm_q4_0 or cuda::gemm_q4_0); q/k head norms and
// RoPE; causal attention over the KV cache as a plain fp32 reference on the CPU; the output projection
// and residual; RMSNorm; the router (Q4_0 here: the generated model quantizes ffn_gate_inp so every
// layer matmul runs on amxmm), softmax top-k; the experts' FFN (moe_ffn, gate and up packed together on
// the CPU) and residual. Dense-FFN layers (ffn_gate/up/down) run as three matmuls. Token embedding and
// LM head are not run (inputs are random hidden states).
//
// The comparison is apples to apples: the engine times each matmul call (CPU: wall time of the call;
// GPU: CUDA events around the call, copies apart) and sums them; the prediction is the cost model's time
// for exactly those calls under the plan (cost_model::tensor_seconds + the per-call overhead, as the
// planner's layer time adds them). Attention, norms, host<->GPU copies and the whole forward are printed
// too, but not compared: the planner models an optimized attention and device-resident activations,
// the engine runs a reference attention on the CPU.
#include <amxmm/amxmm.hpp>
#include <amxmm/plan.hpp>

#if defined(AMXMM_ENGINE_WITH_CUDA)
#include "gpu_backend.hpp"
#endif

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace amxmm;
namespace P = amxmm::plan;

const char* usage =
    "usage: amxmm-engine [options]\n"
    "\n"
    "  --model FILE.gguf   the model to run (default: a Qwen3-30B-A3B-shaped model with random Q4_0\n"
    "                      weights in $TMPDIR, written on first run; a missing FILE is written too)\n"
    "  --layers N          layers of the generated model (default 4)\n"
    "  --experts N         experts of the generated model (default 128; real shapes otherwise)\n"
    "  --experts-used N    top-k of the generated model (default 8)\n"
    "  --batch N           prompt batch: tokens of the prompt phase (default 2048)\n"
    "  --decode-steps N    decode steps of one token (default 32)\n"
    "  --threads N         CPU threads (default: all)\n"
    "  --calibrate         full calibration of this machine's kernels now (CPU, and the GPU in\n"
    "                      amxmm-engine-gpu), saved to the calibration cache\n"
    "  --quick             quick (tiny-shape) calibration, nothing cached: for CI\n"
    "  --calibration FILE  calibration cache (default $XDG_CACHE_HOME/amxmm/calibration.json; the GPU\n"
    "                      build keeps its own, calibration-gpu.json)\n"
    "  --cpu-only          plan without the GPUs\n"
    "  --gpu-mem SIZE      plan as if the GPU had SIZE of memory (e.g. 700MiB): a smaller GPU makes the\n"
    "                      planner keep some tensors on the CPU (AMX), so both devices run\n"
    "  --no-attention      skip the reference attention (matmuls only)\n";

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct options {
    std::string model_path;
    int layers = 4, experts = 128, experts_used = 8;
    std::int64_t batch = 2048;
    int decode_steps = 32;
    int threads = 0;
    bool calibrate = false, quick = false, cpu_only = false, attention = true;
    std::string calibration_path;
    std::string gpu_mem;  ///< --gpu-mem: the GPU memory the planner assumes (empty: the real one)
};

std::int64_t to_count(const std::string& flag, const std::string& v, std::int64_t min) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || x < min)
        throw error(errc::invalid_argument, flag + " " + v + ": expected an integer >= " + std::to_string(min));
    return x;
}

// ---- the generated model ---------------------------------------------------------------------------------

P::model_shape generated_shape(const options& o) {
    P::model_shape s = P::qwen3_30b_a3b_q4_0_shape();
    s.name = "Qwen3-30B-A3B-shaped, random Q4_0 (amxmm-engine)";
    s.layers = o.layers;
    s.experts = o.experts;
    s.experts_used = std::min(o.experts_used, o.experts);
    s.router_type = ggml_type::q4_0;  // so the router is an amxmm matmul too (llama.cpp keeps it f32)
    return s;
}

std::string default_model_path(const options& o) {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/amxmm-engine-qwen3moe-L" + std::to_string(o.layers) + "-E" +
           std::to_string(o.experts) + "-k" + std::to_string(std::min(o.experts_used, o.experts)) + ".gguf";
}

std::uint64_t splitmix64(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// Writes `m` to `path` with real data for every layer tensor: random Q4_0 blocks (nibbles uniform,
/// scales around 1 / (4.6·sqrt(K)) so a projection keeps the activations' scale) and f32 norm weights
/// of 1. token_embd and output are not run by the engine and stay holes (zeros) in a sparse file.
void write_random_model(const P::model_desc& m, const std::string& path, tbb_executor& ex) {
    static_assert(sizeof(block_q4_0) == 18, "GGUF Q4_0 blocks are 18 bytes");
    const std::string part = path + ".part";
    P::write_model_gguf(m, part);  // metadata, tensor table, sparse data region
    struct chunk {
        std::uint64_t at = 0;       // file offset
        std::int64_t blocks = 0;    // Q4_0 blocks (0: f32 ones)
        std::int64_t floats = 0;
        std::int64_t k = 0;
        std::uint64_t seed = 0;
    };
    std::vector<chunk> chunks;
    {
        const gguf_file f = gguf_file::open(part);
        std::uint64_t tensor_no = 0;
        for (const gguf_tensor_info& t : f.tensors()) {
            ++tensor_no;
            if (P::classify_tensor_name(t.name).layer < 0) continue;
            const std::uint64_t at = f.data_offset() + t.offset;
            if (t.type == ggml_type::q4_0) {
                const std::int64_t total = t.element_count() / 32, per = (4 << 20) / 18;
                for (std::int64_t b = 0; b < total; b += per)
                    chunks.push_back({at + std::uint64_t(b) * 18, std::min(per, total - b), 0, t.cols(),
                                      tensor_no * 0x100000000ull + std::uint64_t(b)});
            } else if (t.type == ggml_type::f32) {
                chunks.push_back({at, 0, t.element_count(), 0, 0});
            }
        }
    }
    const int fd = ::open(part.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw error(errc::system, "cannot open " + part + ": " + std::strerror(errno));
    std::atomic<bool> failed{false};
    ex.parallel_for(std::int64_t(chunks.size()), [&](std::int64_t i) {
        const chunk& c = chunks[std::size_t(i)];
        std::vector<unsigned char> buf;
        if (c.blocks > 0) {
            std::vector<block_q4_0> b(std::size_t(c.blocks));
            std::uint64_t s = c.seed;
            const float scale = 1.0f / (4.6f * std::sqrt(float(c.k)));
            for (block_q4_0& x : b) {
                const std::uint64_t r0 = splitmix64(s), r1 = splitmix64(s), r2 = splitmix64(s);
                x.d = fp32_to_fp16(scale * (0.5f + float(r2 & 0xffff) / 65536.0f));
                std::memcpy(x.qs, &r0, 8);
                std::memcpy(x.qs + 8, &r1, 8);
            }
            buf.resize(b.size() * 18);
            std::memcpy(buf.data(), b.data(), buf.size());
        } else {
            std::vector<float> ones(std::size_t(c.floats), 1.0f);
            buf.resize(ones.size() * 4);
            std::memcpy(buf.data(), ones.data(), buf.size());
        }
        std::size_t done = 0;
        while (done < buf.size()) {
            const ssize_t w = ::pwrite(fd, buf.data() + done, buf.size() - done, off_t(c.at + done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                failed = true;
                return;
            }
            done += std::size_t(w);
        }
    });
    if (::close(fd) != 0 || failed) throw error(errc::system, "writing " + part + " failed");
    if (std::rename(part.c_str(), path.c_str()) != 0) throw error(errc::system, "cannot rename " + part + " to " + path);
}

// ---- what the engine runs ---------------------------------------------------------------------------------

enum class op_group { attn_proj, router, ffn, count };
const char* group_name(op_group g) {
    switch (g) {
        case op_group::attn_proj: return "attention projections q/k/v/o";
        case op_group::router: return "router";
        case op_group::ffn: return "FFN (experts: moe_ffn)";
        default: return "?";
    }
}
op_group group_of(P::tensor_role r) {
    using R = P::tensor_role;
    if (r == R::attn_q || r == R::attn_k || r == R::attn_v || r == R::attn_output) return op_group::attn_proj;
    if (r == R::ffn_router) return op_group::router;
    return op_group::ffn;
}

struct weight {
    int index = -1;                   // into model.tensors
    const gguf_tensor_info* info = nullptr;
    P::placement where;
    bool run = false;                 // computed by the engine
    bool on_gpu = false;
    std::string skipped;              // why not run
    packed_q4_0_vnni dense;           // cpu_amx, dense
    packed_q4_0_vnni_experts experts; // cpu_amx, experts (down; gate/up in the layer's gate_up)
    int gpu = -1;                     // GPU handle
    std::int64_t n = 0, k = 0;
};

struct layer {
    weight *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr, *router = nullptr;
    weight *gate_exps = nullptr, *up_exps = nullptr, *down_exps = nullptr;
    weight *ffn_gate = nullptr, *ffn_up = nullptr, *ffn_down = nullptr;
    const float *attn_norm = nullptr, *ffn_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr;
    packed_q4_0_vnni_gate_up gate_up;  // CPU experts: gate and up packed together
    std::vector<float> k_cache, v_cache;  // [pos][kv_heads · head_dim]
};

/// Times of one phase, per op group: matmul time (CPU wall or GPU kernels), GPU copies, the rest.
struct phase_times {
    double mm[int(op_group::count)] = {0, 0, 0};
    double copies = 0, attention = 0, total = 0;
    double matmul() const { return mm[0] + mm[1] + mm[2]; }
};

const float* f32_tensor(const gguf_file& f, const std::string& name) {
    const gguf_tensor_info* t = f.find_tensor(name);
    if (!t || t->type != ggml_type::f32 || !t->data) return nullptr;
    return reinterpret_cast<const float*>(t->data);
}

void rms_norm(const float* x, float* y, std::int64_t m, std::int64_t width, const float* w, float eps = 1e-6f) {
    for (std::int64_t r = 0; r < m; ++r) {
        const float* xr = x + r * width;
        float* yr = y + r * width;
        double ss = 0;
        for (std::int64_t i = 0; i < width; ++i) ss += double(xr[i]) * xr[i];
        const float inv = float(1.0 / std::sqrt(ss / double(width) + eps));
        for (std::int64_t i = 0; i < width; ++i) yr[i] = xr[i] * inv * (w ? w[i] : 1.0f);
    }
}

/// NeoX-style rotary embedding (Qwen3) of `heads` heads of `d` at positions pos0 + row.
void rope(float* x, std::int64_t m, int heads, std::int64_t d, std::int64_t pos0, double theta = 1e6) {
    const std::int64_t half = d / 2;
    for (std::int64_t r = 0; r < m; ++r)
        for (int h = 0; h < heads; ++h) {
            float* v = x + (r * heads + h) * d;
            for (std::int64_t i = 0; i < half; ++i) {
                const double a = double(pos0 + r) * std::pow(theta, -2.0 * double(i) / double(d));
                const float c = float(std::cos(a)), s = float(std::sin(a));
                const float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c - x1 * s;
                v[i + half] = x0 * s + x1 * c;
            }
        }
}

class engine {
public:
    engine(const options& o, const gguf_file& file, const P::model_desc& model, const P::plan& pl, tbb_executor& ex
#if defined(AMXMM_ENGINE_WITH_CUDA)
           , engine_gpu::backend* gpu
#endif
           )
        : o_(o), file_(file), m_(model), pl_(pl), ex_(ex)
#if defined(AMXMM_ENGINE_WITH_CUDA)
          , gpu_(gpu)
#endif
    {
        hq_ = model.heads;
        hkv_ = model.kv_heads > 0 ? model.kv_heads : model.heads;
        d_ = model.key_length > 0 ? model.key_length : model.embedding / std::max(hq_, 1);
        top_k_ = std::max(model.experts_used, 1);
        load();
    }

    const std::vector<weight>& weights() const { return w_; }

    /// One forward of `m` tokens at positions pos0.. through every layer; accumulates into `t`.
    void forward(std::int64_t m, std::int64_t pos0, phase_times& t, bool attention) {
        const double t0 = now_s();
        const std::int64_t E = m_.embedding;
        x_.resize(std::size_t(m * E));
        std::uint64_t s = 0x5eed0000ull + std::uint64_t(pos0);
        for (float& v : x_) v = float(std::int64_t(splitmix64(s) >> 40) - (1ll << 23)) / float(1 << 23);
        for (layer& L : layers_) run_layer(L, m, pos0, t, attention);
        t.total += now_s() - t0;
    }

    void reset_cache() {
        for (layer& L : layers_) L.k_cache.clear(), L.v_cache.clear();
    }

private:
    void load() {
        const double t0 = now_s();
        w_.resize(m_.tensors.size());
        layers_.resize(std::size_t(m_.layers));
        std::uint64_t cpu_bytes = 0;
        for (std::size_t i = 0; i < m_.tensors.size(); ++i) {
            const P::tensor_desc& t = m_.tensors[i];
            weight& w = w_[i];
            w.index = int(i);
            w.info = file_.find_tensor(t.name);
            w.where = pl_.tensors[i].where;
            if (t.layer < 0 || !t.is_matmul()) continue;
            layer& L = layers_[std::size_t(t.layer)];
            using R = P::tensor_role;
            switch (t.role) {
                case R::attn_q: L.q = &w; break;
                case R::attn_k: L.k = &w; break;
                case R::attn_v: L.v = &w; break;
                case R::attn_output: L.o = &w; break;
                case R::ffn_router: L.router = &w; break;
                case R::ffn_gate_exps: L.gate_exps = &w; break;
                case R::ffn_up_exps: L.up_exps = &w; break;
                case R::ffn_down_exps: L.down_exps = &w; break;
                case R::ffn_gate: L.ffn_gate = &w; break;
                case R::ffn_up: L.ffn_up = &w; break;
                case R::ffn_down: L.ffn_down = &w; break;
                default: w.skipped = std::string("role ") + P::role_name(t.role) + " is not run by this engine"; continue;
            }
            if (t.type != ggml_type::q4_0) {
                w.skipped = std::string(traits_of(t.type).name) + ": the engine computes Q4_0 matmuls only";
                continue;
            }
            if (pl_.tensors[i].split()) {
                w.skipped = "experts split between devices: not supported by this engine";
                continue;
            }
            w.n = t.rows;
            w.k = t.cols;
            w.run = true;
            if (w.where.kind == P::placement_kind::gpu) {
#if defined(AMXMM_ENGINE_WITH_CUDA)
                // Uploaded from the file layout: a VNNI-packed CPU weight is never sent to the GPU.
                if (!gpu_) throw error(errc::invalid_argument, "the plan puts " + t.name + " on a GPU but there is none");
                w.gpu = gpu_->upload(q4_0_matrix_of(*w.info), std::max<std::int64_t>(t.experts, 1));
                w.on_gpu = true;
#else
                throw error(errc::invalid_argument, "the plan puts " + t.name + " on a GPU; this build has no GPU backend");
#endif
            }
        }
        // Pack the CPU weights (cpu_amx; a cpu_host weight would be packed at load as well, since amxmm's
        // CPU kernels take packed weights only; the engine asks the solver not to use cpu_host).
        for (std::size_t l = 0; l < layers_.size(); ++l) {
            layer& L = layers_[l];
            const std::string blk = "blk." + std::to_string(l) + ".";
            L.attn_norm = f32_tensor(file_, blk + "attn_norm.weight");
            L.ffn_norm = f32_tensor(file_, blk + "ffn_norm.weight");
            L.q_norm = f32_tensor(file_, blk + "attn_q_norm.weight");
            L.k_norm = f32_tensor(file_, blk + "attn_k_norm.weight");
            for (weight* w : {L.q, L.k, L.v, L.o, L.router, L.ffn_gate, L.ffn_up, L.ffn_down}) {
                if (!w || !w->run || w->on_gpu) continue;
                w->dense = pack_q4_0_vnni(q4_0_matrix_of(*w->info), ex_);
                cpu_bytes += w->dense.size_bytes();
            }
            if (L.gate_exps && L.up_exps && L.down_exps) {
                weight* ws[3] = {L.gate_exps, L.up_exps, L.down_exps};
                bool ok = true;
                for (weight* w : ws) ok = ok && w->run;
                const bool gpu = L.gate_exps->on_gpu;
                for (weight* w : ws)
                    if (w->run && w->on_gpu != gpu) ok = false;
                if (!ok) {
                    for (weight* w : ws)
                        if (w->run) w->run = false, w->skipped = "the layer's gate/up/down experts are not all runnable on one device";
                    continue;
                }
                if (!gpu) {
                    const std::int64_t E = L.gate_exps->info->dims[2], F = L.gate_exps->n, K = L.gate_exps->k;
                    L.gate_up = pack_q4_0_vnni_gate_up(q4_0_matrix_of(*L.gate_exps->info).blocks,
                                                       q4_0_matrix_of(*L.up_exps->info).blocks, E, F, K, ex_);
                    L.down_exps->experts = pack_q4_0_vnni_experts(q4_0_matrix_of(*L.down_exps->info).blocks, E, K, F, ex_);
                    cpu_bytes += L.gate_up.view().fused.expert_stride * std::uint64_t(E) +
                                 L.down_exps->experts.view().expert_stride * std::uint64_t(E);
                }
            } else {
                for (weight* w : {L.gate_exps, L.up_exps, L.down_exps})
                    if (w && w->run) w->run = false, w->skipped = "MoE layer without all of gate/up/down experts";
            }
        }
        std::int64_t widest = std::max<std::int64_t>(m_.embedding, std::int64_t(hq_) * d_);
        for (const weight& w : w_)
            if (w.run) widest = std::max({widest, w.n, w.k});
#if defined(AMXMM_ENGINE_WITH_CUDA)
        if (gpu_) gpu_->reserve(std::max<std::int64_t>(o_.batch, 1), widest, top_k_);
#endif
        widest_ = widest;
        std::printf("loaded in %.1f s: %s packed for the CPU (VNNI)", now_s() - t0, P::format_size(cpu_bytes).c_str());
#if defined(AMXMM_ENGINE_WITH_CUDA)
        if (gpu_) std::printf(", %s uploaded to the GPU", P::format_size(gpu_->weight_bytes()).c_str());
#endif
        std::printf("\n");
    }

    /// y (m × N) = x (m × K) · Wᵀ where the plan put W; timed into t.
    void matmul(const weight* w, std::int64_t m, const float* x, float* y, phase_times& t) {
        if (!w || !w->run) {
            if (w) std::fill(y, y + m * w->n, 0.0f);
            return;
        }
        const op_group g = group_of(m_.tensors[std::size_t(w->index)].role);
#if defined(AMXMM_ENGINE_WITH_CUDA)
        if (w->on_gpu) {
            const engine_gpu::op_time ot = gpu_->gemm(w->gpu, m, x, y);
            t.mm[int(g)] += ot.kernel_s;
            t.copies += ot.copy_s;
            return;
        }
#endif
        const double t0 = now_s();
        gemm_q4_0(w->dense.view(), m, x, w->k, y, w->n, gemm_options{}, ex_);
        t.mm[int(g)] += now_s() - t0;
    }

    void run_layer(layer& L, std::int64_t m, std::int64_t pos0, phase_times& t, bool attention) {
        const std::int64_t E = m_.embedding, QW = std::int64_t(hq_) * d_, KW = std::int64_t(hkv_) * d_;
        xn_.resize(std::size_t(m * E));
        q_.resize(std::size_t(m * QW));
        kx_.resize(std::size_t(m * KW));
        vx_.resize(std::size_t(m * KW));
        att_.assign(std::size_t(m * QW), 0.0f);
        y_.resize(std::size_t(m * std::max(E, widest_)));

        double ta = now_s();
        rms_norm(x_.data(), xn_.data(), m, E, L.attn_norm);
        t.attention += now_s() - ta;
        matmul(L.q, m, xn_.data(), q_.data(), t);
        matmul(L.k, m, xn_.data(), kx_.data(), t);
        matmul(L.v, m, xn_.data(), vx_.data(), t);
        ta = now_s();
        if (L.q_norm) rms_norm(q_.data(), q_.data(), m * hq_, d_, L.q_norm);
        if (L.k_norm) rms_norm(kx_.data(), kx_.data(), m * hkv_, d_, L.k_norm);
        rope(q_.data(), m, hq_, d_, pos0);
        rope(kx_.data(), m, hkv_, d_, pos0);
        L.k_cache.resize(std::size_t((pos0 + m) * KW));
        L.v_cache.resize(std::size_t((pos0 + m) * KW));
        std::copy(kx_.begin(), kx_.end(), L.k_cache.begin() + pos0 * KW);
        std::copy(vx_.begin(), vx_.end(), L.v_cache.begin() + pos0 * KW);
        if (attention) attend(L, m, pos0);
        t.attention += now_s() - ta;
        matmul(L.o, m, att_.data(), y_.data(), t);
        for (std::int64_t i = 0; i < m * E; ++i) x_[std::size_t(i)] += y_[std::size_t(i)];

        ta = now_s();
        rms_norm(x_.data(), xn_.data(), m, E, L.ffn_norm);
        t.attention += now_s() - ta;
        if (L.down_exps && L.down_exps->run) {
            moe(L, m, t);
        } else if (L.ffn_gate || L.ffn_up || L.ffn_down) {
            const std::int64_t F = L.ffn_gate ? L.ffn_gate->n : (L.ffn_down ? L.ffn_down->k : 0);
            g_.resize(std::size_t(m * F));
            u_.resize(std::size_t(m * F));
            matmul(L.ffn_gate, m, xn_.data(), g_.data(), t);
            matmul(L.ffn_up, m, xn_.data(), u_.data(), t);
            for (std::size_t i = 0; i < g_.size(); ++i) g_[i] = g_[i] / (1.0f + std::exp(-g_[i])) * u_[i];
            matmul(L.ffn_down, m, g_.data(), y_.data(), t);
            if (L.ffn_down && L.ffn_down->run)
                for (std::int64_t i = 0; i < m * E; ++i) x_[std::size_t(i)] += y_[std::size_t(i)];
        }
    }

    void moe(layer& L, std::int64_t m, phase_times& t) {
        const std::int64_t E = m_.embedding, ne = L.gate_exps->info->dims[2];
        const std::int64_t k = std::min<std::int64_t>(top_k_, ne);
        // Router: logits, softmax, top-k, renormalized (Qwen3-MoE's norm_topk_prob).
        logits_.resize(std::size_t(m * ne));
        ids_.resize(std::size_t(m * k));
        rw_.resize(std::size_t(m * k));
        if (L.router && L.router->run) {
            matmul(L.router, m, xn_.data(), logits_.data(), t);
        } else {  // no runnable router: a fixed spread (the timing still sees top-k distinct experts)
            for (std::int64_t i = 0; i < m * ne; ++i) logits_[std::size_t(i)] = float((i * 7919) % ne);
        }
        std::vector<std::int32_t> order(static_cast<std::size_t>(ne));
        for (std::int64_t r = 0; r < m; ++r) {
            const float* lr = logits_.data() + r * ne;
            for (std::int64_t e = 0; e < ne; ++e) order[std::size_t(e)] = std::int32_t(e);
            std::partial_sort(order.begin(), order.begin() + k, order.end(),
                              [&](std::int32_t a, std::int32_t b) { return lr[a] > lr[b] || (lr[a] == lr[b] && a < b); });
            double sum = 0;
            for (std::int64_t s = 0; s < k; ++s) sum += std::exp(double(lr[order[std::size_t(s)]] - lr[order[0]]));
            for (std::int64_t s = 0; s < k; ++s) {
                ids_[std::size_t(r * k + s)] = order[std::size_t(s)];
                rw_[std::size_t(r * k + s)] = float(std::exp(double(lr[order[std::size_t(s)]] - lr[order[0]])) / sum);
            }
        }
#if defined(AMXMM_ENGINE_WITH_CUDA)
        if (L.gate_exps->on_gpu) {
            const engine_gpu::op_time ot =
                gpu_->moe_ffn(L.gate_exps->gpu, L.up_exps->gpu, L.down_exps->gpu, m, k, ids_.data(), rw_.data(), xn_.data(), y_.data());
            t.mm[int(op_group::ffn)] += ot.kernel_s;
            t.copies += ot.copy_s;
        } else
#endif
        {
            const double t0 = now_s();
            moe_ffn(L.gate_up.view(), L.down_exps->experts.view(), {m, k, ids_.data(), k}, rw_.data(), k, xn_.data(), E,
                    y_.data(), E, moe_ffn_options{}, ex_);
            t.mm[int(op_group::ffn)] += now_s() - t0;
        }
        for (std::int64_t i = 0; i < m * E; ++i) x_[std::size_t(i)] += y_[std::size_t(i)];
    }

    /// Causal attention, fp32 reference: each query row attends to cached positions <= its own.
    void attend(const layer& L, std::int64_t m, std::int64_t pos0) {
        const std::int64_t QW = std::int64_t(hq_) * d_, KW = std::int64_t(hkv_) * d_;
        const int group = std::max(1, hq_ / std::max(hkv_, 1));
        const float scale = 1.0f / std::sqrt(float(d_));
        const std::int64_t chunk = 16, chunks = (m + chunk - 1) / chunk;
        ex_.parallel_for(std::int64_t(hq_) * chunks, [&](std::int64_t task) {
            const int h = int(task / chunks);
            const std::int64_t r0 = (task % chunks) * chunk, r1 = std::min(m, r0 + chunk);
            const std::int64_t kvh = h / group;
            std::vector<float> sc(std::size_t(pos0 + m));
            for (std::int64_t r = r0; r < r1; ++r) {
                const float* qv = q_.data() + r * QW + h * d_;
                const std::int64_t keys = pos0 + r + 1;
                float mx = -INFINITY;
                for (std::int64_t j = 0; j < keys; ++j) {
                    const float* kv = L.k_cache.data() + j * KW + kvh * d_;
                    float s = 0;
                    for (std::int64_t i = 0; i < d_; ++i) s += qv[i] * kv[i];
                    sc[std::size_t(j)] = s * scale;
                    mx = std::max(mx, sc[std::size_t(j)]);
                }
                float sum = 0;
                for (std::int64_t j = 0; j < keys; ++j) sum += (sc[std::size_t(j)] = std::exp(sc[std::size_t(j)] - mx));
                float* out = att_.data() + r * QW + h * d_;
                for (std::int64_t j = 0; j < keys; ++j) {
                    const float p = sc[std::size_t(j)] / sum;
                    const float* vv = L.v_cache.data() + j * KW + kvh * d_;
                    for (std::int64_t i = 0; i < d_; ++i) out[i] += p * vv[i];
                }
            }
        });
    }

    const options& o_;
    const gguf_file& file_;
    const P::model_desc& m_;
    const P::plan& pl_;
    tbb_executor& ex_;
#if defined(AMXMM_ENGINE_WITH_CUDA)
    engine_gpu::backend* gpu_ = nullptr;
#endif
    int hq_ = 0, hkv_ = 0, top_k_ = 1;
    std::int64_t d_ = 0, widest_ = 0;
    std::vector<weight> w_;
    std::vector<layer> layers_;
    std::vector<float> x_, xn_, q_, kx_, vx_, att_, y_, g_, u_, logits_, rw_;
    std::vector<std::int32_t> ids_;
};

// ---- the planner's prediction of the same matmuls -------------------------------------------------------

struct prediction {
    double mm[int(op_group::count)] = {0, 0, 0};
    double matmul() const { return mm[0] + mm[1] + mm[2]; }
};

/// The cost model's time for the matmul calls the engine makes in phase `pi` under plan `pl`: per
/// tensor its tensor_seconds (all experts of an expert tensor) plus one per-call overhead on its
/// device, as cost_model::layer_seconds adds them.
prediction predict_matmuls(const P::cost_model& cm, const P::plan& pl, std::size_t pi, const std::vector<weight>& ws) {
    prediction p;
    const P::model_desc& m = cm.model();
    const P::phase& ph = cm.phases()[pi];
    for (int l = 0; l < m.layers; ++l) {
        const int A = 1 + pl.attention_gpu[std::size_t(l)];
        for (int i : cm.layer_tensors(l)) {
            const P::tensor_desc& t = m.tensors[std::size_t(i)];
            if (!ws[std::size_t(i)].run) continue;
            const P::placement& where = pl.tensors[std::size_t(i)].where;
            const int d = cm.exec_device(where, ph, A);
            double s = cm.tensor_seconds(std::size_t(i), 0, pi, where, d);
            if (t.is_expert()) {
                double all = 0;
                for (std::int64_t e = 0; e < t.experts; ++e) all += cm.tensor_seconds(std::size_t(i), e, pi, where, d);
                s = all;
            }
            p.mm[int(group_of(t.role))] += s + cm.op_overhead_s(d);
        }
    }
    return p;
}

// ---- calibration -----------------------------------------------------------------------------------------

P::calibration_data get_calibration(const options& o, int threads, std::string& note
#if defined(AMXMM_ENGINE_WITH_CUDA)
                                    , engine_gpu::backend* gpu
#endif
) {
    auto progress = [](const std::string& what, int done, int total) {
        std::fprintf(stderr, "\rcalibrating [%2d/%2d] %-44s", done, total, what.c_str());
        if (done == total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    };
    std::string path = o.calibration_path.empty() ? P::default_calibration_path() : o.calibration_path;
#if defined(AMXMM_ENGINE_WITH_CUDA)
    // The GPU build's cache also holds GPU curves; kept apart from amxmm-plan's CPU-only cache.
    if (o.calibration_path.empty() && gpu) {
        const std::size_t slash = path.find_last_of('/');
        path = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "calibration-gpu.json";
    }
#endif
    P::calibration_options co;
    co.threads = threads;
    co.progress = progress;
    if (!o.calibrate && !o.quick) {
        if (auto c = P::load_calibration(path, P::machine_key(threads))) {
            note = "calibration: cached, " + c->created + " (" + path + ")";
            return *c;
        }
    }
    co.quick = !o.calibrate;
    const double t0 = now_s();
    P::calibration_data c = P::calibrate(co);
#if defined(AMXMM_ENGINE_WITH_CUDA)
    if (gpu) {
        // GPU curves, named as detect_hardware names the device: the dense shapes of the attention
        // projections and the router, and the experts (moe_gemm, uniform routing) of the generated model.
        const std::string dev = "gpu:" + gpu->device_name();
        const std::vector<std::int64_t> ms = co.quick ? std::vector<std::int64_t>{1, 16, 64}
                                                      : std::vector<std::int64_t>{1, 16, 64, 512, 2048};
        struct job { std::int64_t e, n, k, top_k; };
        const std::vector<job> jobs = co.quick ? std::vector<job>{{0, 256, 256, 0}, {8, 64, 256, 2}}
                                               : std::vector<job>{{0, 4096, 2048, 0}, {0, 512, 2048, 0}, {0, 2048, 4096, 0},
                                                                  {0, 128, 2048, 0}, {128, 768, 2048, 8}, {128, 2048, 768, 8}};
        int step = 0;
        for (const job& j : jobs) {
            progress(dev + (j.e ? " experts " : " dense ") + std::to_string(j.n) + "x" + std::to_string(j.k), step++, int(jobs.size()));
            P::calibration_curve cc;
            cc.device = dev;
            cc.op = j.e ? "experts" : "dense";
            cc.n = j.n;
            cc.k = j.k;
            cc.experts = j.e;
            cc.top_k = j.top_k;
            cc.points = j.e ? gpu->time_experts(j.e, j.n, j.k, j.top_k, ms) : gpu->time_dense(j.n, j.k, ms);
            c.curves.push_back(std::move(cc));
        }
        progress("done", int(jobs.size()), int(jobs.size()));
    }
#endif
    if (o.calibrate) {
        P::save_calibration(c, path);
        note = "calibration: measured now in " + std::to_string(int(now_s() - t0 + 0.5)) + " s, saved to " + path;
    } else {
        note = std::string("calibration: quick (tiny shapes, ") + (o.quick ? "--quick" : "no cached calibration for this machine") +
               "); predictions are rough. Run --calibrate once for a full one (cached).";
    }
    return c;
}

std::string ran_on(const weight& w) {
    if (!w.run) return "skipped: " + w.skipped;
    if (w.on_gpu) return "CUDA0 (amxmm::cuda, uploaded from the file layout)";
    return "CPU " + std::string(to_string(default_isa().chosen)) + " (VNNI-packed)";
}

void print_row(const char* phase, const std::string& what, double pred_s, double meas_s, double tokens, bool verdict) {
    const double ratio = pred_s > 0 && meas_s > 0 ? pred_s / meas_s : 0;
    std::printf("%-11s %-34s %12.3f %12.3f %12.1f %12.1f %7.2f  %s\n", phase, what.c_str(), pred_s * 1e3, meas_s * 1e3,
                pred_s > 0 ? tokens / pred_s : 0.0, meas_s > 0 ? tokens / meas_s : 0.0, ratio,
                !verdict ? "" : (ratio >= 0.75 && ratio <= 1.25 ? "PASS" : "FAIL"));
}

}  // namespace

int main(int argc, char** argv) try {
    options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw error(errc::invalid_argument, a + " needs a value");
            return args[++i];
        };
        if (a == "-h" || a == "--help") {
            std::cout << usage;
            return 0;
        } else if (a == "--model") o.model_path = value();
        else if (a == "--layers") o.layers = int(to_count(a, value(), 1));
        else if (a == "--experts") o.experts = int(to_count(a, value(), 1));
        else if (a == "--experts-used") o.experts_used = int(to_count(a, value(), 1));
        else if (a == "--batch") o.batch = to_count(a, value(), 1);
        else if (a == "--decode-steps") o.decode_steps = int(to_count(a, value(), 0));
        else if (a == "--threads") o.threads = int(to_count(a, value(), 1));
        else if (a == "--calibrate") o.calibrate = true;
        else if (a == "--quick") o.quick = true;
        else if (a == "--calibration") o.calibration_path = value();
        else if (a == "--cpu-only") o.cpu_only = true;
        else if (a == "--gpu-mem") o.gpu_mem = value();
        else if (a == "--no-attention") o.attention = false;
        else throw error(errc::invalid_argument, "unknown argument " + a + " (see --help)");
    }
    const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    tbb_executor ex(threads);

    // 1. The model file: written on first use (random Q4_0, real shapes), else opened as is.
    const bool generated = o.model_path.empty();
    const std::string path = generated ? default_model_path(o) : o.model_path;
    if (::access(path.c_str(), R_OK) != 0) {
        const P::model_desc want = P::make_model(generated_shape(o));
        std::printf("writing %s (%s, %d layers, random Q4_0) ...\n", path.c_str(), want.name.c_str(), want.layers);
        std::fflush(stdout);
        const double t0 = now_s();
        write_random_model(want, path, ex);
        std::printf("written in %.1f s\n", now_s() - t0);
    }
    const gguf_file file = gguf_file::open(path);
    const std::size_t slash = path.find_last_of('/');
    const P::model_desc model = P::model_from_gguf(file, slash == std::string::npos ? path : path.substr(slash + 1));

    // 2. The machine (the GPUs this build can use) and the calibration.
    P::hardware_desc hw = P::detect_hardware();
    std::vector<std::string> notes;
#if defined(AMXMM_ENGINE_WITH_CUDA)
    std::unique_ptr<engine_gpu::backend> gpu;
    if (!o.cpu_only && !hw.gpus.empty()) {
        const std::string why = engine_gpu::unavailable_reason();
        if (why.empty()) gpu = std::make_unique<engine_gpu::backend>();
        else notes.push_back("GPU not used: " + why);
    }
    if (!gpu) hw.gpus.clear();
    if (hw.gpus.size() > 1) {
        notes.push_back("this engine uses one GPU (CUDA0); planning without the other " + std::to_string(hw.gpus.size() - 1));
        hw.gpus.resize(1);
    }
#else
    if (!hw.gpus.empty())
        notes.push_back("this build has no GPU backend (amxmm-engine-gpu has): planning without the " +
                        std::to_string(hw.gpus.size()) + " GPU(s)");
    hw.gpus.clear();
#endif
    if (o.cpu_only) hw.gpus.clear();
    if (!o.gpu_mem.empty()) {
        const std::uint64_t cap = P::parse_size(o.gpu_mem);
        for (auto& g : hw.gpus) {
            if (cap > g.memory_bytes)
                throw error(errc::invalid_argument, "--gpu-mem " + o.gpu_mem + " exceeds the GPU's " + P::format_size(g.memory_bytes));
            g.memory_bytes = cap;
            notes.push_back("planning with --gpu-mem " + P::format_size(cap) + " of " + g.name + "'s memory");
        }
    }
    std::string calib_note;
    const P::calibration_data calib = get_calibration(o, threads, calib_note
#if defined(AMXMM_ENGINE_WITH_CUDA)
                                                      , gpu.get()
#endif
    );

    // 3. The plan for this workload: one prompt batch, decode of one sequence.
    P::workload_desc wl;
    wl.prompt_batches = {o.batch};
    wl.decode_batch = 1;
    wl.context = o.batch + o.decode_steps + 1;
    P::objective_weights ow;
    ow.prompt_tokens = double(o.batch);
    ow.decode_tokens = double(std::max(o.decode_steps, 1));
    const P::cost_model cm(model, hw, wl, calib, P::cost_params{}, ow);
    P::solver_options so;
    so.per_expert = false;       // the engine runs a layer's experts on one device
    so.allow_cpu_host = false;   // amxmm's CPU kernels take packed weights: cpu_amx or a GPU
    const P::solve_result r = P::solve(cm, so);
    const P::plan& pl = r.best;

    std::printf("model:    %s (%s, %d layers, %d experts top-%d, %s) %s\n", model.name.c_str(), model.architecture.c_str(),
                model.layers, model.experts, model.experts_used, P::format_size(model.total_bytes()).c_str(), path.c_str());
    std::printf("machine:  %s, %d threads, amxmm ISA %s", hw.cpu.name.c_str(), threads, to_string(default_isa().chosen));
    for (const auto& g : hw.gpus) std::printf("; %s %s", g.name.c_str(), P::format_size(g.memory_bytes).c_str());
    std::printf("\nworkload: prompt batch %lld, decode batch 1 x %d steps, context %lld\n", (long long)o.batch,
                o.decode_steps, (long long)wl.context);
    std::printf("%s\n", calib_note.c_str());
    for (const auto& n : notes) std::printf("note:     %s\n", n.c_str());
    for (const auto& w : model.warnings) std::printf("warning:  %s\n", w.c_str());
    std::printf("\n%s\nplanner: %s\n", P::format_table(cm, pl, r.score).c_str(), r.binding.c_str());
    if (!r.score.valid) {
        for (const auto& p : r.score.problems) std::printf("problem: %s\n", p.c_str());
        std::printf("the planner found no plan that fits this machine; not running\n");
        return 1;
    }
    for (std::size_t i = 0; i < pl.tensors.size(); ++i)  // DESIGN §2: the planner never sends VNNI weights to a GPU
        if (pl.tensors[i].where.kind == P::placement_kind::gpu && hw.gpus.empty())
            throw error(errc::invalid_argument, "the plan puts " + model.tensors[i].name + " on a GPU this build cannot use");

    // 4. Load: pack the CPU weights, upload the GPU ones.
    engine eng(o, file, model, pl, ex
#if defined(AMXMM_ENGINE_WITH_CUDA)
               , gpu.get()
#endif
    );
    std::printf("\n%-32s %-6s %-18s %-18s %s\n", "tensor", "type", "shape (N x K [xE])", "plan", "ran on");
    int skipped = 0;
    for (const weight& w : eng.weights()) {
        const P::tensor_desc& t = model.tensors[std::size_t(w.index)];
        if (t.layer < 0 || !t.is_matmul()) {
            if (t.is_matmul() || t.role == P::tensor_role::token_embedding) ++skipped;
            continue;
        }
        std::string shape = std::to_string(t.rows) + " x " + std::to_string(t.cols);
        if (t.experts) shape += " x" + std::to_string(t.experts);
        std::printf("%-32s %-6s %-18s %-18s %s\n", t.name.c_str(), std::string(traits_of(t.type).name).c_str(), shape.c_str(),
                    P::describe(w.where).c_str(), ran_on(w).c_str());
    }
    if (skipped) std::printf("(token_embd and output are not run: the engine feeds random hidden states and stops at the last layer)\n");

    // 5. Run: a warm-up forward of the prompt batch (matmuls only), the prompt batch, then decode steps.
    // The warm-up has the prompt's size: the first call of a shape pays one-time costs (CUDA lazy module
    // loading, cuBLAS kernel selection, first touch of the workspaces) that an engine pays once, not
    // per batch, and that the calibration (which warms up too) does not predict.
    phase_times warm, prompt, decode;
    eng.forward(o.batch, 0, warm, false);
    eng.reset_cache();
    eng.forward(o.batch, 0, prompt, o.attention);
    if (o.decode_steps > 0) {
        phase_times first;
        eng.forward(1, o.batch, first, o.attention);  // first decode step: warm-up of the M = 1 paths
        for (int s = 0; s < o.decode_steps; ++s) eng.forward(1, o.batch + 1 + s, decode, o.attention);
    }

    // 6. Predicted vs measured.
    std::printf("\n%-11s %-34s %12s %12s %12s %12s %7s  %s\n", "phase", "matmuls", "pred. ms", "meas. ms", "pred. tok/s",
                "meas. tok/s", "ratio", "(±25%)");
    for (std::size_t pi = 0; pi < cm.phases().size(); ++pi) {
        const P::phase& ph = cm.phases()[pi];
        const bool dec = ph.decode;
        if (dec && o.decode_steps == 0) continue;
        const double steps = dec ? double(o.decode_steps) : 1.0;
        const double tokens = double(ph.m);
        const phase_times& t = dec ? decode : prompt;
        const prediction p = predict_matmuls(cm, pl, pi, eng.weights());
        const std::string name = ph.name();
        for (int g = 0; g < int(op_group::count); ++g)
            if (p.mm[g] > 0 || t.mm[g] > 0) print_row(name.c_str(), group_name(op_group(g)), p.mm[g], t.mm[g] / steps, tokens, false);
        print_row(name.c_str(), "all matmuls (compared)", p.matmul(), t.matmul() / steps, tokens, true);
        std::printf("%-11s %-34s %12s %12.3f   (reference attention on the CPU, norms, RoPE, routing: not compared)\n", "",
                    "attention and the rest", "", t.attention / steps * 1e3);
        if (t.copies > 0)
            std::printf("%-11s %-34s %12s %12.3f   (host<->GPU activation copies per call: not compared)\n", "",
                        "GPU transfers", "", t.copies / steps * 1e3);
        double whole = 0;  // the planner's layers (its head is not run here)
        for (double x : r.score.phases[pi].layer_seconds) whole += x;
        std::printf("%-11s %-34s %12.3f %12.3f %12.1f %12.1f   (planner: its attention model and links; not compared)\n", "",
                    "whole layers", whole * 1e3, t.total / steps * 1e3, tokens / whole, tokens * steps / t.total);
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "amxmm-engine: %s\n", e.what());
    return 1;
}
