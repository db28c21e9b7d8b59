// amxmm planner umbrella: everything under plan/ — descriptions of models, machines and workloads,
// the cost model and its calibration, the solver, the what-if evaluation of llama.cpp flags, and the
// reports (table, explanation, JSON, llama.cpp flags).
//
//   #include <amxmm/plan.hpp>
//   using namespace amxmm::plan;
//   model_desc model = model_from_gguf("model.gguf");
//   hardware_desc hw = detect_hardware();
//   workload_desc wl;  wl.prompt_batches = {2048};
//   cost_model cm(model, hw, wl, load_calibration(default_calibration_path(), machine_key()).value_or(calibration_data{}));
//   solve_result r = solve(cm);
//   std::cout << format_table(cm, r.best, r.score) << explain(cm, r);
#pragma once

#include "plan/json.hpp"
#include "plan/model.hpp"
#include "plan/hardware.hpp"
#include "plan/workload.hpp"
#include "plan/cost_model.hpp"
#include "plan/calibration.hpp"
#include "plan/solver.hpp"
#include "plan/whatif.hpp"
#include "plan/report.hpp"
