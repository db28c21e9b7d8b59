# session 25 f: exact's blocked-path rescale with fewer vector operations, in the real kernel (timing-only switch
# AB_RS in .probe/s25/parts): nocvt = the int32 sums read as float bits (no conversion; DAZ set on the thread so the
# bits do not hit denormal assists), fma = convert, multiply, one FMA (3 operations instead of 4). Wrong results on
# purpose. Against the unchanged tree (0b9e629), bench/ab, 9 rounds, two processes each.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s25
bench/ab/build.sh $S/base $S/parts /tmp/ab_parts > $OUT/f_build.txt 2>&1
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/f_log.txt
for p in 1 2; do
  for v in nocvt fma; do
    AB_RS=$v /tmp/ab_parts 9 "gemm exact K" > $OUT/f_${v}_$p.txt 2>&1
    echo "$v $p done $(( $(date +%s) - T0 )) s" >> $OUT/f_log.txt
  done
done
cat $OUT/f_log.txt; grep -i error $OUT/f_build.txt | head
for f in $OUT/f_[nf]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-64; done
