# Session 16, run h: exact activation preparation 16 blocks at a time with the finiteness check folded in (working
# tree) against 1d551f2, paired; then [gemm] on hardware AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s16/base . /tmp/ab_prep > $OUT/build_ab.txt 2>&1 &
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/build_tests.txt 2>&1 && cmake --build /tmp/b --target amxmm_tests -j12 >> $OUT/build_tests.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab_prep 11 "gemm exact,decode auto K4096 N14336 M1 ,decode auto K4096 N14336 M4 ,decode auto K2048 N4096 M1,decode avx512_vnni K4096 N14336 M1 " > $OUT/h_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/b/tests/amxmm_tests "[gemm]" > $OUT/h_cpu_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cut -c1-175 $OUT/h_ab.txt; tail -3 $OUT/h_cpu_tests.txt
