# session 23 d: the next unit's packed weights fetched into L2 during this unit's tile products, one line per
# product (wpf; fast and exact), paired against fc3eb05 (= .probe/s23/head; bench/ab, two processes of 11 rounds)
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s23/head .probe/s23/wpf /tmp/ab_wpf > $OUT/d_build.txt 2>&1
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/d_log.txt
cases="gemm fast,gemm exact,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048"
for p in 1 2; do
  /tmp/ab_wpf 11 "$cases" > $OUT/d_wpf_$p.txt 2>&1
  echo "round $p done $(( $(date +%s) - T0 )) s" >> $OUT/d_log.txt
done
cat $OUT/d_log.txt
for f in $OUT/d_wpf_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
