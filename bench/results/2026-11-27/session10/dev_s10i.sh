# amxmm_bench_cuda: the new DeepSeek-V3 / Mixtral MoE cases, and Qwen3 moe_ffn decode (this tree)
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
mkdir -p $OUT
cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j16 --target amxmm_bench_cuda >> $OUT/build.log 2>&1
tail -1 $OUT/build.log
AMXMM_BENCH_MIN_TIME=0.05 /tmp/cb/bench/amxmm_bench_cuda --benchmark_filter='cuda/moe_(ffn|gemm_up|gemm_down)/(deepseek_v3|mixtral_8x7b)/M(1|4|16)/|cuda/moe_(ffn|gemm_up|gemm_down)/qwen3_30b_a3b/M(4|8|16|64)/(automatic|mma)/cold' --benchmark_out=$OUT/bench_cuda_moe_small_m_paths.json --benchmark_out_format=json > $OUT/bench_cuda_moe_small_m_paths.txt 2>&1
grep -E "^cuda/|hbm_copy" $OUT/bench_cuda_moe_small_m_paths.txt | sed 's/min_time:0.050\/manual_time//' | awk '{print $1, $2, $3, $7, $8}'
