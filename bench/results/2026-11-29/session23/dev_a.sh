# session 23 a: aligned_buffer asks for transparent huge pages (>= 2 MiB buffers, 2 MiB aligned, MADV_HUGEPAGE)
# paired against 3114a60 (bench/ab, two processes), large-M and decode cases
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
{ cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag; grep -i huge /proc/meminfo; nproc; } > $OUT/a_thp.txt 2>&1
bench/ab/build.sh .probe/s23/base .probe/s23/huge /tmp/ab_huge > $OUT/a_build.txt 2>&1
echo "build done $(( $(date +%s) - T0 )) s" > $OUT/a_log.txt
cases="gemm fast,gemm exact K2048 N4096 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for p in 1 2; do /tmp/ab_huge 11 "$cases" > $OUT/a_ab_$p.txt 2>&1; echo "ab $p done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt; done
/tmp/ab_huge 9 "decode auto K4096 N14336 M1 cold,decode auto K4096 N14336 M4 cold,decode moe_ffn qwen3 M1 cold,decode moe_ffn qwen3 M16 cold,decode fast K4096 N14336 M16 hot" > $OUT/a_decode.txt 2>&1
echo "decode done $(( $(date +%s) - T0 )) s" >> $OUT/a_log.txt
cat $OUT/a_thp.txt $OUT/a_log.txt
for f in $OUT/a_ab_*.txt $OUT/a_decode.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
