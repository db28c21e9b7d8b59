# Session 21, run n: the barrier after the read-through (a4675c9: one indexed arrival path, no exemption counter)
# against f5d1215 (base); the fixed probe; 8 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -I.probe/s21/base/include bench/probes/decode_executors.cpp -o /tmp/pe_base -ltbb -lhwloc &
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
wait
for r in 1 2 3 4 5 6 7 8; do for t in base new; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/n_decode_executors.txt 2>&1
tail -3 $OUT/n_decode_executors.txt
