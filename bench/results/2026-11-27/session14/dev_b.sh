# session 14 b: CUDA tests (exact mma, C API), then the exact mma against the other paths
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_CUDA_BENCH_FILTER='cuda/dense/K(2048_N4096|4096_N14336)/M(16|64|512|2048)/(automatic|mma|mma_exact|dequant_cublas|wgmma|cublas_bf16)/hot|cuda/(moe_ffn|moe_gemm_up)/qwen3_30b_a3b/M(16|64|512|2048)/(automatic|mma|mma_exact|gemv_exact_by_expert)/(hot|cold)|cuda/moe_ffn/(deepseek_v3|mixtral_8x7b)/M(16|512)/(automatic|mma_exact)/' bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|test cases|BUILD" $OUT/check.log | head
grep -B3 -A25 'FAILED' $OUT/cuda-tests.txt | head -120
grep -E 'exact on the tensor|C API' $OUT/cuda-tests.txt
grep -E '^cuda/' $OUT/cuda-bench.txt | awk '{printf "%-70s %10s %s %s\n", $1, $2, $3, $NF}' | head -80
