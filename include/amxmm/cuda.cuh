// amxmm — Q4_0 matmul on NVIDIA GPUs (CUDA umbrella header; compile with nvcc, link amxmm::cuda).
//
//   #include <amxmm/cuda.cuh>
//
//   amxmm::cuda::context ctx;                                            // per device
//   auto w = amxmm::cuda::q4_0_weight::upload({blocks, N, K});           // GGUF Q4_0 -> GPU layout
//   ctx.reserve(amxmm::cuda::gemm_workspace_bytes(M, w.layout()));       // once
//   auto plan = amxmm::cuda::gemm_q4_0(ctx, w.view(), M, x, K, y, N, {}, stream);   // Y = X · Wᵀ
//   // plan.path / plan.reason say which kernel ran and why.
//
// weight.cuh (GPU weight types, upload/download), gemm.cuh (dense GEMM/GEMV, context, options),
// moe.cuh (moe_gemm, moe_ffn), kernels.cuh (device code), error.cuh (CUDA/cuBLAS errors).
#pragma once

#include "cuda/error.cuh"
#include "cuda/gemm.cuh"
#include "cuda/moe.cuh"
#include "cuda/weight.cuh"
