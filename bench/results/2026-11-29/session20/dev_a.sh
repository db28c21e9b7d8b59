# Session 20, run a: the large-M fast path expands the next (K chunk, column block) unit between this unit's
# tile products (two B buffers). new = working tree, base = f5d1215. Same tree against itself as control.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s20/base . /tmp/ab_new > $OUT/build_new.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s"
C="moe_ffn qwen3 M2048,moe_gemm qwen3 M2048,gemm fast,moe_ffn qwen3 M512"
/tmp/ab_new 9 "$C" > $OUT/a_ab.txt 2>&1; echo "ab $(( $(date +%s) - T0 )) s"
AB_KC_new=6 /tmp/ab_new 9 "moe_ffn qwen3 M2048,moe_gemm qwen3 M2048,gemm fast" > $OUT/a_ab_kc6.txt 2>&1; echo "kc6 $(( $(date +%s) - T0 )) s"
for f in $OUT/a_*.txt; do echo "== $f"; cut -c1-175 $f | grep -v "^#"; done
