# session 12 c: x load micro-probe; 8 replicas of x in moe_ffn gate/up (XR, M = 1 only) vs base
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -o /tmp/xl $P/xload_probe.cu &
for v in base XR; do
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/dp_$v $P/moe_decode_probe2_rep.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/T$v/include -o /tmp/tl_$v $P/timeline_probe_rep.cu -lcublas 2>/dev/null &
done
wait
/tmp/xl > $OUT/xload.txt 2>&1; /tmp/xl >> $OUT/xload.txt 2>&1
for v in base XR; do echo "== $v"; /tmp/tl_$v 1 | grep -A10 "pdl iter [45]"; done > $OUT/timeline.txt 2>&1
for r in 1 2 3; do for v in base XR; do echo "== $v round $r"; /tmp/dp_$v 1; done; done > $OUT/decode_probe.txt 2>&1
cat $OUT/xload.txt
grep -E "==|M1 pdl|x ready|round2|gu end|dn end" $OUT/timeline.txt
grep -E "==|library|alone" $OUT/decode_probe.txt
