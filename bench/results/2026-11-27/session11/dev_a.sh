# session 11 a: launch-bound variants of the MoE decode kernels (co-residency of down with gate/up)
set -u
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
ls /usr/local/cuda/bin | grep -iE "nsys|ncu" > $OUT/tools.txt
V="cur D4 G4D4 G3D3"
for v in $V; do
  $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/dp_$v .probe/moe_decode_probe2.cu -lcublas 2>/tmp/e_dp_$v &
  $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/ms_$v .probe/moe_shapes_probe.cu -lcublas 2>/tmp/e_ms_$v &
done
wait
ls /tmp/dp_* /tmp/ms_*
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in $V; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048" "8 2 4096 14336"; do for m in 1 4; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
cat $OUT/tools.txt
grep -E "==|library|alone|\+" $OUT/decode_probe.txt
