# Session 15, run a: where the AMX fast path's time goes at large M (CPU, 16 threads).
# Three timing-only variants (wrong results on purpose), each paired with the unmodified tree in one
# process (bench/ab): noexp = B expanded once per task (stale operands after), notdp = no tile work in
# fast_columns (accumulators zeroed), both = neither.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
for v in noexp notdp both; do bench/ab/build.sh . .probe/s15/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
lscpu | grep -E "Model name|MHz|Thread|Core|Socket|NUMA node\(s\)" > $OUT/lscpu.txt
CASES="moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,gemm fast K"
for v in noexp notdp both; do /tmp/ab_$v 9 "$CASES" > $OUT/a_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt $OUT/lscpu.txt; for v in noexp notdp both; do echo "== $v"; cut -c1-140 $OUT/a_$v.txt; done
