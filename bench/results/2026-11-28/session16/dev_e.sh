# Session 16, run e: CUDA tests after the mma launcher merge (launch_mma_tile<MT, WM, Exact>), and the whole CPU
# suite (but [large]) on hardware AMX at the same tree.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/build_cpu.txt 2>&1 && cmake --build /tmp/b --target amxmm_tests -j6 >> $OUT/build_cpu.txt 2>&1; echo "cpu built $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; /tmp/b/tests/amxmm_tests "~[large]" > $OUT/e_cpu_tests.txt 2>&1; echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt) &
AMXMM_SKIP_BENCH=1 bash scripts/cuda-device-check.sh > $OUT/e_cuda_check.log 2>&1
echo "cuda done rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
wait
cat $OUT/log.txt; grep -E "tests exit|All tests|test cases|BUILD|built in" $OUT/e_cuda_check.log | head; tail -3 $OUT/e_cpu_tests.txt
