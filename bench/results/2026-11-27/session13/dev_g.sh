# session 13 g: ec0abbf - CUDA tests, amxmm_bench_cuda (MoE decode, cold), by_expert vs grouped mma near 4 pairs per expert
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_CUDA_BENCH_FILTER='cuda/moe_(gemm_up|gemm_down|ffn)/.*/M(1|4|8|16)/(automatic|gemv_exact|gemv_exact_by_expert|mma)/cold' \
  bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|failed" $OUT/check.log | head
grep -E "^cuda/moe_ffn" $OUT/cuda-bench.txt | awk '{printf "%-62s %10s %s\n", $1, $2, $3}' | head -200
/usr/local/cuda/bin/nvcc -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp .probe/s13/moe_group_probe.cu -lcublas > $OUT/probe_build.log 2>&1
for r in 1 2; do PROBE_ONLY=by_expert /tmp/mgp 128 8 2048 768 32 48 64; PROBE_ONLY="grouped mma" /tmp/mgp 128 8 2048 768 32 48 64; PROBE_ONLY=by_expert /tmp/mgp 8 2 4096 14336 12 16; PROBE_ONLY="grouped mma" /tmp/mgp 8 2 4096 14336 12 16; done > $OUT/boundary.txt 2>&1
grep moe_ffn $OUT/boundary.txt | cut -c1-90
