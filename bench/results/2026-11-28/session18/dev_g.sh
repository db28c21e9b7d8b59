# Session 18, run g: the CUDA tests on the H200 after the mma kernels' shared pipeline helpers (HEAD).
T0=$(date +%s)
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
cmake -S . -B /tmp/cg -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > $OUT/build_g.txt 2>&1 && cmake --build /tmp/cg -j16 --target amxmm_cuda_tests >> $OUT/build_g.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/cg/tests/amxmm_cuda_tests > $OUT/g_cuda_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; tail -n 3 $OUT/g_cuda_tests.txt; tail -n 5 $OUT/build_g.txt | cut -c1-200
