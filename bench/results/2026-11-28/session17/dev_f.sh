# Session 17, run f: the CUDA targets on this session's H200 (tests + the target cases of amxmm_bench_cuda,
# CUDA code unchanged since 2e72c56), then amxmm_bench_moe's Qwen3 layer on the CPU at HEAD (two processes).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
(cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/bj --target amxmm_bench_moe -j2 > $OUT/build_moe.txt 2>&1) &
AMXMM_CUDA_BENCH_FILTER='cuda/dense/K(2048_N4096|4096_N4096|4096_N14336|14336_N4096)/M(1|512|2048)/(automatic|cublas_bf16)/(hot|cold)|cuda/(moe_ffn|moe_gemm_up|moe_gemm_down)/qwen3_30b_a3b/M(1|512|2048)/(automatic|cublas_bf16_grouped)' \
  AMXMM_BENCH_MIN_TIME=0.05 bash scripts/cuda-device-check.sh > $OUT/f_cuda_check.log 2>&1
echo "cuda rc $? $(( $(date +%s) - T0 )) s" > $OUT/log.txt
wait
F='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/f_bench_moe_$i.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; grep -E "tests exit|All tests|test cases|BUILD|built in" $OUT/f_cuda_check.log | head
grep -E "^cuda|probe|H200|H100" $OUT/cuda-bench.txt | cut -c1-230 | head -60
for i in 1 2; do grep -iE "probe" $OUT/f_bench_moe_$i.txt | head -3; grep -E "^moe" $OUT/f_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|tokens_per_second|pct_of_probe)=/) o=o" "$i; print o}'; done
