# session 23 e: the session's CPU changes (3582457) paired against 3114a60 (bench/ab, two processes of 11 rounds),
# amxmm_bench_moe's Qwen3 layer (two processes), the CPU suite but [large] on hardware AMX, and a K-chunk check
# on the new tree (same tree both sides, AB_KC_new 24 and 48 against the default 32)
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s23/base .probe/s23/final /tmp/ab_e > $OUT/e_build.txt 2>&1 &
bench/ab/build.sh .probe/s23/final .probe/s23/final /tmp/ab_same > $OUT/e_build_same.txt 2>&1 &
( cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF && cmake --build /tmp/bj --target amxmm_bench_moe -j4 ) > $OUT/e_build_moe.txt 2>&1 &
( cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF && cmake --build /tmp/cpu -j8 ) > $OUT/e_build_tests.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/e_log.txt
cases="gemm fast,gemm exact,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for p in 1 2; do /tmp/ab_e 11 "$cases" > $OUT/e_ab_$p.txt 2>&1; done
echo "ab done $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
F='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/e_bench_moe_$i.txt 2>&1; done
echo "bench_moe done $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/e_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
for kc in 24 48; do AB_KC_new=$kc /tmp/ab_same 9 "gemm fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048" > $OUT/e_kc$kc.txt 2>&1; done
echo "kc done $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
cat $OUT/e_log.txt; tail -2 $OUT/e_cpu_tests.txt
for f in $OUT/e_ab_*.txt $OUT/e_kc*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
for i in 1 2; do grep -iE "probe" $OUT/e_bench_moe_$i.txt | head -2; grep -E "^moe" $OUT/e_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|pct_of_probe|qwen3_expert_stack)/) o=o" "$i; print o}'; done
