# Session 21, run f: is the ~1.5 µs a heap-layout effect on the probe's own words? With the probe as it was
# (.probe/s21/decode_executors_old.cpp): vE and vJ = vE plus an unused 1 KiB heap block allocated in the sync's
# constructor (as HEAD's per-ith array is). With the probe whose pool and spin-barrier words have cache lines of their
# own (bench/probes/decode_executors.cpp at this commit): f5d1215 (base), HEAD (new), vE, vI; 8 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in vE vJ; do g++ $F -I.probe/s21/$t/include .probe/s21/decode_executors_old.cpp -o /tmp/pe_old_$t -ltbb -lhwloc & done
for t in base vE vI; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
wait
for r in 1 2 3 4 5 6 7 8; do for t in old_vE old_vJ base new vE vI; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/f_decode_executors.txt 2>&1
tail -5 $OUT/f_decode_executors.txt
