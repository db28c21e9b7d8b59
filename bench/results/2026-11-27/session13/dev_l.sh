# session 13 l: HEAD (review mends) - CUDA tests only
set -u
mkdir -p $OUT
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
AMXMM_SKIP_BENCH=1 bash scripts/cuda-device-check.sh > $OUT/check.log 2>&1
echo rc $?
grep -E "tests exit|All tests|failed" $OUT/check.log | head
grep -E "c_api|C API" -A3 $OUT/cuda-tests.txt | head; grep -E "cuda C API" $OUT/cuda-tests.txt | head
