# session 16 a: dense M >= 512, dequant + cuBLAS whole vs N-chunked (workspace chunk stays in L2), hot
set -u
mkdir -p $OUT
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $OUT/a_gpu.txt 2>&1
.probe/s16/cp > $OUT/a_chunk_probe.txt 2>&1
cat $OUT/a_gpu.txt $OUT/a_chunk_probe.txt
