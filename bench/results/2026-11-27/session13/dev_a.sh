# session 13 a: MoE exact decode grouped by expert - CUDA tests; per_pair vs by_expert vs automatic probe
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s13
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j14 --target amxmm_cuda_tests >> $OUT/build.log 2>&1; echo build rc $? >> $OUT/build.log) &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp $P/moe_group_probe.cu -lcublas > $OUT/probe_build.log 2>&1
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv > $OUT/gpu.txt 2>&1
/tmp/mgp 128 8 2048 768 1 2 4 8 16 32 > $OUT/probe_qwen3.txt 2>&1
/tmp/mgp 8 2 4096 14336 1 2 4 8 16 32 64 > $OUT/probe_mixtral.txt 2>&1
/tmp/mgp 64 8 7168 2048 1 4 16 > $OUT/probe_deepseek64.txt 2>&1
wait
tail -2 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests > $OUT/cuda_tests.txt 2>&1; echo tests rc $?; tail -4 $OUT/cuda_tests.txt
cat $OUT/probe_*.txt | grep -v "^$" | cut -c1-150
