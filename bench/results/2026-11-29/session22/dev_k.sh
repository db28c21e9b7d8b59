# session 22 k: the blocked large-M path from 33 or 49 rows instead of 65, now that its K chunk is 32 blocks;
# paired against ec2545c's include (.probe/s22/head), bench/ab, 15 rounds
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/head .probe/s22/t33 /tmp/ab_t33 &
bench/ab/build.sh .probe/s22/head .probe/s22/t49 /tmp/ab_t49 &
wait
cases="moe_ffn qwen3 M512,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M2048,gemm fast K2048 N4096 M512"
/tmp/ab_t33 15 "$cases" > $OUT/k_t33.txt 2>&1
/tmp/ab_t49 15 "$cases" > $OUT/k_t49.txt 2>&1
/tmp/ab_t33 15 "$cases" > $OUT/k_t33_2.txt 2>&1
for f in $OUT/k_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-60; done
