# session 24 a: streaming (non-temporal) stores for large outputs of the blocked large-M path (nt: dense y;
# nta: also moe_gemm's y and moe_ffn's slot rows), and a K chunk of 16 blocks with the B chunk left in L1
# (nob: no B prefetch when the chunk has <= 16 blocks; run with AB_KC_new=16). Each against the unchanged tree
# (fd4eb1e), bench/ab, two processes of 11 rounds.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s24
bench/ab/build.sh $S/base $S/nta /tmp/ab_nta > $OUT/a_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/nob /tmp/ab_nob >> $OUT/a_build.txt 2>&1 &
bench/ab/build.sh $S/base $S/ntb /tmp/ab_ntb >> $OUT/a_build.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/a_log.txt
cases="gemm fast,gemm exact,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for p in 1 2; do /tmp/ab_nta 11 "$cases" > $OUT/a_nta_$p.txt 2>&1; done
echo "nta done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
for p in 1 2; do AB_KC_new=16 /tmp/ab_nob 11 "gemm fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048" > $OUT/a_nob_$p.txt 2>&1; done
echo "nob done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
for p in 1 2; do AB_KC_new=16 /tmp/ab_ntb 11 "gemm fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048" > $OUT/a_ntb_$p.txt 2>&1; done
echo "ntb done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
cat $OUT/a_log.txt; grep -i error $OUT/a_build.txt | head
for f in $OUT/a_n*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
