# Session 19, run d: automatic takes wgmma only on weights of 2^24 elements or more (working tree) against HEAD
# (.probe/s19/base): CUDA tests of the working tree; amxmm_bench_cuda of both (dense, m = 16..128), alternating.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
NV=-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
rm -rf /tmp/basetree && mkdir -p /tmp/basetree && cp -r CMakeLists.txt cmake bench tests scripts examples fuzz docs README.md LICENSE /tmp/basetree/ 2>/dev/null
cp -r .probe/s19/base/include /tmp/basetree/include
(cmake -S /tmp/basetree -B /tmp/cbase -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV > $OUT/build_base.txt 2>&1 && cmake --build /tmp/cbase -j6 --target amxmm_bench_cuda >> $OUT/build_base.txt 2>&1) &
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV > $OUT/build_new.txt 2>&1 && cmake --build /tmp/cb -j10 --target amxmm_cuda_tests amxmm_bench_cuda >> $OUT/build_new.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
tail -n 2 $OUT/build_base.txt; tail -n 2 $OUT/build_new.txt
/tmp/cb/tests/amxmm_cuda_tests > $OUT/d_cuda_tests.txt 2>&1
echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
F='cuda/dense/K(2048|4096)_N4096/M(16|32|64|128)/automatic/'
for t in base new; do
  B=/tmp/cb; [ $t = base ] && B=/tmp/cbase
  AMXMM_BENCH_MIN_TIME=0.05 $B/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/d_bench_${t}.txt 2>&1
  echo "$t $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
done
cat $OUT/log.txt; tail -3 $OUT/d_cuda_tests.txt
for t in base new; do echo "== $t"; grep -E "^cuda" $OUT/d_bench_$t.txt | awk '{print $1, $2, $NF}'; done
