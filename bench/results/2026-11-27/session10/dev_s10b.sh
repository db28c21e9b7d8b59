# moe_gate_up_kernel: 1 vs 2 blocks per lane in flight (probe2 against this tree and .probe/varU2), alternating.
set -u
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/u1 .probe/moe_decode_probe2.cu -lcublas &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/varU2/include -o /tmp/u2 .probe/moe_decode_probe2.cu -lcublas &
wait
for r in 1 2; do for v in u1 u2; do echo "== $v"; for m in 1 4 8 16; do /tmp/$v $m | grep -v bytes; done; done; done 2>&1 | tee $OUT/gate_up_unroll.txt
