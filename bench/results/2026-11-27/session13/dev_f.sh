# session 13 f: by_expert with S row steps per CTA (short rows S = 4; VS2: S = 2) and 3 CTAs/SM for long rows, against HEAD (75c313d); CUDA tests
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s13
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j10 --target amxmm_cuda_tests >> $OUT/build.log 2>&1; echo build rc $? >> $OUT/build.log) &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/base/include -o /tmp/mgp_base $P/moe_group_probe.cu -lcublas > $OUT/b0.log 2>&1 &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp_new $P/moe_group_probe.cu -lcublas > $OUT/b1.log 2>&1 &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/VS2/include -o /tmp/mgp_VS2 $P/moe_group_probe.cu -lcublas > $OUT/b2.log 2>&1 &
wait; cat $OUT/b*.log; tail -1 $OUT/build.log
run() { /tmp/mgp_$1 128 8 2048 768 1 4 8 16 32; /tmp/mgp_$1 64 8 7168 2048 4 16; /tmp/mgp_$1 8 2 4096 14336 4 8 12; }
for r in 1 2; do for v in base new VS2; do echo "== $v round $r"; PROBE_ONLY=by_expert run $v; done; done > $OUT/by_expert.txt 2>&1
/tmp/cb/tests/amxmm_cuda_tests > $OUT/cuda_tests.txt 2>&1; echo tests rc $?; tail -2 $OUT/cuda_tests.txt
cut -c1-92 $OUT/by_expert.txt
