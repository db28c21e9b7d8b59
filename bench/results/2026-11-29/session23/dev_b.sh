# session 23 b: fast_columns' A prefetch spread over the tile products (8 lines after each of the 4, not one
# burst of 32 before them), two blocks ahead (pfq) and one block ahead (pfq_d1), each paired against 3114a60
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s23/base .probe/s23/pfq /tmp/ab_pfq > $OUT/b_build.txt 2>&1 &
bench/ab/build.sh .probe/s23/base .probe/s23/pfq_d1 /tmp/ab_pfq_d1 >> $OUT/b_build.txt 2>&1 &
wait
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/b_log.txt
cases="gemm fast,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for p in 1 2; do
  /tmp/ab_pfq 11 "$cases" > $OUT/b_pfq_$p.txt 2>&1
  /tmp/ab_pfq_d1 11 "$cases" > $OUT/b_pfq_d1_$p.txt 2>&1
  echo "round $p done $(( $(date +%s) - T0 )) s" >> $OUT/b_log.txt
done
cat $OUT/b_log.txt
for f in $OUT/b_pfq_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
