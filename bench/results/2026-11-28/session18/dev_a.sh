# Session 18, run a: moe_ffn's down phase. Variants (make_variants_a.py) against HEAD (c64367a):
# outonce (timing only), kcd24 / kcd6 (down's K chunk); the whole tree with options.kc_blocks 24 / 6 / 16.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
lscpu > $OUT/lscpu.txt 2>&1
V="outonce kcd24 kcd6"
bench/ab/build.sh .probe/s18/base . /tmp/ab_self > $OUT/build_self.txt 2>&1 &
for v in $V; do bench/ab/build.sh .probe/s18/base .probe/s18/v_$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
C="moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for v in $V; do /tmp/ab_$v 9 "$C" > $OUT/a_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
for kc in 24 6 16; do AB_KC_new=$kc /tmp/ab_self 9 "$C,moe_gemm qwen3 M2048" > $OUT/a_kc$kc.txt 2>&1; echo "kc$kc $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; grep "Model name\|^CPU(s)\|L2\|L3" $OUT/lscpu.txt; for f in $OUT/a_*.txt; do echo "== $f"; cut -c1-175 $f | grep -v "^#"; done
