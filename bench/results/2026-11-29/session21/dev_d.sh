# Session 21, run d: which part (continued again) of 73df299's caller_threads.hpp costs moe_ffn's last phase ~1.6 µs? f5d1215 (base),
# f5d1215 with the parity error slots (vE, as in run c), vF = HEAD with vE's member layout (the barrier words as plain
# members after the condition variable), vG = vF without the per-ith exchange (range check only); 8 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in base vE vF vG; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
wait
for r in 1 2 3 4 5 6 7 8; do for t in base vE vF vG; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/d_decode_executors.txt 2>&1
tail -5 $OUT/d_decode_executors.txt
