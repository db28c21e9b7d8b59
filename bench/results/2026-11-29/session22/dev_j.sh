# session 22 j: column blocks per task capped at 8 or 32 instead of 16 (dense AMX large-M path), paired against
# 6ee0662 (.probe/s22/head), bench/ab, 15 rounds
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
bench/ab/build.sh .probe/s22/head .probe/s22/cb8 /tmp/ab_cb8 &
bench/ab/build.sh .probe/s22/head .probe/s22/cb32 /tmp/ab_cb32 &
wait
cases="gemm fast,gemm exact K2048,gemm exact K4096 N4096"
/tmp/ab_cb8 15 "$cases" > $OUT/j_cb8.txt 2>&1
/tmp/ab_cb32 15 "$cases" > $OUT/j_cb32.txt 2>&1
for f in $OUT/j_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-60; done
