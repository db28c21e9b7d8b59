# session 22 e: the K chunk again (bench/ab, same tree both sides, 11 rounds): control (no override), 16, 20, 24, 16
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/base .probe/s22/base /tmp/ab_same
cases="gemm fast,gemm exact K2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
/tmp/ab_same 11 "$cases" > $OUT/e_control.txt 2>&1
for kc in 16 20 24; do AB_KC_new=$kc /tmp/ab_same 11 "$cases" > $OUT/e_kc$kc.txt 2>&1; done
AB_KC_new=16 /tmp/ab_same 11 "$cases" > $OUT/e_kc16_2.txt 2>&1
for f in $OUT/e_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-60; done
