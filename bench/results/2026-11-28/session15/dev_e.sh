# Session 15, run e: the parts of the micro-kernel path (amx_fast_kernel: experts below 65 rows, dense m 17-64).
# mnoexp = two blocks expanded per call, then reused; mnotdp = no tile loads or products; mboth = neither.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="mnoexp mnotdp mboth"
for v in $V; do bench/ab/build.sh . .probe/s15/$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
CASES="moe_ffn qwen3 M512,moe_gemm qwen3 M512,decode fast"
for v in $V; do /tmp/ab_$v 11 "$CASES" > $OUT/e_$v.txt 2>&1; done
echo "end $(( $(date +%s) - T0 )) s"; for v in $V; do echo "== $v"; cut -c1-150 $OUT/e_$v.txt; done
