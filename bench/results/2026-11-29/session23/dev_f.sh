# session 23 f: the next row group's accumulators prefetched into L1 during this group's pass (2 lines per block,
# cpf), paired against 148bee1 (= .probe/s23/head2; bench/ab, two processes of 11 rounds)
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s23/head2 .probe/s23/cpf /tmp/ab_cpf > /dev/null 2>&1 || echo build failed
for p in 1 2; do /tmp/ab_cpf 11 "gemm fast,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048" > $OUT/f_cpf_$p.txt 2>&1; done
for f in $OUT/f_cpf_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
