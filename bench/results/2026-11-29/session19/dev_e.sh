# Session 19, run e: the exact row gemv's occupancy at m <= 2: __launch_bounds__ minimum CTAs per SM 4 (HEAD's),
# 5, 6, 8 (AMXMM_GEMV_ROW_MIN_CTAS; 56 / 48 / 40 / 32 registers, the last three with spills), amxmm_bench_cuda decode.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
NV=-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV"
for v in 4 5 6 8; do
(cmake -S . -B /tmp/b_m$v $C "-DCMAKE_CUDA_FLAGS=-DAMXMM_GEMV_ROW_MIN_CTAS=$v" > $OUT/build_m$v.txt 2>&1 && cmake --build /tmp/b_m$v -j4 --target amxmm_bench_cuda >> $OUT/build_m$v.txt 2>&1) &
done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
F='cuda/dense/.*/M(1|2)/automatic/cold|cuda/(moe_ffn|moe_gemm_up)/qwen3_30b_a3b/M1/automatic/cold'
for v in 4 5 6 8; do
  AMXMM_BENCH_MIN_TIME=0.05 /tmp/b_m$v/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/e_bench_m$v.txt 2>&1
  echo "m$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
done
cat $OUT/log.txt
for v in 4 5 6 8; do echo "== $v"; grep -E "^cuda" $OUT/e_bench_m$v.txt | awk '{print $1, $2}'; done
