#!/usr/bin/env bash
# CUDA state on the H100: M=1 cold, M=512 hot, plain-read probe, tests.
set -u
nvidia-smi > $OUT/nvidia-smi.txt 2>&1
b=/tmp/cb
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > $OUT/build.log 2>&1 || { tail -50 $OUT/build.log; exit 2; }
cmake --build $b -j16 --target amxmm_cuda_tests amxmm_bench_cuda amxmm_probe_cuda_launch_and_stream >> $OUT/build.log 2>&1 || { tail -50 $OUT/build.log; exit 2; }
echo built $(date)
$b/bench/amxmm_probe_cuda_launch_and_stream > $OUT/probe.txt 2>&1
cat $OUT/probe.txt
AMXMM_BENCH_MIN_TIME=0.05 $b/bench/amxmm_bench_cuda --benchmark_filter='cuda/(dense/.*/M(1|512)/(cublas_bf16|automatic|dequant_cublas|wgmma)/(cold|hot)|moe_ffn/qwen3_30b_a3b/M1/automatic/cold)' \
--benchmark_out=$OUT/bench.json --benchmark_out_format=json > $OUT/bench.txt 2>&1
cat $OUT/bench.txt | cut -c1-220
$b/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
