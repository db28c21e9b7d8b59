# session 11 b: x loaded first in moe_rows_exact_kernel (XF), + both weight rounds up front (XF2), vs base (HEAD 96f9174)
set -u
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
V="base XF XF2"
for v in $V; do
  $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/dp_$v .probe/moe_decode_probe2.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/ms_$v .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
done
for v in TB TXF; do $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/tl_$v .probe/s11/timeline_probe.cu -lcublas 2>/dev/null & done
wait
for v in TB TXF; do echo "== $v"; /tmp/tl_$v 1 | grep -A10 "pdl iter 5"; done > $OUT/timeline.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048"; do for m in 1 4; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
cat $OUT/timeline.txt
grep -E "==|library|alone" $OUT/decode_probe.txt
grep -E "==|moe_ffn|per_token" $OUT/shapes_probe.txt
