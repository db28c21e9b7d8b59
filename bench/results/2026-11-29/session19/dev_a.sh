# Session 19, run a: the exact row gemv with the row prefetched into L2 (working tree, U=2 and U=4) against HEAD
# (.probe/s19/base) and HEAD with U=4; CUDA tests of the working tree; amxmm_bench_cuda decode, alternating processes.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
NV=-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
rm -rf /tmp/basetree && mkdir -p /tmp/basetree && cp -r CMakeLists.txt cmake bench tests scripts examples fuzz docs README.md LICENSE /tmp/basetree/ 2>/dev/null
cp -r .probe/s19/base/include /tmp/basetree/include
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV"
(cmake -S /tmp/basetree -B /tmp/b_base $C > $OUT/build_base.txt 2>&1 && cmake --build /tmp/b_base -j5 --target amxmm_bench_cuda >> $OUT/build_base.txt 2>&1) &
(cmake -S /tmp/basetree -B /tmp/b_base4 $C -DCMAKE_CUDA_FLAGS=-DAMXMM_GEMV_ROW_UNROLL=4 > $OUT/build_base4.txt 2>&1 && cmake --build /tmp/b_base4 -j5 --target amxmm_bench_cuda >> $OUT/build_base4.txt 2>&1) &
(cmake -S . -B /tmp/b_new4 $C -DCMAKE_CUDA_FLAGS=-DAMXMM_GEMV_ROW_UNROLL=4 > $OUT/build_new4.txt 2>&1 && cmake --build /tmp/b_new4 -j5 --target amxmm_bench_cuda >> $OUT/build_new4.txt 2>&1) &
(cmake -S . -B /tmp/b_new -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV > $OUT/build_new.txt 2>&1 && cmake --build /tmp/b_new -j5 --target amxmm_cuda_tests amxmm_bench_cuda >> $OUT/build_new.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
for t in base base4 new new4; do tail -n 2 $OUT/build_$t.txt; done
/tmp/b_new/tests/amxmm_cuda_tests > $OUT/a_cuda_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
F='cuda/hbm|cuda/dense/.*/M(1|2|4|8)/automatic/cold|cuda/.*/qwen3_30b_a3b/M(1|4|8)/automatic/cold'
for r in 1 2; do
  for t in base new base4 new4; do
    AMXMM_BENCH_MIN_TIME=0.05 /tmp/b_$t/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/a_bench_${t}_$r.txt 2>&1
    echo "$t $r $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
  done
done
cat $OUT/log.txt; tail -3 $OUT/a_cuda_tests.txt
for f in $OUT/a_bench_*.txt; do echo "== $f"; grep -E "^cuda" $f | awk '{print $1, $2}'; done
