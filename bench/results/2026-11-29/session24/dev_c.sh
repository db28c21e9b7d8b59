# session 24 c: moe_ffn's two sinks on the device (timing-only switches in the "parts" tree: AB_NOACT drops
# act(gate)·up from the gate/up sink, AB_NODOWN drops the down phase's copy into the slot rows after the
# first calls; checksums differ on purpose), and nta (streaming stores) again with more rounds.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s24
bench/ab/build.sh $S/base $S/parts /tmp/ab_parts > $OUT/c_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/nta /tmp/ab_nta >> $OUT/c_build.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/c_log.txt
cases="moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
AB_NOACT=1 /tmp/ab_parts 9 "$cases" > $OUT/c_noact.txt 2>&1
AB_NODOWN=1 /tmp/ab_parts 9 "$cases" > $OUT/c_nodown.txt 2>&1
/tmp/ab_parts 9 "$cases" > $OUT/c_same.txt 2>&1
echo "parts done $(( $(date +%s) - T0 )) s" >> $OUT/c_log.txt
for p in 1 2; do /tmp/ab_nta 15 "moe_ffn qwen3 M2048,moe_gemm qwen3 M2048,gemm fast K2048 N4096 M2048" > $OUT/c_nta_$p.txt 2>&1; done
echo "nta done $(( $(date +%s) - T0 )) s" >> $OUT/c_log.txt
cat $OUT/c_log.txt; grep -i error $OUT/c_build.txt | head
for f in $OUT/c_[ns]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/min .*new\/base/ratio/' | cut -c1-90; done
