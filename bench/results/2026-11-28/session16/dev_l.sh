# Session 16, run l: decode M = 1 (exact) with more rounds, HEAD against 1d551f2, and the same tree against itself.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s16/base . /tmp/ab_l > $OUT/build_ab.txt 2>&1 &
bench/ab/build.sh . . /tmp/ab_self > $OUT/build_self.txt 2>&1 &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
C="decode auto K4096 N14336 M1 ,decode auto K2048 N4096 M1 ,decode avx512_vnni K4096 N14336 M1 "
/tmp/ab_l 31 "$C" > $OUT/l_ab.txt 2>&1
/tmp/ab_self 31 "$C" > $OUT/l_self.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; echo "== HEAD vs 1d551f2"; cut -c1-175 $OUT/l_ab.txt; echo "== HEAD vs HEAD"; cut -c1-175 $OUT/l_self.txt
