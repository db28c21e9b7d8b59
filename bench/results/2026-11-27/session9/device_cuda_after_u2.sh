# CUDA tests and M = 1 cold benchmark after the row gemv's U = 2 (H100).
set -u
b=/tmp/cb
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > $OUT/build.log 2>&1 || { tail -50 $OUT/build.log; exit 2; }
cmake --build $b -j16 --target amxmm_cuda_tests amxmm_bench_cuda >> $OUT/build.log 2>&1 || { tail -50 $OUT/build.log; exit 2; }
$b/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
AMXMM_BENCH_MIN_TIME=0.05 $b/bench/amxmm_bench_cuda --benchmark_filter='cuda/(dense/.*/M1/(cublas_bf16|automatic)/cold|moe_ffn/qwen3_30b_a3b/M1/automatic/cold)' > $OUT/bench.txt 2>&1
grep -E "^cuda/" $OUT/bench.txt | awk '{p=""; for(i=1;i<=NF;i++) if($i ~ /^pct_hbm=/) p=$i; print $1, $2, $3, p}'
grep "HBM copy probe" $OUT/bench.txt
