# Session 18, run d: the MoE tests (working tree: x's preparation in the queue) on hardware AMX; a third paired
# process against c64367a; amxmm_bench_moe's Qwen3 layer (two processes).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s18/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1 &
g++ -std=c++17 -O2 -DNDEBUG -pthread -DAMXMM_CATCH2_V3 -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1 -DAMXMM_TEST_PROJECT_VERSION='"x"' -Iinclude -Itests \
  tests/test_moe.cpp -o /tmp/tmoe -lCatch2Main -lCatch2 -ltbb -lhwloc > $OUT/build_tests.txt 2>&1 &
(cmake -S . -B /tmp/bj -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/bj --target amxmm_bench_moe -j4 > $OUT/build_moe.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/tmoe > $OUT/d_moe_tests.txt 2>&1; echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
AMXMM_ISA=amx /tmp/tmoe "[threads]" > $OUT/d_moe_tests_amx.txt 2>&1; echo "tests amx rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
C="moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,decode moe_ffn qwen3 M4 hot,decode moe_ffn qwen3 M1 hot"
/tmp/ab_new 11 "$C" > $OUT/d_ab.txt 2>&1; echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
F='moe_(ffn|gemm)/qwen3_30b_a3b/uniform/auto/amx/M(512|2048)/hot'
for i in 1 2; do /tmp/bj/bench/amxmm_bench_moe --benchmark_filter="$F" > $OUT/d_bench_moe_$i.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; tail -n 3 $OUT/d_moe_tests.txt $OUT/d_moe_tests_amx.txt; cut -c1-175 $OUT/d_ab.txt | grep -v "^#"
for i in 1 2; do grep -iE "probe" $OUT/d_bench_moe_$i.txt | head -3; grep -E "^moe" $OUT/d_bench_moe_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|tokens_per_second|pct_of_probe)=/) o=o" "$i; print o}'; done
