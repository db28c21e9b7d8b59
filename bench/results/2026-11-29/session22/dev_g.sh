# session 22 g: the K chunk at 32 and 64 blocks (bench/ab, same tree both sides, 21 rounds), 32 twice
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/base .probe/s22/base /tmp/ab_same
cases="gemm fast,gemm exact,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
AB_KC_new=32 /tmp/ab_same 21 "$cases" > $OUT/g_kc32.txt 2>&1
AB_KC_new=64 /tmp/ab_same 21 "$cases" > $OUT/g_kc64.txt 2>&1
AB_KC_new=32 /tmp/ab_same 21 "$cases" > $OUT/g_kc32_2.txt 2>&1
for f in $OUT/g_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-60; done
