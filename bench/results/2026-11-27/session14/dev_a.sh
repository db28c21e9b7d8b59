# session 14 a: by-expert tiles of 4 vs 8 pairs vs grouped mma (fast), cold, 12 uniform id sets
set -u
mkdir -p $OUT
cp -r include /tmp/inc8
sed -i 's/plan.tile_rows = detail::moe_by_expert_pairs;/plan.tile_rows = detail::moe_by_expert_wide_pairs;/' /tmp/inc8/amxmm/cuda/moe.cuh
grep -c 'plan.tile_rows = detail::moe_by_expert_wide_pairs;' /tmp/inc8/amxmm/cuda/moe.cuh
N=/usr/local/cuda/bin/nvcc
$N -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp4 .probe/s14/moe_group_probe.cu -lcublas > $OUT/build4.log 2>&1 &
$N -O2 -std=c++17 -arch=sm_90a -I /tmp/inc8 -o /tmp/mgp8 .probe/s14/moe_group_probe.cu -lcublas > $OUT/build8.log 2>&1 &
wait
ls -la /tmp/mgp4 /tmp/mgp8
run() {  # args: shape..., Ms...
  PROBE_ONLY="by_expert" /tmp/mgp4 "$@" | sed 's/by_expert/by_expert4/'
  PROBE_ONLY="by_expert" /tmp/mgp8 "$@" | sed 's/by_expert/by_expert8/'
  PROBE_ONLY="grouped mma" /tmp/mgp4 "$@"
}
{
run 128 8 2048 768 16 32 48 64 96 128
run 8 2 4096 14336 8 16 24 32
run 64 8 7168 2048 16 32 48 64
run 256 8 7168 2048 32 64
} > $OUT/a_tiles.txt 2>&1
cut -c1-100 $OUT/a_tiles.txt
