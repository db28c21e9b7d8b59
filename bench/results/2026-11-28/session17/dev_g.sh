# Session 17, run g: exact_columns with block b-1's rescale in quarters between block b's four tile products
# (working tree) against HEAD 0edc8b5, paired, 15 rounds; then [gemm],[moe] on hardware AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s17/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1 &
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/build_tests.txt 2>&1 && cmake --build /tmp/b --target amxmm_tests -j12 >> $OUT/build_tests.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab_new 15 "gemm exact,gemm fast K2048" > $OUT/g_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/b/tests/amxmm_tests "[gemm],[moe]" > $OUT/g_cpu_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cut -c1-175 $OUT/g_ab.txt; tail -3 $OUT/g_cpu_tests.txt
