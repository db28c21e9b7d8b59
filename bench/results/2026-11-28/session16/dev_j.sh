# Session 16, run j: the output copy row by row (rowcopy), and row by row with non-temporal stores (rowntcopy), both correct,
# each paired with HEAD (fb79a1d).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="rowcopy rowntcopy"
for v in $V; do bench/ab/build.sh . .probe/s16/v_$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
for v in $V; do /tmp/ab_$v 11 "gemm exact,gemm fast K" > $OUT/j_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; for v in $V; do echo "== $v"; cut -c1-175 $OUT/j_$v.txt; done
