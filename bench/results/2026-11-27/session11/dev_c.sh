# session 11 c: one-launch moe_ffn decode (working tree) vs XF vs base; CUDA tests
set -u
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
NV=/usr/local/cuda/bin/nvcc
mkdir -p $OUT
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j10 --target amxmm_cuda_tests >> $OUT/build.log 2>&1) &
for v in base XF; do $NV -O2 -std=c++17 -arch=sm_90a -I .probe/s11/$v/include -o /tmp/dp_$v .probe/moe_decode_probe2.cu -lcublas 2>/dev/null & done
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/dp_new .probe/moe_decode_probe2.cu -lcublas 2>/dev/null &
wait
tail -1 $OUT/build.log
/tmp/cb/tests/amxmm_cuda_tests "[moe]" > $OUT/tests_moe.txt 2>&1; echo moe tests rc $?; tail -3 $OUT/tests_moe.txt
for r in 1 2; do for v in base XF new; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
grep -E "==|library" $OUT/decode_probe.txt
/tmp/cb/tests/amxmm_cuda_tests > $OUT/tests_all.txt 2>&1; echo all tests rc $?; tail -3 $OUT/tests_all.txt
