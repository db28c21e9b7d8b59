// Cost model: GPU calibration curves (device "gpu:<gpu_desc::name>", op "dense" or "experts").
//   - a dense curve 10x slower than the GPU roofline makes the GPU matmul prediction 10x slower: at the
//     calibrated shape and M it is the curve's value less the per-kernel overhead, between calibrated M
//     the log-log interpolation, beyond them and at other shapes the curve scaled by the GPU roofline;
//   - a curve of another GPU name (or a CPU curve) changes no GPU prediction;
//   - an "experts" curve changes the GPU prediction of expert tensors only, never the CPU's, and applies
//     to every GPU of that name;
//   - GPU curves survive the JSON cache (calibration_to_json / calibration_from_json / save / load);
//   - a copy of a calibrated cost model predicts the same after the original is gone;
//   - the solver: a GPU whose experts are calibrated as very slow gets no expert.
#include "catch_compat.hpp"

#include <amxmm/plan.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace amxmm::plan;

namespace {

constexpr double kGpuBw = 1e12;     // bytes/s
constexpr double kGpuFlops = 50e12; // FLOP/s

hardware_desc test_machine(int gpus = 1, const std::string& name = "TestGPU") {
    hardware_desc hw;
    hw.cpu.name = "test CPU";
    hw.cpu.cores = 16;
    hw.cpu.threads = 32;
    hw.cpu.memory_bytes = 64ull << 30;
    hw.cpu.dram_read_bytes_per_s = 100e9;
    hw.cpu.matmul_flops = 4e12;
    hw.cpu.vector_flops = 1e12;
    hw.cpu_reserve_bytes = 1ull << 30;
    hw.gpu_reserve_bytes = 64ull << 20;
    for (int g = 0; g < gpus; ++g) {
        gpu_desc d;
        d.name = name;
        d.memory_bytes = 64ull << 30;
        d.memory_bytes_per_s = kGpuBw;
        d.matmul_flops = kGpuFlops;
        d.host_to_device_bytes_per_s = 25e9;
        hw.gpus.push_back(d);
    }
    return hw;
}

/// The GPU roofline as cost_model.hpp documents it (default cost_params: half throughput at 32 rows).
double gpu_roof(double m, std::int64_t n, std::int64_t k, double bytes) {
    const double half = cost_params{}.gpu_matmul_half_rows;
    return std::max(2.0 * m * double(n) * double(k) / (kGpuFlops * m / (m + half)), bytes / kGpuBw);
}

double q4_bytes(std::int64_t n, std::int64_t k) { return double(n) * double(k) * 18.0 / 32.0; }

const std::vector<double> kDenseMs = {1, 16, 64, 512};

/// A dense curve for N × K on `device` whose time is `factor` × the GPU roofline plus the kernel overhead.
calibration_curve dense_curve(const std::string& device, std::int64_t n, std::int64_t k, double factor) {
    calibration_curve c;
    c.device = device;
    c.op = "dense";
    c.n = n;
    c.k = k;
    for (double m : kDenseMs) c.points.push_back({m, factor * gpu_roof(m, n, k, q4_bytes(n, k)) + cost_params{}.gpu_op_overhead_s});
    return c;
}

/// An "experts" curve (E experts of N × K, top-k, uniform routing): moe_gemm seconds per call for M tokens,
/// `factor` × the roofline of each active expert (rows / active rows each) plus one kernel overhead.
calibration_curve experts_curve(const std::string& device, std::int64_t e, std::int64_t top_k, std::int64_t n, std::int64_t k,
                                double factor, const std::vector<double>& ms) {
    calibration_curve c;
    c.device = device;
    c.op = "experts";
    c.n = n;
    c.k = k;
    c.experts = e;
    c.top_k = top_k;
    for (double m : ms) {
        const double rows = m * double(top_k);
        const double act = double(e) * (1.0 - std::pow(1.0 - 1.0 / double(e), rows));
        c.points.push_back({m, act * factor * gpu_roof(rows / act, n, k, q4_bytes(n, k)) + cost_params{}.gpu_op_overhead_s});
    }
    return c;
}

model_desc dense_model() {
    model_shape s;
    s.name = "dense";
    s.architecture = "llama";
    s.layers = 2;
    s.embedding = 2048;
    s.heads = 16;
    s.kv_heads = 4;
    s.feed_forward = 4096;
    s.vocabulary = 1000;
    return make_model(s);
}

model_desc moe_model() {
    model_shape s;
    s.name = "moe";
    s.architecture = "qwen3moe";
    s.layers = 2;
    s.embedding = 512;
    s.heads = 8;
    s.kv_heads = 2;
    s.feed_forward = 1024;
    s.vocabulary = 1000;
    s.experts = 8;
    s.experts_used = 2;
    s.expert_feed_forward = 256;
    return make_model(s);
}

int find_tensor(const model_desc& m, tensor_role role, int layer = 0) {
    for (std::size_t i = 0; i < m.tensors.size(); ++i)
        if (m.tensors[i].role == role && m.tensors[i].layer == layer) return int(i);
    return -1;
}

std::size_t phase_index(const cost_model& cm, bool decode, std::int64_t m) {
    for (std::size_t i = 0; i < cm.phases().size(); ++i)
        if (cm.phases()[i].decode == decode && cm.phases()[i].m == m) return i;
    FAIL("no phase " << (decode ? "decode@" : "prompt@") << m);
    return 0;
}

}  // namespace

TEST_CASE("plan cost model: a GPU dense curve scales GPU matmul predictions", "[plan]") {
    const model_desc m = dense_model();
    const hardware_desc hw = test_machine();
    workload_desc wl;
    wl.prompt_batches = {16, 512};
    wl.decode_batch = 1;
    wl.context = 1024;
    const std::int64_t n = 4096, k = 2048;
    const double b = q4_bytes(n, k);

    const cost_model plain(m, hw, wl);
    calibration_data calib;
    calib.curves.push_back(dense_curve("gpu:TestGPU", n, k, 10.0));
    const cost_model slow(m, hw, wl, calib);
    REQUIRE_FALSE(slow.calibrated());  // "calibrated" is about the CPU tables; a GPU curve is not one

    // Without curves: the roofline.
    for (double mm : {1.0, 16.0, 32.0, 512.0, 2048.0}) REQUIRE(plain.gpu_matmul_s(0, mm, n, k, b) == Approx(gpu_roof(mm, n, k, b)).epsilon(1e-12));

    // At the calibrated shape and M: the curve value less the kernel overhead (= 10x the roofline here).
    for (const auto& [mm, sec] : calib.curves[0].points) {
        CAPTURE(mm, sec);
        const double pred = slow.gpu_matmul_s(0, mm, n, k, b);
        REQUIRE(pred + slow.params().gpu_op_overhead_s == Approx(sec).epsilon(1e-9));
        REQUIRE(pred == Approx(10.0 * plain.gpu_matmul_s(0, mm, n, k, b)).epsilon(1e-9));
    }
    // Between calibrated M: log-log interpolation of the curve, so between its neighbours and near 10x.
    {
        const double mm = 32;
        const double pred = slow.gpu_matmul_s(0, mm, n, k, b);
        const double o = slow.params().gpu_op_overhead_s;
        const auto& pts = calib.curves[0].points;  // M = 16 and 64 are points 1 and 2
        const double want = std::exp(0.5 * (std::log(pts[1].second) + std::log(pts[2].second))) - o;
        CAPTURE(pred, want);
        REQUIRE(pred == Approx(want).epsilon(1e-9));
        REQUIRE(pred > pts[1].second - o);
        REQUIRE(pred < pts[2].second - o);
        REQUIRE(pred / plain.gpu_matmul_s(0, mm, n, k, b) == Approx(10.0).epsilon(0.1));
    }
    // Beyond the calibrated M: the end point scaled by the roofline of the curve's shape (exactly 10x here).
    REQUIRE(slow.gpu_matmul_s(0, 2048, n, k, b) == Approx(10.0 * gpu_roof(2048, n, k, b)).epsilon(1e-9));
    // Below the calibrated M likewise (the per-kernel overhead is removed before scaling, not scaled).
    {
        calibration_data from16;
        from16.curves.push_back(dense_curve("gpu:TestGPU", n, k, 10.0));
        from16.curves[0].points.erase(from16.curves[0].points.begin());  // M = 16, 64, 512
        std::reverse(from16.curves[0].points.begin(), from16.curves[0].points.end());  // unsorted is fine too
        const cost_model cm16(m, hw, wl, from16);
        for (double mm : {1.0, 4.0, 16.0, 64.0, 512.0, 4096.0})
            REQUIRE(cm16.gpu_matmul_s(0, mm, n, k, b) == Approx(10.0 * gpu_roof(mm, n, k, b)).epsilon(1e-9));
    }
    // Another shape: the curve's time scaled by the roofline ratio of the shapes (exactly 10x at a point).
    for (const auto& [n2, k2] : std::vector<std::pair<std::int64_t, std::int64_t>>{{512, 2048}, {2048, 8192}}) {
        const double b2 = q4_bytes(n2, k2);
        for (double mm : kDenseMs) {
            CAPTURE(n2, k2, mm);
            REQUIRE(slow.gpu_matmul_s(0, mm, n2, k2, b2) == Approx(10.0 * gpu_roof(mm, n2, k2, b2)).epsilon(1e-9));
        }
    }
    // CPU predictions do not move.
    for (double mm : {1.0, 64.0, 512.0}) {
        REQUIRE(slow.cpu_matmul_s(true, mm, n, k, b) == plain.cpu_matmul_s(true, mm, n, k, b));
        REQUIRE(slow.cpu_matmul_s(false, mm, n, k, b) == plain.cpu_matmul_s(false, mm, n, k, b));
    }

    // The model's own tensors: the precomputed GPU times of the 4096 × 2048 FFN gate are 10x, CPU ones equal.
    const int gate = find_tensor(m, tensor_role::ffn_gate);
    REQUIRE(gate >= 0);
    REQUIRE(m.tensors[std::size_t(gate)].rows == n);
    REQUIRE(m.tensors[std::size_t(gate)].cols == k);
    for (std::size_t pi = 0; pi < plain.phases().size(); ++pi) {
        CAPTURE(plain.phases()[pi].name());
        const double g0 = plain.tensor_seconds(std::size_t(gate), 0, pi, placement::on_gpu(0), 1);
        const double g1 = slow.tensor_seconds(std::size_t(gate), 0, pi, placement::on_gpu(0), 1);
        REQUIRE(g1 == Approx(10.0 * g0).epsilon(1e-9));
        REQUIRE(slow.tensor_seconds(std::size_t(gate), 0, pi, placement::amx(), 0) ==
                plain.tensor_seconds(std::size_t(gate), 0, pi, placement::amx(), 0));
        REQUIRE(slow.tensor_seconds(std::size_t(gate), 0, pi, placement::host(), 0) ==
                plain.tensor_seconds(std::size_t(gate), 0, pi, placement::host(), 0));
    }
    // And a plan with everything on the GPU predicts more GPU time.
    plan all_gpu;
    all_gpu.tensors.assign(m.tensors.size(), tensor_placement{placement::on_gpu(0), {}});
    all_gpu.attention_gpu.assign(std::size_t(m.layers), 0);
    const plan_score s0 = plain.score(all_gpu), s1 = slow.score(all_gpu);
    REQUIRE(s1.objective_s > s0.objective_s);
    for (std::size_t pi = 0; pi < s0.phases.size(); ++pi) REQUIRE(s1.phases[pi].breakdown.gpu_s > 2.0 * s0.phases[pi].breakdown.gpu_s);
}

TEST_CASE("plan cost model: GPU curves of another GPU name, or CPU curves, leave GPU predictions alone", "[plan]") {
    const model_desc m = moe_model();
    const hardware_desc hw = test_machine();
    workload_desc wl;
    wl.prompt_batches = {64, 512};
    wl.decode_batch = 2;
    wl.context = 1024;
    const int gate_exps = find_tensor(m, tensor_role::ffn_gate_exps);
    REQUIRE(gate_exps >= 0);
    const auto& te = m.tensors[std::size_t(gate_exps)];

    const cost_model plain(m, hw, wl);
    calibration_data other;
    other.curves.push_back(dense_curve("gpu:OtherName", 4096, 2048, 10.0));
    other.curves.push_back(experts_curve("gpu:OtherName", te.experts, m.experts_used, te.rows, te.cols, 10.0, {1, 16, 64, 512}));
    other.curves.push_back(dense_curve("TestGPU", 4096, 2048, 10.0));       // no "gpu:" prefix: not a GPU curve
    other.curves.push_back(dense_curve("gpu:TestGPU2", 4096, 2048, 10.0));  // a prefix match is no match
    other.curves.push_back(dense_curve("gpu:testgpu", 4096, 2048, 10.0));   // names are case-sensitive
    calibration_curve wrong_op = dense_curve("gpu:TestGPU", 4096, 2048, 10.0);
    wrong_op.op = "attention";  // an op the cost model does not know
    other.curves.push_back(wrong_op);
    const cost_model ignored(m, hw, wl, other);

    for (double mm : {1.0, 16.0, 100.0, 512.0, 4096.0}) {
        CAPTURE(mm);
        for (const auto& [n, k] : std::vector<std::pair<std::int64_t, std::int64_t>>{{4096, 2048}, {te.rows, te.cols}})
            REQUIRE(ignored.gpu_matmul_s(0, mm, n, k, q4_bytes(n, k)) == plain.gpu_matmul_s(0, mm, n, k, q4_bytes(n, k)));
        REQUIRE(ignored.gpu_expert_s(0, mm * 2 / 8, 0.7, te.rows, te.cols, q4_bytes(te.rows, te.cols)) ==
                plain.gpu_expert_s(0, mm * 2 / 8, 0.7, te.rows, te.cols, q4_bytes(te.rows, te.cols)));
    }
    // Every precomputed time and every plan's score are those of the uncalibrated model.
    for (std::size_t i = 0; i < m.tensors.size(); ++i)
        for (std::size_t pi = 0; pi < plain.phases().size(); ++pi)
            for (const placement& p : {placement::on_gpu(0), placement::amx(), placement::host()})
                for (int exec : {0, 1}) REQUIRE(ignored.tensor_seconds(i, 0, pi, p, exec) == plain.tensor_seconds(i, 0, pi, p, exec));
    const solve_result r0 = solve(plain), r1 = solve(ignored);
    REQUIRE(same_placement(r0.best, r1.best));
    REQUIRE(r0.score.objective_s == r1.score.objective_s);

    // A CPU curve (cpu_amx dense) moves CPU predictions but no GPU one.
    calibration_data cpu;
    calibration_curve c = dense_curve("gpu:TestGPU", 4096, 2048, 10.0);
    c.device = "cpu_amx";
    cpu.curves.push_back(c);
    const cost_model cpu_cal(m, hw, wl, cpu);
    REQUIRE(cpu_cal.calibrated());
    REQUIRE(cpu_cal.cpu_matmul_s(true, 64, 4096, 2048, q4_bytes(4096, 2048)) != plain.cpu_matmul_s(true, 64, 4096, 2048, q4_bytes(4096, 2048)));
    for (double mm : {1.0, 64.0, 512.0}) REQUIRE(cpu_cal.gpu_matmul_s(0, mm, 4096, 2048, q4_bytes(4096, 2048)) == plain.gpu_matmul_s(0, mm, 4096, 2048, q4_bytes(4096, 2048)));
}

TEST_CASE("plan cost model: a GPU experts curve changes GPU expert predictions only", "[plan]") {
    const model_desc m = moe_model();
    workload_desc wl;
    wl.prompt_batches = {16, 512};  // 16 < stream_min_batch: cpu_host computes on the CPU; 512 streams to the GPU
    wl.decode_batch = 1;
    wl.context = 1024;
    const int gate_exps = find_tensor(m, tensor_role::ffn_gate_exps);
    const int down_exps = find_tensor(m, tensor_role::ffn_down_exps);
    const int attn_q = find_tensor(m, tensor_role::attn_q);
    REQUIRE(gate_exps >= 0);
    REQUIRE(down_exps >= 0);
    REQUIRE(attn_q >= 0);
    const auto& te = m.tensors[std::size_t(gate_exps)];
    const std::int64_t E = te.experts, topk = m.experts_used;
    REQUIRE(E == 8);
    REQUIRE(topk == 2);

    for (int gpus : {1, 2}) {  // with two GPUs of the same name, the curve is each one's
        CAPTURE(gpus);
        const hardware_desc hw = test_machine(gpus);
        const cost_model plain(m, hw, wl);
        calibration_data calib;
        // Measured at the workload's batches (and others), on the gate/up shape, 10x the roofline.
        calib.curves.push_back(experts_curve("gpu:TestGPU", E, topk, te.rows, te.cols, 10.0, {1, 16, 64, 512}));
        const cost_model slow(m, hw, wl, calib);
        REQUIRE_FALSE(slow.calibrated());

        for (int g = 0; g < gpus; ++g) {
            CAPTURE(g);
            // Dense GPU matmuls keep the roofline: an experts curve is not a dense one.
            for (double mm : {1.0, 64.0, 512.0})
                REQUIRE(slow.gpu_matmul_s(g, mm, 4096, 2048, q4_bytes(4096, 2048)) == plain.gpu_matmul_s(g, mm, 4096, 2048, q4_bytes(4096, 2048)));
            for (std::int64_t ph_m : {16, 512}) {
                const std::size_t pi = phase_index(plain, false, ph_m);
                CAPTURE(ph_m);
                for (int i : {gate_exps, down_exps}) {
                    CAPTURE(m.tensors[std::size_t(i)].name);
                    const auto& t = m.tensors[std::size_t(i)];
                    // GPU: 10x (exact at a calibrated M: per active expert, scaled to the shape by the roofline).
                    const double g0 = plain.tensor_seconds(std::size_t(i), 0, pi, placement::on_gpu(g), 1 + g);
                    const double g1 = slow.tensor_seconds(std::size_t(i), 0, pi, placement::on_gpu(g), 1 + g);
                    REQUIRE(g1 == Approx(10.0 * g0).epsilon(1e-9));
                    // Independently: a × 10 × roofline(rows per active expert).
                    const double rows = double(ph_m) * double(topk) / double(E);
                    const double a = 1.0 - std::pow(1.0 - 1.0 / double(E), double(ph_m) * double(topk));
                    REQUIRE(g1 == Approx(a * 10.0 * gpu_roof(rows / a, t.rows, t.cols, q4_bytes(t.rows, t.cols))).epsilon(1e-9));
                    // CPU (AMX and file layout computed on the CPU): unchanged.
                    REQUIRE(slow.tensor_seconds(std::size_t(i), 0, pi, placement::amx(), 0) ==
                            plain.tensor_seconds(std::size_t(i), 0, pi, placement::amx(), 0));
                    REQUIRE(slow.tensor_seconds(std::size_t(i), 0, pi, placement::host(), 0) ==
                            plain.tensor_seconds(std::size_t(i), 0, pi, placement::host(), 0));
                    // Streamed to the GPU: the GPU's compute changes, the link time does not.
                    const double st0 = plain.tensor_seconds(std::size_t(i), 0, pi, placement::host(), 1 + g);
                    const double st1 = slow.tensor_seconds(std::size_t(i), 0, pi, placement::host(), 1 + g);
                    REQUIRE(st1 - g1 == Approx(st0 - g0).epsilon(1e-9));
                }
                // Non-expert tensors: unchanged everywhere.
                for (const placement& p : {placement::on_gpu(g), placement::amx()})
                    REQUIRE(slow.tensor_seconds(std::size_t(attn_q), 0, pi, p, p.kind == placement_kind::gpu ? 1 + g : 0) ==
                            plain.tensor_seconds(std::size_t(attn_q), 0, pi, p, p.kind == placement_kind::gpu ? 1 + g : 0));
            }
            // Between calibrated M: near 10x (interpolation), never the CPU's number.
            const double b = q4_bytes(te.rows, te.cols);
            for (double mm : {4.0, 32.0, 200.0, 2048.0}) {
                const double rows = mm * double(topk) / double(E);
                const double a = 1.0 - std::pow(1.0 - 1.0 / double(E), mm * double(topk));
                CAPTURE(mm);
                REQUIRE(slow.gpu_expert_s(g, rows, a, te.rows, te.cols, b) / plain.gpu_expert_s(g, rows, a, te.rows, te.cols, b) ==
                        Approx(10.0).epsilon(0.15));
                REQUIRE(slow.cpu_expert_s(true, rows, a, te.rows, te.cols, b) == plain.cpu_expert_s(true, rows, a, te.rows, te.cols, b));
            }
        }
    }

    // Without an experts curve, GPU experts follow the dense path, dense GPU curve included.
    const hardware_desc hw = test_machine();
    calibration_data dense;
    dense.curves.push_back(dense_curve("gpu:TestGPU", te.rows, te.cols, 10.0));
    const cost_model dm(m, hw, wl, dense);
    const double b = q4_bytes(te.rows, te.cols);
    for (double rows : {0.5, 4.0, 128.0})
        for (double a : {0.3, 1.0}) REQUIRE(dm.gpu_expert_s(0, rows, a, te.rows, te.cols, b) == a * dm.gpu_matmul_s(0, std::max(rows / a, 1.0), te.rows, te.cols, b));
    // With both, the experts curve wins for experts (here 3x) and the dense curve for dense matmuls (10x).
    dense.curves.push_back(experts_curve("gpu:TestGPU", E, topk, te.rows, te.cols, 3.0, {1, 16, 64, 512}));
    const cost_model both(m, hw, wl, dense);
    const cost_model plain(m, hw, wl);
    const std::size_t pi = phase_index(plain, false, 512);
    REQUIRE(both.tensor_seconds(std::size_t(gate_exps), 0, pi, placement::on_gpu(0), 1) ==
            Approx(3.0 * plain.tensor_seconds(std::size_t(gate_exps), 0, pi, placement::on_gpu(0), 1)).epsilon(1e-9));
    REQUIRE(both.gpu_matmul_s(0, 64, te.rows, te.cols, b) == Approx(10.0 * plain.gpu_matmul_s(0, 64, te.rows, te.cols, b)).epsilon(1e-9));
}

TEST_CASE("plan calibration: GPU curves round-trip through JSON and the cache file", "[plan]") {
    calibration_data d;
    d.machine = "test CPU | 32 threads | amx";
    d.cpu_name = "test CPU";
    d.threads = 32;
    d.isa = "amx";
    d.created = "2026-11-25T00:00:00Z";
    d.dram_read_bytes_per_s = 123e9;
    d.matmul_flops = 4.5e12;
    d.curves.push_back(dense_curve("gpu:TestGPU", 4096, 2048, 10.0));
    d.curves.push_back(experts_curve("gpu:TestGPU", 8, 2, 256, 512, 10.0, {1, 16, 64, 512}));
    d.curves.push_back(experts_curve("gpu:NVIDIA GeForce RTX 5090", 128, 8, 768, 2048, 1.5, {1, 16, 64, 512, 2048}));
    calibration_curve cpu = dense_curve("x", 512, 2048, 2.0);
    cpu.device = "cpu_amx";
    d.curves.push_back(cpu);

    auto check = [&](const calibration_data& back) {
        REQUIRE(back.machine == d.machine);
        REQUIRE(back.dram_read_bytes_per_s == Approx(d.dram_read_bytes_per_s).epsilon(1e-12));
        REQUIRE(back.curves.size() == d.curves.size());
        for (std::size_t i = 0; i < d.curves.size(); ++i) {
            const auto& a = d.curves[i];
            const auto& b = back.curves[i];
            CAPTURE(i, a.device, a.op);
            REQUIRE(b.device == a.device);
            REQUIRE(b.op == a.op);
            REQUIRE(b.n == a.n);
            REQUIRE(b.k == a.k);
            REQUIRE(b.experts == a.experts);
            REQUIRE(b.top_k == a.top_k);
            REQUIRE(b.points.size() == a.points.size());
            for (std::size_t j = 0; j < a.points.size(); ++j) {
                REQUIRE(b.points[j].first == a.points[j].first);
                REQUIRE(b.points[j].second == Approx(a.points[j].second).epsilon(1e-12));
            }
        }
    };
    const calibration_data back = calibration_from_json(json::parse(json::dump(calibration_to_json(d))));
    check(back);

    // Through the cache file, keyed by the machine.
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("amxmm-test-calib-" + std::to_string(::getpid()));
    const std::string path = (dir / "sub" / "calibration.json").string();
    save_calibration(d, path);
    const auto loaded = load_calibration(path, d.machine);
    REQUIRE(loaded.has_value());
    check(*loaded);
    REQUIRE_FALSE(load_calibration(path, "another machine").has_value());
    std::filesystem::remove_all(dir);

    // The reloaded curves predict what the originals do.
    const model_desc m = moe_model();
    const hardware_desc hw = test_machine();
    workload_desc wl;
    wl.prompt_batches = {64};
    const cost_model a(m, hw, wl, d), b(m, hw, wl, back);
    for (std::size_t i = 0; i < m.tensors.size(); ++i)
        REQUIRE(a.tensor_seconds(i, 0, 0, placement::on_gpu(0), 1) == Approx(b.tensor_seconds(i, 0, 0, placement::on_gpu(0), 1)).epsilon(1e-12));
    REQUIRE(a.gpu_matmul_s(0, 100, 4096, 2048, q4_bytes(4096, 2048)) == Approx(b.gpu_matmul_s(0, 100, 4096, 2048, q4_bytes(4096, 2048))).epsilon(1e-12));

    // A GPU curve without n/k is malformed like a CPU one.
    REQUIRE_THROWS_AS(calibration_from_json(json::parse(R"({"curves": [{"device": "gpu:TestGPU", "op": "experts", "points": [[1, 0.001]]}]})")),
                      amxmm::error);
}

TEST_CASE("plan cost model: a copy of a calibrated model outlives the original", "[plan]") {
    const model_desc m = dense_model();
    const hardware_desc hw = test_machine();
    workload_desc wl;
    wl.prompt_batches = {64};
    calibration_data calib;
    calib.curves.push_back(dense_curve("gpu:TestGPU", 4096, 2048, 10.0));
    calibration_curve cpu = dense_curve("x", 4096, 2048, 2.0);
    cpu.device = "cpu_amx";
    calib.curves.push_back(cpu);
    const double b = q4_bytes(4096, 2048);
    auto original = std::make_unique<cost_model>(m, hw, wl, calib);
    const double g = original->gpu_matmul_s(0, 100, 4096, 2048, b), c = original->cpu_matmul_s(true, 100, 4096, 2048, b);
    cost_model copy = *original;
    cost_model assigned(m, test_machine(), wl);
    assigned = *original;
    original.reset();
    // Reuse the freed memory with other bytes (a copy that still pointed into it would read them).
    std::vector<std::vector<char>> junk;
    for (int i = 0; i < 256; ++i) junk.emplace_back(std::size_t(16 + (i % 16) * 16), char(0x5a));
    std::vector<calibration_data> junk2(8, calibration_data{});
    for (auto& j : junk2) j.curves.assign(calib.curves.size(), calibration_curve{"junk", "junk", 1, 1, 0, 0, {{1e9, 1e9}}});
    REQUIRE(copy.gpu_matmul_s(0, 100, 4096, 2048, b) == g);
    REQUIRE(copy.cpu_matmul_s(true, 100, 4096, 2048, b) == c);
    REQUIRE(assigned.gpu_matmul_s(0, 100, 4096, 2048, b) == g);
    REQUIRE(assigned.cpu_matmul_s(true, 100, 4096, 2048, b) == c);
}

TEST_CASE("plan solver: a GPU calibrated as slow for experts gets no expert", "[plan]") {
    const model_desc m = moe_model();
    const hardware_desc hw = test_machine();  // 64 GiB GPU: the whole model fits
    workload_desc wl;
    wl.prompt_batches = {512};
    wl.decode_batch = 1;
    wl.context = 1024;
    const int gate_exps = find_tensor(m, tensor_role::ffn_gate_exps);
    const auto& te = m.tensors[std::size_t(gate_exps)];

    auto experts_on_gpu = [&](const plan& p) {
        std::int64_t on = 0;
        for (std::size_t i = 0; i < m.tensors.size(); ++i) {
            const auto& t = m.tensors[i];
            if (!t.is_expert()) continue;
            for (std::int64_t e = 0; e < t.experts; ++e) on += p.tensors[i].of_expert(e).kind == placement_kind::gpu;
        }
        return on;
    };
    std::int64_t all_experts = 0;
    for (const auto& t : m.tensors) all_experts += t.experts;

    // Uncalibrated: a GPU 12x the CPU's bandwidth with room for everything takes every expert.
    const cost_model plain(m, hw, wl);
    const solve_result r0 = solve(plain);
    REQUIRE(r0.score.valid);
    REQUIRE(experts_on_gpu(r0.best) == all_experts);

    // The GPU's experts calibrated 1000x slower than its roofline: no expert on the GPU (nor streamed to it).
    calibration_data calib;
    calib.curves.push_back(experts_curve("gpu:TestGPU", te.experts, m.experts_used, te.rows, te.cols, 1000.0, {1, 16, 64, 512, 2048}));
    const cost_model slow(m, hw, wl, calib);
    const solve_result r1 = solve(slow);
    REQUIRE(r1.score.valid);
    REQUIRE(experts_on_gpu(r1.best) == 0);
    for (std::size_t i = 0; i < m.tensors.size(); ++i)
        if (m.tensors[i].is_expert())
            for (std::int64_t e = 0; e < m.tensors[i].experts; ++e)
                REQUIRE(slow.exec_device(r1.best.tensors[i].of_expert(e), slow.phases()[0], 1 + r1.best.attention_gpu[std::size_t(m.tensors[i].layer)]) == 0);
    REQUIRE(r1.score.objective_s > r0.score.objective_s);
    REQUIRE(solve(slow).score.objective_s == r1.score.objective_s);  // deterministic

    // The same curve under another GPU's name: the uncalibrated plan.
    calib.curves[0].device = "gpu:OtherName";
    const cost_model other(m, hw, wl, calib);
    const solve_result r2 = solve(other);
    REQUIRE(same_placement(r2.best, r0.best));
    REQUIRE(r2.score.objective_s == r0.score.objective_s);
}

// ---- bad input (review findings): clear errors, no crash, no wrap-around --------------------------------

namespace {

/// The amxmm::error `f` throws: its message (empty when none was thrown).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const amxmm::error& e) {
        return e.what();
    }
    return {};
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// A CPU "experts" curve (as --calibrate writes one) for the moe_model's expert shape.
calibration_data cpu_experts_calibration(const model_desc& m) {
    const auto& te = m.tensors[std::size_t(find_tensor(m, tensor_role::ffn_up_exps))];
    calibration_data cal;
    calibration_curve c;
    c.device = "cpu_amx";
    c.op = "experts";
    c.n = te.rows;
    c.k = te.cols;
    c.experts = te.experts;
    c.top_k = m.experts_used;
    c.points = {{1, 1e-4}, {512, 1e-2}};
    cal.curves.push_back(c);
    return cal;
}

}  // namespace

TEST_CASE("cost model: a matmul or expert tensor of 0 rows, cols or experts is an error, not a crash", "[plan][cost]") {
    const hardware_desc hw = test_machine();
    for (const std::vector<std::int64_t>& dims : std::vector<std::vector<std::int64_t>>{{0, 256, 8}, {512, 0, 8}, {512, 256, 0}}) {
        model_desc m = moe_model();
        const int i = find_tensor(m, tensor_role::ffn_up_exps);
        m.tensors[std::size_t(i)] = describe_tensor(m.tensors[std::size_t(i)].name, amxmm::ggml_type::q4_0, dims);
        CAPTURE(dims);
        // With a calibrated CPU "experts" curve this dereferenced a null curve (pick_expert_curve found none).
        const std::string what = error_of([&] { cost_model(m, hw, workload_desc{}, cpu_experts_calibration(moe_model())); });
        CHECK(has(what, "blk.0.ffn_up_exps.weight"));
        CHECK(has(what, "1 or more expected"));
    }
    model_desc d = dense_model();
    const int q = find_tensor(d, tensor_role::attn_q);
    d.tensors[std::size_t(q)] = describe_tensor(d.tensors[std::size_t(q)].name, amxmm::ggml_type::q4_0, {0, 2048});
    CHECK(has(error_of([&] { cost_model(d, hw, workload_desc{}); }), "cols (K) = 0"));
}

TEST_CASE("cost model: an expert shape no calibration curve is near falls back to the roofline", "[plan][cost]") {
    const model_desc m = moe_model();
    const cost_model cal(m, test_machine(), workload_desc{}, cpu_experts_calibration(m));
    const cost_model plain(m, test_machine(), workload_desc{});
    REQUIRE(cal.calibrated());
    // K = 0 has no distance to any curve (log 0): the dense path, as without calibration (was a null dereference).
    for (bool amx : {true, false}) {
        const double t = cal.cpu_expert_s(amx, 4, 0.5, 256, 0, 0);
        CHECK(std::isfinite(t));
        CHECK(t == plain.cpu_expert_s(amx, 4, 0.5, 256, 0, 0));
    }
    calibration_data g;
    g.curves.push_back(experts_curve("gpu:TestGPU", 8, 2, 256, 512, 10.0, {1, 16, 64, 512}));
    const cost_model gcal(m, test_machine(), workload_desc{}, g);
    CHECK(gcal.gpu_expert_s(0, 4, 0.5, 0, 512, 0) == plain.gpu_expert_s(0, 4, 0.5, 0, 512, 0));
}

TEST_CASE("cost model: memory sums saturate or are refused, never wrap around", "[plan][cost]") {
    const model_desc m = dense_model();
    // Tensors whose bytes sum past 2^64 (four 2^62-byte vectors): an error, not a small total.
    model_desc big = m;
    for (int i = 0; i < 4; ++i)
        big.tensors.push_back(describe_tensor("blk.0.big" + std::to_string(i) + ".bias", amxmm::ggml_type::f32,
                                              {std::int64_t(1) << 30, std::int64_t(1) << 30}));
    CHECK(has(error_of([&] { big.total_bytes(); }), "more than 2^64 - 1"));
    CHECK(has(error_of([&] { cost_model(big, test_machine(), workload_desc{}); }), "weights total more than 2^64 - 1"));

    // A reserve of 2^64 - 1 (JSON accepts it) is exceeded, not wrapped to a small number.
    hardware_desc hw = test_machine();
    hw.gpu_reserve_bytes = ~std::uint64_t(0);
    const cost_model cm(m, hw, workload_desc{});
    plan on_gpu = solve(cost_model(m, test_machine(), workload_desc{})).best;
    const plan_score s = cm.score(on_gpu);
    REQUIRE(s.memory.size() == 2);
    CHECK(s.memory[1].used() == ~std::uint64_t(0));
    CHECK(s.memory[1].exceeded());
    CHECK_FALSE(s.valid);
    // The solver leaves such a GPU empty.
    const solve_result r = solve(cm);
    CHECK(r.score.valid);
    for (const auto& t : r.best.tensors) CHECK(t.where.kind != placement_kind::gpu);

    device_memory d;
    d.capacity = 1;
    d.weights = ~std::uint64_t(0) - 5;
    d.kv_cache = 10;
    CHECK(d.used() == ~std::uint64_t(0));
    CHECK(d.exceeded());
}

TEST_CASE("cost model: calibration, cost_params and objective_weights are validated", "[plan][cost]") {
    const model_desc m = dense_model();
    hardware_desc hw = test_machine(0);
    for (double bad : {-1.0, 0.0, std::nan("")}) {
        CAPTURE(bad);
        calibration_data cal;
        calibration_curve c = dense_curve("cpu_amx", 4096, 2048, 1.0);
        c.points[1].second = bad;
        cal.curves.push_back(c);
        // Negative, zero or NaN seconds made matmuls free (valid plans of objective 0 or NaN).
        CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, cal); }), "curves[0] (cpu_amx/dense) point 1"));
        cal.curves[0].points[1].second = 1e-3;
        cal.curves[0].points[0].first = bad;
        CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, cal); }), "point 0"));
        cal.curves[0].points[0].first = 1;
        cal.dram_read_bytes_per_s = bad;
        if (bad != 0.0) CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, cal); }), "dram_read_bytes_per_s"));

        cost_params p;
        p.cpu_op_overhead_s = bad;
        if (bad != 0.0) CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, {}, p); }), "cpu_op_overhead_s"));
        p = cost_params{};
        p.attention_query_tile = bad;  // divides
        CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, {}, p); }), "attention_query_tile"));

        objective_weights w;
        w.prompt_tokens = bad;
        if (bad != 0.0) CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, {}, {}, w); }), "prompt_tokens"));
        w = objective_weights{};
        w.decode_tokens = bad;
        if (bad != 0.0) CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, {}, {}, w); }), "decode_tokens"));

        hardware_desc h = test_machine();
        h.gpus[0].memory_bytes_per_s = bad;
        if (bad != 0.0) CHECK(has(error_of([&] { cost_model(m, h, workload_desc{}); }), "hardware.gpus[0].memory_bytes_per_s"));
    }
    calibration_data cal;
    calibration_curve e = experts_curve("cpu_amx", 8, 2, 256, 512, 1.0, {1, 16});
    e.top_k = 0;
    cal.curves.push_back(e);
    CHECK(has(error_of([&] { cost_model(m, hw, workload_desc{}, cal); }), "top_k = 0"));
    // Zero weights are fine (a job of no prompt or no decode).
    objective_weights w0;
    w0.prompt_tokens = 0;
    CHECK(error_of([&] { cost_model(m, hw, workload_desc{}, {}, {}, w0); }).empty());
}

TEST_CASE("cost model: calibration_from_json reads counts as checked integers", "[plan][cost]") {
    auto from = [](const std::string& t) { return error_of([&] { calibration_from_json(json::parse(t)); }); };
    const std::string curve = R"("device": "cpu_amx", "op": "dense", "k": 2048, "points": [[1, 0.001]])";
    CHECK(from(R"({"threads": 8, "curves": [{"n": 4096, )" + curve + "}]}").empty());
    // 1e30 threads and n = 1e300 were undefined behaviour (double -> int); 2.5 was truncated to 2.
    CHECK(has(from(R"({"threads": 1e30})"), "threads"));
    CHECK(has(from(R"({"threads": 4294967296})"), "threads"));
    CHECK(has(from(R"({"threads": 2.5})"), "threads"));
    std::string w = from(R"({"curves": [{"n": 1e300, )" + curve + "}]}");
    CHECK(has(w, "curves[0].n"));
    CHECK(has(from(R"({"curves": [{"n": 2.5, )" + curve + "}]}"), "curves[0].n"));
    CHECK(has(from(R"({"threads": "8"})"), "threads"));
    CHECK(has(from(R"({"dram_read_bytes_per_s": -5})"), "dram_read_bytes_per_s"));
    try {
        calibration_from_json(json::parse(R"({"threads": 1e30})"));
        FAIL("no error");
    } catch (const amxmm::error& e) {
        CHECK(e.code() == amxmm::errc::malformed_input);
    }
}

TEST_CASE("cost model: more than 63 GPUs is an error (devices are bits of a 64-bit set)", "[plan][cost]") {
    model_shape s;
    s.name = "tiny";
    s.architecture = "llama";
    s.layers = 2;
    s.embedding = 256;
    s.heads = 4;
    s.feed_forward = 512;
    s.vocabulary = 100;
    const model_desc m = make_model(s);
    CHECK(has(error_of([&] { cost_model(m, test_machine(70), workload_desc{}); }), "70 GPUs; the planner supports at most 63"));
    CHECK(has(error_of([&] { cost_model(m, test_machine(64), workload_desc{}); }), "64 GPUs"));
    const cost_model ok(m, test_machine(63), workload_desc{});  // the largest supported: shifts up to bit 63
    CHECK(ok.gpus() == 63);
    plan p = solve(cost_model(m, test_machine(1), workload_desc{})).best;
    for (auto& t : p.tensors)
        if (t.where.kind == placement_kind::gpu) t.where.gpu = 62;
    for (auto& a : p.attention_gpu)
        if (a >= 0) a = 62;
    CHECK(std::isfinite(ok.score(p).objective_s));
}
