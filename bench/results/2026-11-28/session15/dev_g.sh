# Session 15, run g: decode cold, M = 1 and 16, exact and fast on AMX (and VNNI exact), with the VBMI bf16 expansion.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/bg -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/bg --target amxmm_bench_gemm > $OUT/build.txt 2>&1
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
F='gemm/(exact|fast)/amx/K(2048_N4096|4096_N4096|4096_N14336)/M(1|16|32)/cold|gemm/exact/avx512_vnni/K(2048_N4096|4096_N4096|4096_N14336)/M(1|16)/cold'
for i in 1 2; do /tmp/bg/bench/amxmm_bench_gemm --benchmark_filter="$F" > $OUT/g_bench_$i.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; for i in 1 2; do grep -E "dram_read_bytes" $OUT/g_bench_$i.txt; grep -E "^gemm" $OUT/g_bench_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{p=""; for(i=1;i<=NF;i++) if($i ~ /^pct_dram=/) p=$i; print $1, $2, $3, p}'; done
