# Session 21, run l: the exact large-M loop (exact_columns) prefetches its A tiles two blocks ahead into L1, as
# fast_columns has done since 73bc364 (exact never did). bench/ab, new = working tree, base = f6de332
# (.probe/s21/pre); 15 rounds, two processes. fast is a control (same code, moved into prefetch_a_ahead).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s21/pre . /tmp/ab_new > $OUT/l_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/l_log.txt
C="gemm exact K2048 N4096,gemm exact K4096 N4096,gemm fast"
for p in 1 2; do /tmp/ab_new 15 "$C" > $OUT/l_ab_$p.txt 2>&1; echo "ab $p $(( $(date +%s) - T0 )) s" >> $OUT/l_log.txt; done
cat $OUT/l_log.txt; for f in $OUT/l_ab_*.txt; do echo "== $f"; cut -c1-175 $f | grep -v "^#"; done
