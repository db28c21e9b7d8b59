# session 12 j: the change (new) with the shared-memory carveout preference at 100% on gate/up (CVG) or on gate/up and down (CVB)
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/dp_new $P/moe_decode_probe2_xw.cu -lcublas 2>$OUT/e_new &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/CVG/include -o /tmp/dp_CVG $P/moe_decode_probe2_xw.cu -lcublas 2>$OUT/e_cvg &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/CVB/include -o /tmp/dp_CVB $P/moe_decode_probe2_xw.cu -lcublas 2>$OUT/e_cvb &
wait
for r in 1 2; do for v in new CVG CVB; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe_cv.txt 2>&1
grep -E "==|library moe|alone" $OUT/decode_probe_cv.txt
