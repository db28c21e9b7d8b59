#!/usr/bin/env bash
# Builds and runs amxmm's CUDA tests and CUDA benchmark on a machine with an NVIDIA GPU.
#   scripts/cuda-device-check.sh              # results into ./cuda-out (or "$OUT" when set)
# Environment:
#   OUT                      where the results go (default ./cuda-out): cuda-tests.txt, cuda-bench.txt,
#                            cuda_bench.json, nvidia-smi.txt, build.log
#   AMXMM_CUDA_ARCH          CMAKE_CUDA_ARCHITECTURES (default 90a: the H100/H200 with its wgmma kernel)
#   AMXMM_CUDA_BENCH_FILTER  --benchmark_filter regex (default: everything)
#   AMXMM_BENCH_MIN_TIME     seconds per benchmark (default 0.05)
#   AMXMM_SKIP_BENCH=1       tests only
# Exit status: that of the tests (the benchmark runs even when a test fails).
set -uo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-./cuda-out}"
mkdir -p "$out"
build=/tmp/cb
nvcc_args=()
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

echo "== configure + build (Release, CUDA arch ${AMXMM_CUDA_ARCH:-90a}) into $build"
start=$(date +%s)
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF \
         -DCMAKE_CUDA_ARCHITECTURES="${AMXMM_CUDA_ARCH:-90a}" "${nvcc_args[@]}" &&
       cmake --build "$build" -j "$(nproc)" --target amxmm_cuda_tests amxmm_bench_cuda; } > "$out/build.log" 2>&1; then
  tail -n 60 "$out/build.log"
  echo "BUILD FAILED (full log: $out/build.log)"
  exit 2
fi
echo "   built in $(( $(date +%s) - start )) s"

echo "== CUDA tests"
"$build/tests/amxmm_cuda_tests" --durations yes 2>&1 | tee "$out/cuda-tests.txt"
test_rc=${PIPESTATUS[0]}
echo "   tests exit status: $test_rc"

if [ "${AMXMM_SKIP_BENCH:-0}" != 1 ]; then
  echo "== CUDA benchmark"
  "$build/bench/amxmm_bench_cuda" --benchmark_filter="${AMXMM_CUDA_BENCH_FILTER:-.}" \
    --benchmark_out="$out/cuda_bench.json" --benchmark_out_format=json 2>&1 | tee "$out/cuda-bench.txt"
  echo "   benchmark exit status: ${PIPESTATUS[0]}"
fi
exit "$test_rc"
