# Session 21, run m: is the per-thread word's ~2 µs about its heap block or about touching it? vK and vL as in
# runs g-h; vP = vL with the per-ith words in an array inside the sync object (no heap allocation); 8 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in base vK vL vP; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
wait
for r in 1 2 3 4 5 6 7 8; do for t in base vK vL vP; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/m_decode_executors.txt 2>&1
tail -5 $OUT/m_decode_executors.txt
