# session 23 c: on top of 4407ed2 (A prefetch in quarters, = .probe/s23/pfq): the B tiles' prefetch in quarters too
# (pfqb), the product order that gives the B loads the two-product gap (swap), and both (swapb); each paired
# against 4407ed2 (bench/ab, two processes of 11 rounds)
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
for v in pfqb swap swapb; do bench/ab/build.sh .probe/s23/pfq .probe/s23/$v /tmp/ab_$v > $OUT/c_build_$v.txt 2>&1 & done
wait
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/c_log.txt
cases="gemm fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048"
for p in 1 2; do
  for v in pfqb swap swapb; do /tmp/ab_$v 11 "$cases" > $OUT/c_${v}_$p.txt 2>&1; done
  echo "round $p done $(( $(date +%s) - T0 )) s" >> $OUT/c_log.txt
done
cat $OUT/c_log.txt
for f in $OUT/c_*_[12].txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
