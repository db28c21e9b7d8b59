# Session 17, run c: HEAD (9812252 + tidy-up) against ee57a05 again (a second process); xonce / honce (timing
# only: x, or h, prepared on the first call of each m only; checksums must equal the base's) against HEAD.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
V="xonce honce"
bench/ab/build.sh .probe/s17/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1 &
for v in $V; do bench/ab/build.sh . .probe/s17/v_$v /tmp/ab_$v > $OUT/build_$v.txt 2>&1 & done
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab_new 11 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,decode moe_ffn qwen3 M4 hot,decode moe_ffn qwen3 M1 hot" > $OUT/c_ab.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
for v in $V; do /tmp/ab_$v 9 "moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048" > $OUT/c_$v.txt 2>&1; echo "$v $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
cat $OUT/log.txt; cut -c1-175 $OUT/c_ab.txt; for v in $V; do echo "== $v"; cut -c1-175 $OUT/c_$v.txt; done
