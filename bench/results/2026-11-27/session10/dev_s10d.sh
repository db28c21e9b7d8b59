# moe shapes (Qwen3, DeepSeek-V3-like with 64 experts, Mixtral-like), exact decode, e82e395 (.probe/base) vs this tree, alternating
set -u
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
$NV -O2 -std=c++17 -arch=sm_90a -I .probe/base/include -o /tmp/msb .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/msn .probe/moe_shapes_probe.cu -lcublas 2>/dev/null &
wait
for shape in "128 8 2048 768" "64 8 7168 2048" "8 2 4096 14336"; do
  for m in 1 4; do
    for t in b n; do echo "== $t"; /tmp/ms$t $m $shape; done
  done
done 2>&1 | tee $OUT/moe_shapes.txt
