// amxmm-plan: where should each weight of a GGUF model live on this machine (or a described one)?
//
//   amxmm-plan MODEL.gguf [options]
//   amxmm-plan --preset qwen3_30b_a3b_q4_0 --hardware examples/hardware/seed-spr-rtx5090.json --batch 2048 --ngl 12
//
// Prints the plan per layer, the predicted tokens/s, why (binding constraint, next-best plan), with
// --llama-cpp the -ngl/-ot flags, and with --ngl/--ot the what-if of that llama.cpp placement beside the
// plan. --json prints the JSON report only (docs/plan-json-schema.md).
//
// Exit status: 0 a plan that fits, 1 an error (bad input, unreadable file), 2 a usage error, 3 no plan
// fits the machine (the least bad one is printed, with its PROBLEM lines / "valid": false).
#include <amxmm/plan.hpp>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

const char* usage =
    "usage: amxmm-plan MODEL.gguf [options]\n"
    "       amxmm-plan --preset NAME [options]\n"
    "\n"
    "  --hardware FILE.json   plan for the machine described there (default: detect this machine)\n"
    "  --gpu-mem SIZE         memory of every GPU, e.g. 24GiB (overrides the description)\n"
    "  --batch N              prompt-processing ubatch (tokens), repeatable (default 512)\n"
    "  --decode-batch N       sequences decoded together (default 1)\n"
    "  --ctx N                context the KV cache holds (default 4096)\n"
    "  --prompt-tokens N      objective: prompt length of the job to minimise (default 2048)\n"
    "  --gen-tokens N         objective: tokens generated per job (default 256)\n"
    "  --calibrate            time amxmm's kernels on this machine now (and cache the result)\n"
    "  --calibration FILE     calibration cache to read/write (default $XDG_CACHE_HOME/amxmm/calibration.json)\n"
    "  --quick-calibration    tiny shapes (seconds; for testing the tool)\n"
    "  --json                 print the JSON report only\n"
    "  --llama-cpp            print llama.cpp flags for the plan\n"
    "  --ngl N                what-if: llama.cpp -ngl N\n"
    "  --ot REGEX=DEV         what-if: llama.cpp -ot rule (repeatable; DEV = CPU, AMX, CUDA0, ...)\n"
    "  --cpu-layout amx|host  what-if: CPU tensors without a rule are AMX-repacked (default) or not\n"
    "  --preset NAME          a built-in model instead of a file: ";

// Exit status when no plan fits the machine (see the top of this file).
constexpr int exit_no_fit = 3;

int to_int(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || x < 0) throw amxmm::error(amxmm::errc::invalid_argument, flag + " " + v + ": not a count");
    if (errno == ERANGE || x > INT_MAX)  // never narrowed: 4294971392 must not become 4096
        throw amxmm::error(amxmm::errc::invalid_argument,
                           flag + " " + v + ": out of range (0 to " + std::to_string(INT_MAX) + ")");
    return int(x);
}

}  // namespace

int main(int argc, char** argv) try {
    using namespace amxmm::plan;
    std::string model_path, preset, hw_path, gpu_mem, calib_path;
    std::vector<std::int64_t> batches;
    workload_desc wl;
    objective_weights ow;
    bool calibrate_now = false, quick = false, as_json = false, llama = false, have_whatif = false;
    llama_flags wf;
    whatif_options wopt;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw amxmm::error(amxmm::errc::invalid_argument, a + " needs a value");
            return args[++i];
        };
        if (a == "-h" || a == "--help") {
            std::cout << usage;
            for (const auto& n : preset_names()) std::cout << n << " ";
            std::cout << "\n\nexit status: 0 a plan that fits, 1 an error, 2 a usage error, 3 no plan fits the machine\n";
            return 0;
        } else if (a == "--hardware") hw_path = value();
        else if (a == "--gpu-mem") gpu_mem = value();
        else if (a == "--batch") batches.push_back(to_int(a, value()));
        else if (a == "--decode-batch") wl.decode_batch = to_int(a, value());
        else if (a == "--ctx") wl.context = to_int(a, value());
        else if (a == "--prompt-tokens") ow.prompt_tokens = to_int(a, value());
        else if (a == "--gen-tokens") ow.decode_tokens = to_int(a, value());
        else if (a == "--calibrate") calibrate_now = true;
        else if (a == "--calibration") calib_path = value();
        else if (a == "--quick-calibration") quick = calibrate_now = true;
        else if (a == "--json") as_json = true;
        else if (a == "--llama-cpp") llama = true;
        else if (a == "--ngl") wf.ngl = to_int(a, value()), have_whatif = true;
        else if (a == "--ot") parse_override(value(), wf.overrides), have_whatif = true;
        else if (a == "--cpu-layout") {
            const std::string v = value();
            if (v != "amx" && v != "host") throw amxmm::error(amxmm::errc::invalid_argument, "--cpu-layout " + v + ": amx or host");
            wopt.layout = v == "amx" ? cpu_layout::amx : cpu_layout::host;
        } else if (a == "--preset") preset = value();
        else if (!a.empty() && a[0] == '-') throw amxmm::error(amxmm::errc::invalid_argument, "unknown option " + a + " (see --help)");
        else if (model_path.empty()) model_path = a;
        else throw amxmm::error(amxmm::errc::invalid_argument, "a second model file: " + a);
    }
    if (model_path.empty() == preset.empty()) {
        std::cerr << usage << "\n(give exactly one of MODEL.gguf and --preset)\n";
        return 2;
    }
    if (!batches.empty()) wl.prompt_batches = batches;

    const model_desc model = preset.empty() ? model_from_gguf(model_path) : model_preset(preset);
    hardware_desc hw = hw_path.empty() ? detect_hardware() : hardware_from_json_file(hw_path);
    if (!gpu_mem.empty())
        for (auto& g : hw.gpus) g.memory_bytes = parse_size(gpu_mem);

    // Calibration: measured on this machine, so used only when planning for this machine (no
    // --hardware) or when a calibration file is named explicitly.
    calibration_data calib;
    const std::string path = calib_path.empty() ? default_calibration_path() : calib_path;
    if (calibrate_now) {
        if (!hw_path.empty() && calib_path.empty())
            std::cerr << "amxmm-plan: note: --calibrate measures this machine, not the one in " << hw_path << "\n";
        calibration_options co;
        co.quick = quick;
        co.progress = [](const std::string& what, int done, int total) {
            std::fprintf(stderr, "\rcalibrating [%2d/%2d] %-40s", done, total, what.c_str());
            if (done == total) std::fprintf(stderr, "\n");
            std::fflush(stderr);
        };
        calib = calibrate(co);
        save_calibration(calib, path);
        if (!as_json) std::cerr << "calibration saved to " << path << "\n";
    } else if (hw_path.empty() || !calib_path.empty()) {
        if (auto c = load_calibration(path, calib_path.empty() ? machine_key() : std::string())) calib = *c;
    }

    const cost_model cm(model, hw, wl, calib, cost_params{}, ow);
    const solve_result r = solve(cm);
    std::vector<whatif_result> whatifs;
    if (have_whatif) whatifs.push_back(evaluate_llama_flags(cm, wf, wopt));

    const int status = r.score.valid ? 0 : exit_no_fit;
    if (as_json) {
        std::cout << json::dump(to_json(cm, r, whatifs)) << "\n";
        return status;
    }
    std::cout << "model:    " << model.name << " (" << model.architecture << ", " << model.layers << " layers";
    if (model.experts) std::cout << ", " << model.experts << " experts top-" << model.experts_used;
    std::cout << ", " << format_size(model.total_bytes()) << ")\n";
    std::cout << "machine:  " << hw.cpu.name << ", " << hw.cpu.threads << " threads";
    for (const auto& g : hw.gpus) std::cout << "; " << g.name << " " << format_size(g.memory_bytes);
    std::cout << "\nworkload: prompt batches";
    for (auto b : wl.prompt_batches) std::cout << " " << b;
    std::cout << ", decode batch " << wl.decode_batch << ", context " << wl.context << "\n";
    for (const auto& w : model.warnings) std::cout << "warning:  " << w << "\n";
    std::cout << "\n" << format_table(cm, r.best, r.score) << "\n" << explain(cm, r);
    if (llama) {
        const auto f = to_llama_flags(cm, r.best);
        std::cout << "\nllama.cpp: " << f.command_line() << (f.exact ? "   (exact)" : "   (approximate)") << "\n";
        for (const auto& n : f.notes) std::cout << "  note: " << n << "\n";
    }
    if (have_whatif) std::cout << "\nwhat-if (same cost model):\n" << format_whatif(cm, r, whatifs);
    if (status != 0) std::cerr << "amxmm-plan: " << r.binding << " (exit status " << status << ")\n";
    return status;
} catch (const std::exception& e) {
    std::cerr << "amxmm-plan: " << e.what() << "\n";
    return 1;
}
