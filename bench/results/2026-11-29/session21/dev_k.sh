# Session 21, run k: the CUDA tests on the H200 after the stale-error setup moved into cuda_support.cuh
# (leave_failed_malloc_pending); the two tests that use it first, then the whole CUDA suite.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_BENCH=OFF -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_CUDA_ARCHITECTURES=90a > $OUT/k_build.txt 2>&1 && cmake --build /tmp/cb -j16 --target amxmm_cuda_tests >> $OUT/k_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/k_log.txt
/tmp/cb/tests/amxmm_cuda_tests "*earlier failed runtime call*" > $OUT/k_cuda_stale.txt 2>&1
echo "stale-error tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/k_log.txt
/tmp/cb/tests/amxmm_cuda_tests > $OUT/k_cuda_tests.txt 2>&1
echo "cuda tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/k_log.txt
cat $OUT/k_log.txt; tail -3 $OUT/k_cuda_stale.txt; tail -3 $OUT/k_cuda_tests.txt; tail -3 $OUT/k_build.txt
