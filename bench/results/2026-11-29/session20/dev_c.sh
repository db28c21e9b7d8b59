# Session 20, run c: amxmm_probe_decode_executors (caller_threads_sync's cost per phase) with the working tree's
# caller_threads.hpp (per-phase error slots, ith check on its own cache line) against f5d1215; alternating, hot.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -I.probe/s20/base/include bench/probes/decode_executors.cpp -o /tmp/pe_base -ltbb -lhwloc &
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
wait
for r in 1 2 3; do for t in base new; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | tail -n 12; done; done > $OUT/c_decode_executors.txt 2>&1
cat $OUT/c_decode_executors.txt
