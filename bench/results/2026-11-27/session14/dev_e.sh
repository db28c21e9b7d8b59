# session 14 e: CUDA tests + the mma kernels after sharing their loader / epilogue helpers (refactor)
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_CUDA_BENCH_FILTER='cuda/dense/K(2048_N4096|4096_N14336)/M(64|512)/(mma|mma_exact)/hot|cuda/moe_ffn/qwen3_30b_a3b/M(64|512)/(mma|mma_exact)/hot' bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|test cases|BUILD" $OUT/check.log | head
grep -B3 -A30 'FAILED' $OUT/cuda-tests.txt | head -100
grep -E '^cuda/' $OUT/cuda-bench.txt | awk '{printf "%-70s %10s %s %s\n", $1, $2, $3, $NF}'
