# session 11 d: x loaded first in moe_rows_exact_kernel (working tree) vs HEAD 96f9174: CUDA tests, amxmm_bench_cuda A/B
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
mkdir -p /tmp/bt_base && tar --exclude=./.probe --exclude=./.device-deps -cf - . | tar -xf - -C /tmp/bt_base && rm -rf /tmp/bt_base/include && cp -r .probe/s11/base/include /tmp/bt_base/include
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV"
(cmake -S /tmp/bt_base -B /tmp/cbb $C -DAMXMM_BUILD_TESTS=OFF > /tmp/cbb.log 2>&1 && cmake --build /tmp/cbb -j6 --target amxmm_bench_cuda >> /tmp/cbb.log 2>&1) &
(cmake -S . -B /tmp/cb $C -DAMXMM_BUILD_TESTS=ON > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j10 --target amxmm_cuda_tests amxmm_bench_cuda >> $OUT/build.log 2>&1) &
wait
tail -1 $OUT/build.log; tail -1 /tmp/cbb.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
F='cuda/(moe_ffn/qwen3_30b_a3b/M(1|4|8|16)/automatic/cold|moe_gemm_(up|down)/qwen3_30b_a3b/M(1|4|16)/automatic/cold|dense/K4096_N14336/M1/automatic/cold)'
for i in 1 2; do
  AMXMM_BENCH_MIN_TIME=0.05 /tmp/cbb/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/bench_base_$i.txt 2>&1
  AMXMM_BENCH_MIN_TIME=0.05 /tmp/cb/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/bench_new_$i.txt 2>&1
done
for f in $OUT/bench_*.txt; do echo "== $f"; grep -E "^cuda/" $f | sed 's/min_time:0.050\/manual_time//' | awk '{print $1, $2, $3}'; done
