# session 12 f: x copied into shared memory by cp.async (its own wait, not the weight loads' scoreboard), before the id read;
# XCI both instantiations, XCG moe_ffn gate/up only; vs base (HEAD 45bac5c)
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
V="base XCI XCG"
for v in $V; do
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/dp_$v $P/moe_decode_probe2_xw.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/ms_$v $P/moe_shapes_probe.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/T$v/include -o /tmp/tl_$v $P/timeline_probe.cu -lcublas 2>/dev/null &
done
wait
/usr/local/cuda/bin/cuobjdump -sass /tmp/dp_XCI | awk '/Function : .*moe_rows_exact_kernelILb1E/{f=1} /Function : /{if($0 !~ /moe_rows_exact_kernelILb1E/) f=0} f' > $OUT/sass_gateup_XCI.txt
for v in $V; do echo "== $v"; /tmp/tl_$v 1 | grep -A10 "pdl iter [45]"; /tmp/tl_$v 4 | grep -A10 "pdl iter 5"; done > $OUT/timeline.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048"; do for m in 1 4 16; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
grep -E "==|M1 pdl|M4 pdl|x ready|round2|gu end|dn end" $OUT/timeline.txt
grep -E "==|library|alone|writer \+ lib" $OUT/decode_probe.txt
grep -E "==|moe_" $OUT/shapes_probe.txt
