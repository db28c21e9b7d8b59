# Session 15, run f: the VBMI bf16 expansion (working tree) against HEAD (.probe/s15/base) in pairs, the expansion
# alone on one core (expand_bench), and the CPU test suite on the device's AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s15/base . /tmp/ab_f > $OUT/build_ab.txt 2>&1 &
g++ -O2 -std=c++17 -DNDEBUG -Wno-psabi -I include .probe/s15/expand_bench.cpp -o /tmp/expb > $OUT/build_expb.txt 2>&1 &
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/b --target amxmm_tests -j12 > $OUT/test_build.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/expb > $OUT/f_expand_bench.txt 2>&1
CASES="moe_ffn qwen3 M512,moe_gemm qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M2048,gemm fast K,decode fast"
/tmp/ab_f 11 "$CASES" > $OUT/f_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/b/tests/amxmm_tests "~[large]" > $OUT/f_cpu_tests.txt 2>&1; echo "tests rc=$?" >> $OUT/log.txt
grep -B3 -A20 FAILED $OUT/f_cpu_tests.txt | head -40 >> $OUT/log.txt; tail -3 $OUT/f_cpu_tests.txt >> $OUT/log.txt
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt $OUT/f_expand_bench.txt; cut -c1-150 $OUT/f_ab.txt
