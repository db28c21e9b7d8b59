# session 22 i: amxmm_bench_moe's Qwen3 layer at the kept K chunk (commit after 1ee0761), two processes
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/i_build.txt 2>&1 && cmake --build /tmp/bj --target amxmm_bench_moe -j8 >> $OUT/i_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/i_log.txt
F='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/i_bench_moe_$i.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/i_log.txt
cat $OUT/i_log.txt
for i in 1 2; do grep -iE "probe" $OUT/i_bench_moe_$i.txt | head -3; grep -E "^moe" $OUT/i_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|tokens_per_second|pct_of_probe|expert_stack)/) o=o" "$i; print o}'; done
