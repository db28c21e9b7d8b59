# Session 16, run d: exact_columns with the rescale lagging the tile products by 1, 2, 3 blocks (4-slot staging),
# each paired with HEAD (1d551f2, rescale lag 1, 2 slots).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="lag1 lag2 lag3"
for v in $V; do bench/ab/build.sh .probe/s16/base .probe/s16/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
for v in $V; do /tmp/ab_$v 11 "gemm exact" > $OUT/d_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; for v in $V; do echo "== $v"; cut -c1-175 $OUT/d_$v.txt; done
