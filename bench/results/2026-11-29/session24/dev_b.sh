# session 24 b: what the blocked large-M path's output copy and B expansion cost on the device (timing-only
# switches: AB_NOCOPY skips the copy of finished rows, AB_NOEXP expands only each task's first unit; wrong
# results on purpose, so the checksums differ), and 16 row groups per dense task (rg16; also with kc = 16).
# Against the unchanged tree (fd4eb1e), bench/ab, 9-11 rounds.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s24
bench/ab/build.sh $S/base $S/nocopy /tmp/ab_nocopy > $OUT/b_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/noexp /tmp/ab_noexp >> $OUT/b_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/rg16 /tmp/ab_rg16 >> $OUT/b_build.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/b_log.txt
cases="gemm fast,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
AB_NOCOPY=1 /tmp/ab_nocopy 9 "$cases,gemm exact" > $OUT/b_nocopy.txt 2>&1
AB_NOEXP=1 /tmp/ab_noexp 9 "$cases" > $OUT/b_noexp.txt 2>&1
echo "timing variants done $(( $(date +%s) - T0 )) s" >> $OUT/b_log.txt
for p in 1 2; do /tmp/ab_rg16 11 "gemm fast" > $OUT/b_rg16_$p.txt 2>&1; done
AB_KC_new=16 /tmp/ab_rg16 11 "gemm fast" > $OUT/b_rg16kc16.txt 2>&1
echo "rg16 done $(( $(date +%s) - T0 )) s" >> $OUT/b_log.txt
cat $OUT/b_log.txt; grep -i error $OUT/b_build.txt | head
for f in $OUT/b_[nr]*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-50; done
