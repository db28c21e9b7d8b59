# session 14 d: CUDA tests after the exact-mma rule (moe_exact_mma_auto_min_sharing)
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_SKIP_BENCH=1 bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|test cases|BUILD" $OUT/check.log | head
grep -B3 -A30 'FAILED' $OUT/cuda-tests.txt | head -150
grep -E 'exact|C API' $OUT/cuda-tests.txt
