# session 24 g: at 0bbca85 (7ff1610's code), amxmm_bench_moe's Qwen3 layer with Zipf and uniform routing (M 512 / 2048,
# hot, two processes; the moe_gemm target asks Zipf >= 80% of uniform), and dense decode (amxmm_bench_gemm, best back
# end per M as in the targets table: M 1 and 16, cold) with the DRAM probe.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
( cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF && cmake --build /tmp/bj --target amxmm_bench_moe amxmm_bench_gemm -j16 ) > $OUT/g_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/g_log.txt
F='moe_(ffn|gemm)/qwen3_30b_a3b/(uniform|zipf)/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/g_bench_moe_$i.txt 2>&1; done
echo "bench_moe done $(( $(date +%s) - T0 )) s" >> $OUT/g_log.txt
G='gemm/(exact/(amx|avx512_vnni)|fast/amx)/K(2048|4096)_N(4096|14336)/M(1|16)/cold'
/tmp/bj/bench/amxmm_bench_gemm --benchmark_filter="$G" > $OUT/g_bench_gemm.txt 2>&1
echo "bench_gemm done $(( $(date +%s) - T0 )) s" >> $OUT/g_log.txt
cat $OUT/g_log.txt
for i in 1 2; do grep -E "^moe" $OUT/g_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|qwen3_expert_stack)/) o=o" "$i; print o}'; done
grep -iE "probe" $OUT/g_bench_gemm.txt | head -3; grep -E "^gemm" $OUT/g_bench_gemm.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(pct_of_probe|bytes_per_second)/) o=o" "$i; print o}'
