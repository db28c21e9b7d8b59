# session 24 e: the bf16 expansion by table (VPERMPS of float(q - 8), "vps" = the working tree) against HEAD
# 379d5ef ("head"), and HEAD against fd4eb1e (the session's kept change: moe_ffn's slot rows by streaming
# stores), bench/ab, two processes each; the CPU suite but [large] on hardware AMX at the working tree.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s24
bench/ab/build.sh $S/head $S/vps /tmp/ab_vps > $OUT/e_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/head /tmp/ab_head >> $OUT/e_build.txt 2>&1 &
( cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF && cmake --build /tmp/cpu -j10 ) > $OUT/e_build_tests.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/e_log.txt
cases="gemm fast,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_ffn qwen3 M16 hot,auto K4096 N14336 M16"
for p in 1 2; do /tmp/ab_vps 11 "$cases" > $OUT/e_vps_$p.txt 2>&1; done
echo "vps done $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
for p in 1 2; do /tmp/ab_head 11 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M2048,gemm fast K2048 N4096 M2048" > $OUT/e_head_$p.txt 2>&1; done
echo "head done $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/e_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/e_log.txt
cat $OUT/e_log.txt; grep -i error $OUT/e_build.txt | head; tail -3 $OUT/e_cpu_tests.txt
for f in $OUT/e_[vh]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/min .*new\/base/ratio/' | cut -c1-100; done
