# session 25 a: what exact's per-block rescale costs in the blocked large-M path, by part (timing-only switch
# AB_RS in the new tree: nocvt = the int32 sums used as float bits, no conversion; noacc = the accumulators
# neither loaded nor stored (terms summed in registers); none = no rescale at all). Wrong results on purpose
# (checksums differ). Against the unchanged tree (0b9e629), bench/ab, 9 rounds.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s25
bench/ab/build.sh $S/base $S/parts /tmp/ab_parts > $OUT/a_build.txt 2>&1
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/a_log.txt
for v in same nocvt noacc none; do
  if [ $v = same ]; then /tmp/ab_parts 9 "gemm exact" > $OUT/a_$v.txt 2>&1
  else AB_RS=$v /tmp/ab_parts 9 "gemm exact" > $OUT/a_$v.txt 2>&1; fi
  echo "$v done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
done
AB_MODE_base=exact AB_MODE_new=exact AB_RS=noacc /tmp/ab_parts 7 "qwen3 M2048" > $OUT/a_moe_noacc.txt 2>&1
AB_MODE_base=exact AB_MODE_new=exact AB_RS=nocvt /tmp/ab_parts 7 "qwen3 M2048" > $OUT/a_moe_nocvt.txt 2>&1
echo "moe done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
cat $OUT/a_log.txt; grep -i error $OUT/a_build.txt | head
for f in $OUT/a_[snm]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-50; done
