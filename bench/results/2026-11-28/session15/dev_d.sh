# Session 15, run d: the blocked path from 33 or 49 rows (t33, t49) paired with the unmodified tree (65).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="t33 t49"
for v in $V; do bench/ab/build.sh . .probe/s15/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
CASES="moe_ffn qwen3 M512,moe_gemm qwen3 M512,moe_gemm qwen3 M2048"
for v in $V; do /tmp/ab_$v 15 "$CASES" > $OUT/d_$v.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s"; for v in $V; do echo "== $v"; cut -c1-150 $OUT/d_$v.txt; done
