# session 12 b: moe_ffn gate/up: x's loads before the expert id is read (XI; XIA the same with asm volatile loads), vs base (HEAD 45bac5c)
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
V="base XI XIA"
for v in $V; do
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/dp_$v $P/moe_decode_probe2.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/ms_$v $P/moe_shapes_probe.cu -lcublas 2>/dev/null &
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/T$v/include -o /tmp/tl_$v $P/timeline_probe.cu -lcublas 2>/dev/null &
done
wait
ls /tmp/dp_* /tmp/ms_* /tmp/tl_* | wc -l
for v in $V; do /usr/local/cuda/bin/cuobjdump -sass /tmp/dp_$v | awk '/Function : .*moe_rows_exact_kernelILb1E/{f=1} /Function : /{if($0 !~ /moe_rows_exact_kernelILb1E/) f=0} f' > $OUT/sass_gateup_$v.txt; done
for v in $V; do echo "== $v"; /tmp/tl_$v 1 | grep -A10 "pdl iter 5"; /tmp/tl_$v 4 | grep -A10 "pdl iter 5"; done > $OUT/timeline.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048"; do for m in 1 4; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
wc -l $OUT/sass_*
grep -E "==|M1 pdl|M4 pdl|x ready|round2|gu end|dn end" $OUT/timeline.txt
grep -E "==|library|alone" $OUT/decode_probe.txt
grep -E "==|moe_ffn" $OUT/shapes_probe.txt
