# Session 20, run b: after the review fixes (HEAD): CUDA tests and CPU tests (hardware AMX) of HEAD; amxmm_bench_cuda
# of HEAD against f5d1215 (.probe/s20/base: every launch now through cudaLaunchKernelEx), alternating.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
NV=-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
rm -rf /tmp/basetree && mkdir -p /tmp/basetree && cp -r CMakeLists.txt cmake bench tests scripts examples fuzz docs README.md LICENSE /tmp/basetree/ 2>/dev/null
cp -r .probe/s20/base/include /tmp/basetree/include
(cmake -S /tmp/basetree -B /tmp/cbase -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV > $OUT/build_base.txt 2>&1 && cmake --build /tmp/cbase -j4 --target amxmm_bench_cuda >> $OUT/build_base.txt 2>&1) &
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a $NV > $OUT/build_new.txt 2>&1 && cmake --build /tmp/cb -j12 --target amxmm_cuda_tests amxmm_bench_cuda amxmm_tests >> $OUT/build_new.txt 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
tail -n 2 $OUT/build_base.txt; tail -n 2 $OUT/build_new.txt
/tmp/cb/tests/amxmm_cuda_tests > $OUT/b_cuda_tests.txt 2>&1
echo "cuda tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
F='cuda/dense/K(2048|4096)_N4096/M(1|8|64|512)/automatic/|cuda/moe_ffn/qwen3_30b_a3b/M(1|4|512)/automatic/'
for r in 1 2; do for t in base new; do
  B=/tmp/cb; [ $t = base ] && B=/tmp/cbase
  AMXMM_BENCH_MIN_TIME=0.05 $B/bench/amxmm_bench_cuda --benchmark_filter="$F" > $OUT/b_bench_${t}_$r.txt 2>&1
  echo "$t $r $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
done; done
/tmp/cb/tests/amxmm_tests "~[large]" > $OUT/b_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; tail -3 $OUT/b_cuda_tests.txt; tail -3 $OUT/b_cpu_tests.txt; grep -c amx_tile /proc/cpuinfo
for t in base new; do for r in 1 2; do echo "== $t $r"; grep -E "^cuda" $OUT/b_bench_${t}_$r.txt | awk '{print $1, $2, $NF}'; done; done
