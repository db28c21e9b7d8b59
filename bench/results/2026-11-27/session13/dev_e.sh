# session 13 e: by_expert kernel variants - VA: 3 CTAs/SM (launch bounds), gate/up 1 row per warp, short rows 2; VB: the same rows, 2 CTAs/SM
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s13
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp_base $P/moe_group_probe.cu -lcublas > $OUT/b0.log 2>&1 &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/VA/include -o /tmp/mgp_VA $P/moe_group_probe.cu -lcublas > $OUT/b1.log 2>&1 &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/VB/include -o /tmp/mgp_VB $P/moe_group_probe.cu -lcublas > $OUT/b2.log 2>&1 &
wait; cat $OUT/b*.log
run() { /tmp/mgp_$1 128 8 2048 768 4 8 16 32; /tmp/mgp_$1 64 8 7168 2048 4 16; /tmp/mgp_$1 8 2 4096 14336 4 8 12; }
PROBE_ONLY=per_pair run base > $OUT/per_pair.txt 2>&1
for r in 1 2; do for v in base VA VB; do echo "== $v round $r"; PROBE_ONLY=by_expert run $v; done; done > $OUT/by_expert.txt 2>&1
cut -c1-95 $OUT/per_pair.txt; cut -c1-95 $OUT/by_expert.txt
