# Session 18, run f: the CPU test suite but [large] at HEAD on hardware AMX (the default back end).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/build_tests.txt 2>&1 && cmake --build /tmp/b --target amxmm_tests -j16 >> $OUT/build_tests.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/b/tests/amxmm_tests "~[large]" > $OUT/f_cpu_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; tail -n 4 $OUT/f_cpu_tests.txt; tail -n 5 $OUT/build_tests.txt | cut -c1-200
