# Session 17, run j: the exact rescale in eighths (4 rows after each product and each operand load) against HEAD
# ee5e214 (quarters after each product), paired, 15 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s17/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab_new 15 "gemm exact K2048 N4096,gemm exact K4096 N4096" > $OUT/j_eighths.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cut -c1-175 $OUT/j_eighths.txt
