# session 12 g: the change in the working tree (moe_ffn gate/up: x by cp.async) - CUDA tests; A/B against base (HEAD 45bac5c)
set -u
NV=/usr/local/cuda/bin/nvcc
P=.probe/s12
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
(cmake -S . -B /tmp/cb -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_CUDA_COMPILER=$NV > $OUT/build.log 2>&1 && cmake --build /tmp/cb -j12 --target amxmm_cuda_tests >> $OUT/build.log 2>&1; echo build rc $? >> $OUT/build.log) &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/base/include -o /tmp/dp_base $P/moe_decode_probe2_xw.cu -lcublas 2>$OUT/e1 &
$NV -O2 -std=c++17 -arch=sm_90a -I $P/base/include -o /tmp/ms_base $P/moe_shapes_probe.cu -lcublas 2>$OUT/e2 &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/dp_new $P/moe_decode_probe2_xw.cu -lcublas 2>$OUT/e3 &
$NV -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/ms_new $P/moe_shapes_probe.cu -lcublas 2>$OUT/e4 &
wait
tail -2 $OUT/build.log; ls /tmp/dp_* /tmp/ms_*
/tmp/cb/tests/amxmm_cuda_tests > $OUT/cuda_tests.txt 2>&1; echo tests rc $?; tail -3 $OUT/cuda_tests.txt
for r in 1 2; do for v in base new; do
  echo "== $v round $r"
  for m in 1 4 16; do /tmp/dp_$v $m; done
done; done > $OUT/decode_probe.txt 2>&1
for r in 1 2; do for v in base new; do
  echo "== $v round $r"
  for shape in "128 8 2048 768" "64 8 7168 2048"; do for m in 1 4 16; do /tmp/ms_$v $m $shape; done; done
done; done > $OUT/shapes_probe.txt 2>&1
grep -E "==|library|alone|writer \+ lib" $OUT/decode_probe.txt
grep -E "==|moe_" $OUT/shapes_probe.txt
