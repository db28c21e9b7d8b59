# Session 19, run b: the exact row gemv's blocks per lane in flight (AMXMM_GEMV_ROW_UNROLL 3, 4; no L2 prefetch)
# against HEAD (U = 2), amxmm_bench_cuda decode, alternating processes.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
NV=-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV"
for u in 2 3 4; do
(cmake -S . -B /tmp/b_u$u $C "-DCMAKE_CUDA_FLAGS=-DAMXMM_GEMV_ROW_UNROLL=$u -DAMXMM_GEMV_ROW_PREFETCH=0" > $OUT/build_u$u.txt 2>&1 && cmake --build /tmp/b_u$u -j5 --target amxmm_bench_cuda >> $OUT/build_u$u.txt 2>&1) &
done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
F='cuda/dense/.*/M(1|2|4|8)/automatic/cold|cuda/moe_ffn/qwen3_30b_a3b/M(1|4)/automatic/cold'
for r in 1 2; do
  for u in 2 3 4; do
    AMXMM_BENCH_MIN_TIME=0.05 /tmp/b_u$u/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/b_bench_u${u}_$r.txt 2>&1
    echo "u$u $r $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
  done
done
cat $OUT/log.txt
for u in 2 3 4; do tail -n 1 $OUT/build_u$u.txt; done
