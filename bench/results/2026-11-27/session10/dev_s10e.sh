# CUDA tests on this tree; moe shapes probe: e82e395 (.probe/base), this tree, and this tree with 1 block per step in moe_rows_exact_kernel (.probe/varU1)
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV"
(cmake -S . -B /tmp/cb $C -DAMXMM_BUILD_TESTS=ON > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j10 --target amxmm_cuda_tests >> $OUT/build.log 2>&1) &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/base/include -o /tmp/msb .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/msn .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/varU1/include -o /tmp/msu .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
wait
tail -2 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
for shape in "128 8 2048 768" "64 8 7168 2048" "8 2 4096 14336"; do
  for m in 1 4; do
    for t in b n u; do echo "== $t"; /tmp/ms$t $m $shape; done
  done
done 2>&1 | tee $OUT/moe_shapes.txt
