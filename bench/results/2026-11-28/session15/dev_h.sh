# Session 15, run h: AMX exact vs fast at m = 8..16 (K4096 N14336, hot, 16 threads; amxmm_probe_kernel_block_cost,
# best of 5-call chunks in 0.3 s), alternating, 3 rounds; then amxmm_bench_gemm cold at M = 8 and 16.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/bg -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/bg --target amxmm_probe_kernel_block_cost amxmm_bench_gemm > $OUT/build.txt 2>&1
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
for r in 1 2 3; do for m in 8 9 10 12 14 16; do for mode in exact fast; do /tmp/bg/bench/amxmm_probe_kernel_block_cost amx $mode 16 $m; done; done; done > $OUT/h_block_cost.txt 2>&1
F='gemm/(exact|fast)/amx/K(2048_N4096|4096_N4096|4096_N14336)/M(8|16)/cold'
/tmp/bg/bench/amxmm_bench_gemm --benchmark_filter="$F" > $OUT/h_bench.txt 2>&1
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt $OUT/h_block_cost.txt; grep -E "^gemm" $OUT/h_bench.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{print $1, $2, $3}'
