# session 22 c: the CUDA tests (all; the C API's GPU plan now carries mode and k_splits) on the H200
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_BENCH=OFF -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_CUDA_ARCHITECTURES=90a > $OUT/c_build.txt 2>&1 && cmake --build /tmp/cb -j16 --target amxmm_cuda_tests >> $OUT/c_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/c_log.txt
/tmp/cb/tests/amxmm_cuda_tests > $OUT/c_cuda_tests.txt 2>&1
echo "cuda tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/c_log.txt
cat $OUT/c_log.txt; tail -4 $OUT/c_cuda_tests.txt; tail -3 $OUT/c_build.txt
