# Session 15, run b: the AMX blocked large-M path for fewer rows (experts and dense m of 17-64, or all m),
# paired with the unmodified tree (bench/ab). t17: blocked from 17 rows; t1: blocked always.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
for v in t17 t1; do bench/ab/build.sh . .probe/s15/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
CASES="moe_ffn qwen3 M512,moe_gemm qwen3 M512,decode fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048,gemm fast K2048 N4096 M512"
for v in t17 t1; do /tmp/ab_$v 11 "$CASES" > $OUT/b_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; for v in t17 t1; do echo "== $v"; cut -c1-175 $OUT/b_$v.txt; done
