# Session 17, run a: the MoE row sinks (working tree) against HEAD ee57a05, paired; timing-only variants of
# moe_ffn (each paired with the working tree); then the CPU suite but [large] on hardware AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
lscpu > $OUT/lscpu.txt 2>&1
V="noprep nopost nosum nogu nodown"
bench/ab/build.sh .probe/s17/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1 &
for v in $V; do bench/ab/build.sh . .probe/s17/v_$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/build_tests.txt 2>&1 && cmake --build /tmp/b --target amxmm_tests -j4 >> $OUT/build_tests.txt 2>&1) &
/tmp/ab_new 11 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,gemm fast K" > $OUT/a_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
for v in $V; do /tmp/ab_$v 7 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048" > $OUT/a_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
wait
/tmp/b/tests/amxmm_tests "~[large]" > $OUT/a_cpu_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; grep "Model name\|^CPU(s)\|L2\|L3" $OUT/lscpu.txt; cut -c1-175 $OUT/a_ab.txt; for v in $V; do echo "== $v"; cut -c1-175 $OUT/a_$v.txt; done; tail -3 $OUT/a_cpu_tests.txt
