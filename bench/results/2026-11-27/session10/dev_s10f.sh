# CUDA tests on this tree; moe shapes probe e82e395 (.probe/base) vs this tree; amxmm_bench_cuda MoE/dense decode both trees
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
mkdir -p /tmp/bt_base && tar --exclude=./.probe --exclude=./.device-deps -cf - . | tar -xf - -C /tmp/bt_base && rm -rf /tmp/bt_base/include && cp -r .probe/base/include /tmp/bt_base/include
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV"
(cmake -S /tmp/bt_base -B /tmp/cbb $C -DAMXMM_BUILD_TESTS=OFF > /tmp/cbb.log 2>&1 && cmake --build /tmp/cbb -j5 --target amxmm_bench_cuda >> /tmp/cbb.log 2>&1) &
(cmake -S . -B /tmp/cb $C -DAMXMM_BUILD_TESTS=ON > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j8 --target amxmm_cuda_tests amxmm_bench_cuda >> $OUT/build.log 2>&1) &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/base/include -o /tmp/msb .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/msn .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
wait
tail -2 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
for shape in "128 8 2048 768" "64 8 7168 2048" "8 2 4096 14336"; do
  for m in 1 4; do
    for t in b n; do echo "== $t"; /tmp/ms$t $m $shape; done
  done
done > $OUT/moe_shapes.txt 2>&1; cat $OUT/moe_shapes.txt
F='cuda/(moe_ffn/qwen3_30b_a3b/M(1|4|8|16)/automatic/cold|moe_gemm_(up|down)/qwen3_30b_a3b/M(1|4|16)/automatic/cold|dense/K(2048_N4096|4096_N14336|14336_N4096)/M(1|4|8)/automatic/cold|dense/K4096_N4096/M1/gemv/cold)'
for i in 1 2; do
  AMXMM_BENCH_MIN_TIME=0.05 /tmp/cbb/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/bench_base_$i.txt 2>&1
  AMXMM_BENCH_MIN_TIME=0.05 /tmp/cb/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/bench_new_$i.txt 2>&1
done
for f in $OUT/bench_*.txt; do echo "== $f"; grep -E "^cuda/" $f | sed 's/min_time:0.050\/manual_time//' | awk '{print $1, $2, $3}'; done
