# session 22 b: exact large-M variants paired against the unchanged tree (bench/ab), 16 threads, hot
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/base .probe/s22/bf /tmp/ab_bf &
bench/ab/build.sh .probe/s22/base .probe/s22/g2 /tmp/ab_g2 &
wait
cases="gemm exact K2048,gemm exact K4096 N4096,gemm fast K2048 N4096 M512"
/tmp/ab_bf 11 "$cases" > $OUT/b_bf16_tiles.txt 2>&1
/tmp/ab_g2 11 "$cases" > $OUT/b_group2.txt 2>&1
/tmp/ab_bf 11 "$cases" > $OUT/b_bf16_tiles_2.txt 2>&1
tail -n 6 $OUT/b_*.txt
