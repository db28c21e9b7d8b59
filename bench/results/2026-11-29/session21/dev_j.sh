# Session 21, run j: the CPU suite but [large] and the C API tests on hardware AMX (16 cores) with the kept barrier
# (every caller-threads test at 16 hardware threads).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_CUDA=OFF > $OUT/j_build.txt 2>&1 && cmake --build /tmp/cb -j16 --target amxmm_tests amxmm_c_tests >> $OUT/j_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/j_log.txt
/tmp/cb/tests/amxmm_tests "~[large]" > $OUT/j_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/j_log.txt
/tmp/cb/tests/c/amxmm_c_tests > $OUT/j_c_tests.txt 2>&1
echo "c tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/j_log.txt
grep -c amx_tile /proc/cpuinfo >> $OUT/j_log.txt
cat $OUT/j_log.txt; tail -3 $OUT/j_cpu_tests.txt; tail -2 $OUT/j_c_tests.txt; tail -5 $OUT/j_build.txt
