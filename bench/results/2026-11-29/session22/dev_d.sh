# session 22 d: cache blocking on the device, paired (bench/ab, 9 rounds): the K chunk (AB_KC_new = 8, 16 against the
# default 12 of a 48 KiB L1d) with the same tree on both sides, and up to 32 row groups per task (rg) against base
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/base .probe/s22/base /tmp/ab_same &
bench/ab/build.sh .probe/s22/base .probe/s22/rg /tmp/ab_rg &
wait
cases="gemm fast,gemm exact K2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
AB_KC_new=8 /tmp/ab_same 9 "$cases" > $OUT/d_kc8.txt 2>&1
AB_KC_new=16 /tmp/ab_same 9 "$cases" > $OUT/d_kc16.txt 2>&1
/tmp/ab_rg 9 "$cases" > $OUT/d_rg32.txt 2>&1
for f in $OUT/d_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/'; done
