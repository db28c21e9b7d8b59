// amxmm — quantized LLM matmul on Intel AMX (CPU umbrella header).
//
//   #include <amxmm/amxmm.hpp>
//
//   auto packed = amxmm::pack_q4_0_vnni({blocks, N, K});          // GGUF Q4_0 -> q4_0_vnni
//   amxmm::tbb_executor ex;                                       // or serial_executor, or your own
//   auto plan = amxmm::gemm_q4_0(packed.view(), M, x, K, y, N, {}, ex);   // Y = X · Wᵀ
//   // plan.backend / plan.mode / plan.reason say what ran and why.
//
// Layers (each folder includes only itself and the ones above it):
//   core -> format -> cpu -> pack -> tile -> kernel -> gemm -> exec
#pragma once

#include "core/aligned_buffer.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "core/version.hpp"
#include "cpu/cpu.hpp"
#include "exec/caller_threads.hpp"
#include "exec/executor.hpp"
#include "format/blocks.hpp"
#include "format/ggml_type.hpp"
#include "format/quantize.hpp"
#include "format/reference_gemm.hpp"
#include "gemm/dense_gemm.hpp"
#include "gemm/moe.hpp"
#include "gguf/gguf.hpp"
#include "pack/q4_0_vnni.hpp"
