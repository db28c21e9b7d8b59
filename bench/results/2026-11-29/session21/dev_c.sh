# Session 21, run c: which part (continued) of 73df299's caller_threads.hpp costs moe_ffn's last phase ~1.6 µs? f5d1215 (base),
# HEAD (new), HEAD without the check_caller call (vC), HEAD with the range check only (vD, no per-ith exchange),
# f5d1215 with only the two parity error slots added (vE). Variant trees: .probe/s21/{base,vC,vD,vE}; 6 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in base vC vD vE; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
wait
for r in 1 2 3 4 5 6; do for t in base new vC vD vE; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/c_decode_executors.txt 2>&1
tail -5 $OUT/c_decode_executors.txt
