# session 12 i: is the gain the shared memory? base with 8 KB of unused dynamic shared memory in moe_rows_exact_kernel (PAD) vs base vs the change
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I $P/base/include -o /tmp/dp_base $P/moe_decode_probe2_xw.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/PAD/include -o /tmp/dp_PAD $P/moe_decode_probe2_xw.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/dp_new $P/moe_decode_probe2_xw.cu -lcublas 2>/dev/null &
wait
for r in 1 2; do for v in base PAD new; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe_pad.txt 2>&1
grep -E "==|library moe|alone" $OUT/decode_probe_pad.txt
