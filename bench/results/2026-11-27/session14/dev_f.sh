# session 14 f: CUDA tests after the review mends (q8_rows_items, exact_sorted, one quantizing step in gemm_q4_0)
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_SKIP_BENCH=1 bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|test cases|BUILD" $OUT/check.log | head
grep -B3 -A30 'FAILED' $OUT/cuda-tests.txt | head -100
grep -E '^cuda/' $OUT/cuda-bench.txt | awk '{printf "%-70s %10s %s %s\n", $1, $2, $3, $NF}'
