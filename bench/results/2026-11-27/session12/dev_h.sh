# session 12 h: gate/up timeline in graph replays, cold experts (warm-up replay on another id set first; x stays in L2): base vs the change
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I $P/Tbase/include -o /tmp/tl_base $P/timeline_graph_cold.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/TN/include -o /tmp/tl_new $P/timeline_graph_cold.cu -lcublas 2>/dev/null &
wait
for r in 1 2; do for v in base new; do echo "== $v round $r"; /tmp/tl_$v 1 | grep -A10 "M1 pdl iter [345]"; done; done > $OUT/timeline_graph_cold.txt 2>&1
grep -E "==|M1 pdl|x ready|round2|gu end|dn end" $OUT/timeline_graph_cold.txt
