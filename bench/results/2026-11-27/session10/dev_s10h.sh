# CUDA tests; moe shapes probe e82e395 (.probe/base) vs this tree (moe_ffn's long down rows back on the row gemv + slot sum)
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j12 --target amxmm_cuda_tests >> $OUT/build.log 2>&1) &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/base/include -o /tmp/msb .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/msn .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
wait
tail -2 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
for shape in "128 8 2048 768" "64 8 7168 2048" "8 2 4096 14336"; do
  for m in 1 4; do
    for t in b n; do echo "== $t"; /tmp/ms$t $m $shape | grep moe_ffn; done
  done
done > $OUT/moe_shapes.txt 2>&1; cat $OUT/moe_shapes.txt
