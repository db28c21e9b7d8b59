# session 25 b: two bit-identical variants of exact mode against the unchanged tree (0b9e629), bench/ab:
#   ymm:   rescale_accumulate with 256-bit vectors (the rescale is ~30% of a blocked exact call, run a)
#   order: exact_columns stores the C tiles in the order the products finished (c01, c00, c11, c10), each zeroed
#          right after its store, instead of zeroing all four at the next block's start.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s25
bench/ab/build.sh $S/base $S/ymm /tmp/ab_ymm > $OUT/b_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/order /tmp/ab_order >> $OUT/b_build.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/b_log.txt
for p in 1 2; do
  for v in ymm order; do
    /tmp/ab_$v 11 "gemm exact" > $OUT/b_${v}_$p.txt 2>&1
    AB_MODE_base=exact AB_MODE_new=exact /tmp/ab_$v 7 "qwen3 M2048,qwen3 M512" >> $OUT/b_${v}_$p.txt 2>&1
    echo "$v $p done $(( $(date +%s) - T0 )) s" >> $OUT/b_log.txt
  done
done
cat $OUT/b_log.txt; grep -i error $OUT/b_build.txt | head
for f in $OUT/b_[yo]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-64; done
