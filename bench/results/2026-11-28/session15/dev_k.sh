# Session 15, run k: moe_ffn / moe_gemm (Qwen3) at M = 192, 256, 320 (12, 16, 20 rows per expert on average),
# HEAD with auto_fast_min_rows = 17 (exact at 16 rows) against HEAD (16: fast at 16 rows), in pairs.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
.probe/s15/ab256/build.sh .probe/s15/base16 . /tmp/ab_k > $OUT/build_ab.txt 2>&1
/tmp/ab_k 15 "moe_ffn qwen3 M192,moe_ffn qwen3 M256,moe_ffn qwen3 M320,moe_gemm qwen3 M192,moe_gemm qwen3 M256,moe_gemm qwen3 M320" > $OUT/k_ab.txt 2>&1
cut -c1-160 $OUT/k_ab.txt
