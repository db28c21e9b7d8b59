# Session 21, run h: the duplicate-ith check, cheaper. f5d1215 (base), vK and vL (as in run g), vM = vL with the per-ith
# words 128 bytes apart, vO = vL with a plain load and store instead of the exchange (not exact), vN = vK plus a
# duplicate check folded into the arrival: each arrival adds 1 + (hash(ith) << 20) to the arrival word and the last
# arriver compares the hash sum with the sum over 0..nth-1 (no extra atomic operation); 8 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in base vK vL vM vO vN; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
wait
for r in 1 2 3 4 5 6 7 8; do for t in base vK vL vM vO vN; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/h_decode_executors.txt 2>&1
tail -5 $OUT/h_decode_executors.txt
