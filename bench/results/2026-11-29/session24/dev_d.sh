# session 24 d: the bf16 expansion's FMA form for blocks of finite non-zero scales (fma = the working tree:
# that and the act_times loop bound), and the same with moe_ffn's slot rows written by streaming stores
# (fmantd); each against fd4eb1e, bench/ab, two processes of 11 rounds. Then the CPU suite but [large] on
# hardware AMX at the working tree.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s24
bench/ab/build.sh $S/base $S/fma /tmp/ab_fma > $OUT/d_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/fmantd /tmp/ab_fmantd >> $OUT/d_build.txt 2>&1 &
( cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF && cmake --build /tmp/cpu -j10 ) > $OUT/d_build_tests.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/d_log.txt
cases="gemm fast,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_ffn qwen3 M16 hot,auto K4096 N14336 M16"
for p in 1 2; do /tmp/ab_fma 11 "$cases" > $OUT/d_fma_$p.txt 2>&1; done
echo "fma done $(( $(date +%s) - T0 )) s" >> $OUT/d_log.txt
for p in 1 2; do /tmp/ab_fmantd 11 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048" > $OUT/d_fmantd_$p.txt 2>&1; done
echo "fmantd done $(( $(date +%s) - T0 )) s" >> $OUT/d_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/d_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/d_log.txt
cat $OUT/d_log.txt; grep -i error $OUT/d_build.txt | head; tail -3 $OUT/d_cpu_tests.txt
for f in $OUT/d_f*.txt; do echo "== $f"; grep "new/base" $f | sed 's/min .*new\/base/ratio/' | cut -c1-100; done
