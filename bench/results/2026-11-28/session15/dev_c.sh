# Session 15, run c: the tile work of the blocked fast path. Timing-only variants (wrong results on
# purpose) paired with the unmodified tree (bench/ab): fixA = every block reads the chunk's first A
# tiles (L1-resident, no A stream, no prefetch); noC = accumulators never reloaded between K chunks and
# stored after the last one only; fixAnoC = both; pf4 = the A prefetch 4 blocks ahead instead of 2 (right results).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="fixA noC fixAnoC pf4"
for v in $V; do bench/ab/build.sh . .probe/s15/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
CASES="moe_gemm qwen3 M2048,gemm fast K"
for v in $V; do /tmp/ab_$v 11 "$CASES" > $OUT/c_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; for v in $V; do echo "== $v"; cut -c1-150 $OUT/c_$v.txt; done
