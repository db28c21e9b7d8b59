# session 13 d: 75c313d - CUDA tests and amxmm_bench_cuda (MoE decode, cold; three layers)
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_CUDA_BENCH_FILTER='cuda/moe_(gemm_up|gemm_down|ffn)/.*/M(1|4|8|16)/(automatic|gemv_exact|gemv_exact_by_expert|mma)/cold' \
  bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|failed" $OUT/check.log | head
grep -E "^cuda/moe" $OUT/cuda-bench.txt | awk '{printf "%-62s %10s %s\n", $1, $2, $3}' | head -200
