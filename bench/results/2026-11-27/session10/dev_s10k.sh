# CUDA tests and a short amxmm_bench_cuda MoE decode check after the review mends
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
mkdir -p $OUT
cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j16 --target amxmm_bench_cuda amxmm_cuda_tests >> $OUT/build.log 2>&1
tail -1 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/tests.txt
AMXMM_BENCH_MIN_TIME=0.05 /tmp/cb/bench/amxmm_bench_cuda --benchmark_filter='cuda/moe_(ffn|gemm_up|gemm_down)/qwen3_30b_a3b/M(1|4)/automatic/cold|cuda/dense/K4096_N14336/M1/automatic/cold' > $OUT/bench.txt 2>&1
grep -E "^cuda/" $OUT/bench.txt | sed 's/min_time:0.050\/manual_time//' | awk '{print $1, $2, $3}'
