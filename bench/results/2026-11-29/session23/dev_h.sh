# session 23 h: MoE in exact mode against automatic (fast at these sizes) on the same tree (7ed5808 plus bench/ab's
# AB_MODE override and an M = 1024 case): AB_MODE_new=exact, two processes of 9 rounds
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh . . /tmp/ab_mode > /dev/null 2>&1 || echo build failed
c="moe_ffn qwen3 M512,moe_gemm qwen3 M512,moe_ffn qwen3 M1024,moe_gemm qwen3 M1024,moe_ffn qwen3 M2048,moe_gemm qwen3 M2048"
for p in 1 2; do AB_MODE_new=exact /tmp/ab_mode 9 "$c" > $OUT/h_exact_$p.txt 2>&1; done
for f in $OUT/h_exact_*.txt; do echo "== $f"; grep "new/base" $f | cut -c1-150; done
