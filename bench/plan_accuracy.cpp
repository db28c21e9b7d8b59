// amxmm_bench_plan_accuracy: how well the planner's calibrated cost model predicts amxmm's own per-layer
// kernel time on this machine's CPU.
//
// 1. Calibrates (plan/calibration.hpp; progress on stderr), or loads --calibration FILE.
// 2. For a Qwen3-30B-A3B layer (attention projections q/k/v/o with gemm_q4_0, experts with moe_ffn: E = 128,
//    top-8, uniform random routing) and a dense Llama-3-8B layer (q/k/v/o, FFN gate/up/down with gemm_q4_0),
//    at M in {1, 64, 512, 2048}: measures the layer's matmuls run back to back on a tbb_executor (median of
//    several runs; for M < 512 each run uses the next of several copies of the layer's weights, >= 4 × LLC
//    in all, so the weights come from DRAM as they do in a 48-layer model), and predicts the same work with
//    cost_model (cpu_amx path). The router (f32) and non-matmul work are in neither number.
// 3. Prints predicted vs measured, the ratio and PASS/FAIL against ±25% (no assertion; exit code 0).
//
//   amxmm_bench_plan_accuracy [--quick] [--json] [--threads N] [--calibration FILE] [--save-calibration FILE]
//                             [--layers qwen3,dense] [--m 1,64,512,2048]
#include <amxmm/amxmm.hpp>
#include <amxmm/plan.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace amxmm;
using namespace amxmm::plan;

struct weight {
    std::string name;
    std::int64_t n = 0, k = 0, experts = 0;
};

struct layer_case {
    std::string name;
    model_desc model;             // the preset the layer comes from
    int layer = 0;                // which layer's tensors
    std::vector<weight> weights;  // Q4_0 matmuls of that layer (experts: gate, up, down)
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<std::int64_t> parse_list(const std::string& s) {
    std::vector<std::int64_t> v;
    std::size_t p = 0;
    while (p < s.size()) {
        std::size_t e = s.find(',', p);
        if (e == std::string::npos) e = s.size();
        v.push_back(std::atoll(s.substr(p, e - p).c_str()));
        p = e + 1;
    }
    return v;
}

layer_case make_case(const std::string& name, const model_desc& m, int layer) {
    layer_case c{name, m, layer, {}};
    for (const auto& t : m.tensors)
        if (t.layer == layer && t.is_matmul() && t.type == ggml_type::q4_0) c.weights.push_back({t.name, t.rows, t.cols, t.experts});
    return c;
}

/// One copy of a layer's packed weights.
struct packed_layer {
    std::vector<packed_q4_0_vnni> dense;
    packed_q4_0_vnni_experts gate, up, down;
    std::size_t bytes = 0;
};

packed_layer pack_layer(const layer_case& c, tbb_executor& ex, std::uint64_t seed) {
    packed_layer p;
    std::mt19937_64 rng(seed);
    auto blocks = [&](std::int64_t count) {
        std::vector<block_q4_0> b(static_cast<std::size_t>(count));
        for (auto& x : b) {
            x.d = fp32_to_fp16(float(1 + rng() % 64) / 4096.0f);
            for (auto& q : x.qs) q = std::uint8_t(rng());
        }
        return b;
    };
    for (const auto& w : c.weights) {
        if (w.experts) {
            const auto b = blocks(w.experts * w.n * w.k / 32);
            auto packed = pack_q4_0_vnni_experts(b.data(), w.experts, w.n, w.k, ex);
            p.bytes += std::size_t(packed.view().expert_stride * w.experts);
            if (w.name.find("gate_exps") != std::string::npos) p.gate = std::move(packed);
            else if (w.name.find("up_exps") != std::string::npos) p.up = std::move(packed);
            else p.down = std::move(packed);
        } else {
            const auto b = blocks(w.n * w.k / 32);
            p.dense.push_back(pack_q4_0_vnni(q4_0_matrix_view{b.data(), w.n, w.k}, ex));
            p.bytes += p.dense.back().size_bytes();
        }
    }
    return p;
}

/// Runs the layer's matmuls once: dense weights in file order (gate/up read x, down reads the FFN
/// intermediate), then moe_ffn when the layer has experts.
void run_layer(const layer_case& c, const packed_layer& p, std::int64_t m, const std::vector<float>& x,
               std::vector<float>& y, const std::vector<std::int32_t>& ids, std::int64_t top_k, tbb_executor& ex) {
    std::size_t di = 0;
    for (const auto& w : c.weights) {
        if (w.experts) continue;
        const auto& pw = p.dense[di++];
        gemm_q4_0(pw.view(), m, x.data(), w.k, y.data(), w.n, gemm_options{}, ex);
    }
    if (!p.gate.empty()) {
        const std::int64_t k = p.gate.view().layout.k;
        moe_routing r{m, top_k, ids.data(), top_k};
        moe_ffn(p.gate.view(), p.up.view(), p.down.view(), r, nullptr, 0, x.data(), k, y.data(), k, moe_ffn_options{}, ex);
    }
}

}  // namespace

int main(int argc, char** argv) try {
    bool quick = false, as_json = false;
    int threads = 0;
    std::string calib_in, calib_out;
    std::vector<std::string> which{"qwen3", "dense"};
    std::vector<std::int64_t> ms{1, 64, 512, 2048};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--quick") quick = true;
        else if (a == "--json") as_json = true;
        else if (a == "--threads") threads = std::atoi(next().c_str());
        else if (a == "--calibration") calib_in = next();
        else if (a == "--save-calibration") calib_out = next();
        else if (a == "--m") ms = parse_list(next());
        else if (a == "--layers") {
            which.clear();
            const std::string v = next();
            if (v.find("qwen3") != std::string::npos) which.push_back("qwen3");
            if (v.find("dense") != std::string::npos) which.push_back("dense");
        } else if (a == "--help" || a == "-h") {
            std::cout << "amxmm_bench_plan_accuracy [--quick] [--json] [--threads N] [--calibration FILE] "
                         "[--save-calibration FILE] [--layers qwen3,dense] [--m 1,64,512,2048]\n";
            return 0;
        } else {
            throw std::runtime_error("unknown argument " + a);
        }
    }
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    if (quick) ms = {1, 64};

    calibration_data calib;
    if (!calib_in.empty()) {
        calib = calibration_from_json(json::parse_file(calib_in));
    } else {
        calibration_options co;
        co.quick = quick;
        co.threads = threads;
        co.progress = [](const std::string& what, int done, int total) {
            std::fprintf(stderr, "\rcalibrating [%2d/%2d] %-40s", done, total, what.c_str());
            if (done == total) std::fprintf(stderr, "\n");
        };
        const double t0 = now_s();
        calib = calibrate(co);
        std::fprintf(stderr, "calibration took %.1f s\n", now_s() - t0);
    }
    if (!calib_out.empty()) save_calibration(calib, calib_out);

    std::vector<layer_case> cases;
    for (const auto& w : which) {
        if (w == "qwen3") {
            model_shape s = qwen3_30b_a3b_q4_0_shape();
            if (quick) s.embedding = 512, s.heads = 8, s.kv_heads = 2, s.head_dim = 64, s.experts = 16, s.experts_used = 4, s.expert_feed_forward = 256;
            s.layers = 1;
            cases.push_back(make_case("qwen3-30b-a3b layer", make_model(s), 0));
        } else {
            model_shape s = llama3_8b_q4_0_shape();
            if (quick) s.embedding = 512, s.heads = 8, s.kv_heads = 2, s.feed_forward = 1024;
            s.layers = 1;
            cases.push_back(make_case("llama3-8b dense layer", make_model(s), 0));
        }
    }

    hardware_desc hw;  // this machine's CPU: limits from the calibration
    hw.cpu.threads = threads;
    hw.cpu.memory_bytes = 0;
    workload_desc wl;
    wl.prompt_batches = ms;
    wl.decode_batch = 1;
    wl.context = 4096;

    tbb_executor ex(threads);
    const std::int64_t llc = std::max<std::int64_t>(detected_cache_sizes().l3, 8 << 20);
    json::value out = json::value::array();
    if (!as_json)
        std::printf("%-24s %6s %14s %14s %8s  %s\n", "layer", "M", "predicted ms", "measured ms", "ratio", "(±25%)");
    for (const auto& c : cases) {
        const cost_model cm(c.model, hw, wl, calib);
        // Weights: one copy for M >= 512, a ring of copies >= 4 × LLC (<= 2 GiB) for smaller M.
        std::vector<packed_layer> ring;
        ring.push_back(pack_layer(c, ex, 1));
        const std::size_t per = std::max<std::size_t>(ring[0].bytes, 1);
        const std::size_t want = quick ? 1 : std::size_t(std::min<std::int64_t>(std::max<std::int64_t>(4 * llc, 0), 2ll << 30)) / per + 1;
        for (std::size_t i = 1; i < std::min<std::size_t>(want, 16); ++i) ring.push_back(pack_layer(c, ex, 1 + i));
        std::int64_t kmax = 0, nmax = 0, top_k = c.model.experts_used, e_count = c.model.experts;
        for (const auto& w : c.weights) kmax = std::max(kmax, w.k), nmax = std::max(nmax, w.n);
        const std::int64_t mmax = *std::max_element(ms.begin(), ms.end());
        std::vector<float> x(std::size_t(mmax * kmax)), y(std::size_t(mmax * std::max(nmax, kmax)));
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (auto& v : x) v = u(rng);
        std::vector<std::int32_t> ids(std::size_t(mmax * std::max<std::int64_t>(top_k, 1)));
        if (e_count > 0) {
            std::vector<std::int32_t> perm(static_cast<std::size_t>(e_count));
            for (std::int64_t t = 0; t < mmax; ++t) {
                for (std::int64_t i = 0; i < e_count; ++i) perm[std::size_t(i)] = std::int32_t(i);
                for (std::int64_t s = 0; s < top_k; ++s) {
                    const std::int64_t j = s + std::int64_t(rng() % std::uint32_t(e_count - s));
                    std::swap(perm[std::size_t(s)], perm[std::size_t(j)]);
                    ids[std::size_t(t * top_k + s)] = perm[std::size_t(s)];
                }
            }
        }
        for (std::size_t pi = 0; pi < ms.size(); ++pi) {
            const std::int64_t m = ms[pi];
            // Predicted: the layer's Q4_0 matmuls on cpu_amx, plus the per-call overhead of each call.
            double pred = 0;
            int calls = 0;
            std::size_t phase_index = 0;
            for (std::size_t q = 0; q < cm.phases().size(); ++q)
                if (!cm.phases()[q].decode && cm.phases()[q].m == m) phase_index = q;
            for (std::size_t i = 0; i < c.model.tensors.size(); ++i) {
                const auto& t = c.model.tensors[i];
                if (t.layer != c.layer || !t.is_matmul() || t.type != ggml_type::q4_0) continue;
                const double one = cm.tensor_seconds(i, 0, phase_index, placement::amx(), 0);
                pred += t.is_expert() ? one * double(t.experts) : one;
                ++calls;
            }
            if (e_count > 0) calls -= 2;  // moe_ffn is one call for gate, up and down
            pred += calls * cm.params().cpu_op_overhead_s;
            // Measured: median over runs, cycling the ring for M < 512.
            const bool cold = m < 512 && ring.size() > 1;
            run_layer(c, ring[0], m, x, y, ids, top_k, ex);  // warm-up
            std::vector<double> t;
            double total = 0;
            const int max_runs = m >= 512 ? 7 : 60;
            for (int r = 0; r < max_runs && (r < 5 || total < 0.3); ++r) {
                const auto& p = cold ? ring[std::size_t(r) % ring.size()] : ring[0];
                const double t0 = now_s();
                run_layer(c, p, m, x, y, ids, top_k, ex);
                t.push_back(now_s() - t0);
                total += t.back();
            }
            std::sort(t.begin(), t.end());
            const double meas = t[t.size() / 2];
            const double ratio = pred / meas;
            const bool pass = ratio >= 0.75 && ratio <= 1.25;
            if (as_json) {
                json::value j = json::value::object();
                j.set("layer", c.name);
                j.set("m", std::int64_t(m));
                j.set("predicted_s", pred);
                j.set("measured_s", meas);
                j.set("ratio", ratio);
                j.set("pass", pass);
                j.set("cold", cold);
                j.set("threads", threads);
                j.set("machine", calib.machine);
                out.push_back(j);
            } else {
                std::printf("%-24s %6lld %14.3f %14.3f %8.2f  %s\n", c.name.c_str(), (long long)m, pred * 1e3, meas * 1e3,
                            ratio, pass ? "PASS" : "FAIL");
            }
        }
    }
    if (as_json) std::cout << json::dump(out) << "\n";
    else std::printf("machine: %s\n", calib.machine.c_str());
    return 0;
} catch (const std::exception& e) {
    std::cerr << "amxmm_bench_plan_accuracy: " << e.what() << "\n";
    return 1;
}
