# session 12 e: does x arrive late behind weight loads even from L2 (xload_probe2); moe_ffn with x written by a kernel just before (the engine's case), base vs XI
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -o /tmp/xl2 $P/xload_probe2.cu &
for v in base XI; do
  $NV -O2 -std=c++17 -arch=sm_90a -I $P/$v/include -o /tmp/dp_$v $P/moe_decode_probe2_xw.cu -lcublas 2>/dev/null &
done
wait
/tmp/xl2 > $OUT/xload2.txt 2>&1
for r in 1 2 3; do for v in base XI; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe_xw.txt 2>&1
cat $OUT/xload2.txt
grep -E "==|library|alone|writer" $OUT/decode_probe_xw.txt
