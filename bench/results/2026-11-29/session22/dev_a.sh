# session 22 a: dense dequant + cuBLAS, N chunks pipelined over streams (pipe_probe.cu), hot graph replays
set -u
mkdir -p $OUT
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $OUT/a_gpu.txt 2>&1
/usr/local/cuda/bin/nvcc -std=c++17 -O3 -arch=sm_90a -Iinclude .probe/s22/pipe_probe.cu -o /tmp/pp -lcublas 2>&1 | grep -v Wno
/tmp/pp > $OUT/a_pipe_probe.txt 2>&1
cat $OUT/a_gpu.txt $OUT/a_pipe_probe.txt
