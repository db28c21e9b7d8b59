# Session 17, run h: storezero (make_variants_h.py, correct) against HEAD e4eebb8, paired, 15 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s17/base .probe/s17/v_storezero /tmp/ab_sz > $OUT/build_sz.txt 2>&1
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab_sz 15 "gemm exact" > $OUT/h_storezero.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cut -c1-175 $OUT/h_storezero.txt
