# session 23 i: the micro-kernel path's A tiles prefetched one block ahead of the expansion, half before each
# panel's expansion (upf), paired against 85c98a0 (= .probe/s23/head3; bench/ab, two processes of 11 rounds)
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s23/head3 .probe/s23/upf /tmp/ab_upf > /dev/null 2>&1 || echo build failed
c="moe_ffn qwen3 M512,moe_gemm qwen3 M512,decode fast,decode moe_ffn qwen3 M16 hot"
for p in 1 2; do /tmp/ab_upf 11 "$c" > $OUT/i_upf_$p.txt 2>&1; done
for f in $OUT/i_upf_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-70; done
