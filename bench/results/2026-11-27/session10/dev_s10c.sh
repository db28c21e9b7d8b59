# dense M = 1 exact: gemm_q4_0 vs moe_rows_exact_kernel with one expert (this tree: 1 block per lane; varU2: 2)
set -u
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/d1 .probe/dense_rows_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/varU2/include -o /tmp/d2 .probe/dense_rows_probe.cu -lcublas 2>/dev/null &
wait
(echo "== U1"; /tmp/d1; echo "== U2"; /tmp/d2) 2>&1 | tee $OUT/dense_rows_probe.txt
