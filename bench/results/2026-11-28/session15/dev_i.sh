# Session 15, run i: amx_fast_kernel_pair (working tree) against HEAD (.probe/s15/base) in pairs; CPU tests on AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s15/base . /tmp/ab_i > $OUT/build_ab.txt 2>&1 &
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/b --target amxmm_tests -j12 > $OUT/test_build.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
CASES="moe_ffn qwen3 M512,moe_gemm qwen3 M512,decode fast,gemm fast K2048 N4096 M512"
/tmp/ab_i 15 "$CASES" > $OUT/i_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/b/tests/amxmm_tests "~[large]" > $OUT/i_cpu_tests.txt 2>&1; echo "tests rc=$?" >> $OUT/log.txt
grep -B3 -A20 FAILED $OUT/i_cpu_tests.txt | head -40 >> $OUT/log.txt; tail -3 $OUT/i_cpu_tests.txt >> $OUT/log.txt
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cut -c1-160 $OUT/i_ab.txt
