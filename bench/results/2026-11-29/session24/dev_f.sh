# session 24 f: at 7ff1610, amxmm_bench_moe's Qwen3 layer (M 512 / 2048, hot, two processes) and
# amxmm_bench_onednn (oneDNN bf16 / u8s8 with prepacked weights against amxmm fast / exact, K 2048/4096 x N 4096,
# M 512/2048, two processes), as session 23's runs e and g.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
( cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF && cmake --build /tmp/bj --target amxmm_bench_moe amxmm_bench_onednn -j16 ) > $OUT/f_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/f_log.txt
F='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/f_bench_moe_$i.txt 2>&1; done
echo "bench_moe done $(( $(date +%s) - T0 )) s" >> $OUT/f_log.txt
for i in 1 2; do /tmp/bj/bench/amxmm_bench_onednn --benchmark_filter='K(2048|4096)_N4096/M(512|2048)/' > $OUT/f_onednn_$i.txt 2>&1; done
echo "onednn done $(( $(date +%s) - T0 )) s" >> $OUT/f_log.txt
cat $OUT/f_log.txt
for i in 1 2; do grep -iE "probe" $OUT/f_bench_moe_$i.txt | head -2; grep -E "^moe" $OUT/f_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|pct_of_probe|tokens_per_s|qwen3_expert_stack)/) o=o" "$i; print o}'; done
for i in 1 2; do grep -E "^(onednn|amxmm)" $OUT/f_onednn_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|ops|ratio_to_onednn|pct_of_probe)=/) o=o" "$i; print o}'; done
