# Session 16, run f: what the AMX exact large-M loop spends without its rescale and tile stores ("both"): timing-only
# variants on top of it (wrong results on purpose), each paired with the unmodified tree (bench/ab).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="both both_notdp both_noa both_nob both_noexp noloop noloop_noexp"
for v in $V; do bench/ab/build.sh . .probe/s16/v_$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
CASES="gemm exact K2048 N4096 M512,gemm exact K4096 N4096 M2048"
for v in $V; do /tmp/ab_$v 9 "$CASES" > $OUT/f_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; for v in $V; do echo "== $v"; cut -c1-175 $OUT/f_$v.txt; done
