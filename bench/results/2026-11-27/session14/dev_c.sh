# session 14 c: exact MoE above 4 pairs per expert: grouped by expert (gemv) vs the exact mma, cold, 12 uniform id sets
set -u
mkdir -p $OUT
/usr/local/cuda/bin/nvcc -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp .probe/s14/moe_group_probe.cu -lcublas > $OUT/build.log 2>&1
ls -la /tmp/mgp
run() {
  PROBE_ONLY="exact by_expert" /tmp/mgp "$@"
  PROBE_ONLY="exact mma" /tmp/mgp "$@"
}
{
run 128 8 2048 768 48 64 96 128 192
run 8 2 4096 14336 16 20 24 32
run 64 8 7168 2048 32 48 64
run 256 8 7168 2048 64 128
} > $OUT/c_exact_mma_vs_by_expert.txt 2>&1
cut -c1-96 $OUT/c_exact_mma_vs_by_expert.txt
