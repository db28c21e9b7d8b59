# session 12 d: where the gate/up CTA's first 2 us go (extra stamps, TS); x quantization code as one non-inlined copy (XL) vs base
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
for v in base XL; do
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/dp_$v $P/moe_decode_probe2.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/ms_$v $P/moe_shapes_probe.cu -lcublas 2>/dev/null &
done
$NV -O2 -std=c++17 -arch=sm_90a -I $P/TS/include -o /tmp/tl_base $P/timeline_probe_ex.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/TXL/include -o /tmp/tl_XL $P/timeline_probe_ex.cu -lcublas 2>/dev/null &
wait
for v in base XL; do echo "== $v"; /tmp/tl_$v 1 | grep -A14 "pdl iter [45]"; /tmp/tl_$v 4 | grep -A14 "pdl iter 5"; done > $OUT/timeline.txt 2>&1
for r in 1 2; do for v in base XL; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in base XL; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048"; do for m in 1 4; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
grep -vE "sums done|dn start|past wait|CTAs per SM" $OUT/timeline.txt
grep -E "==|library|alone" $OUT/decode_probe.txt
grep -E "==|moe_ffn" $OUT/shapes_probe.txt
