# Session 20, run d: run c's probe again, three builds alternating: f5d1215 (base), the working tree (new), and the
# working tree without check_caller (nochk, timing variant).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -I.probe/s20/base/include bench/probes/decode_executors.cpp -o /tmp/pe_base -ltbb -lhwloc &
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
g++ $F -I.probe/s20/nochk/include bench/probes/decode_executors.cpp -o /tmp/pe_nochk -ltbb -lhwloc &
wait
for r in 1 2 3; do for t in base new nochk; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "moe_ffn"; done; done > $OUT/d_decode_executors.txt 2>&1
cat $OUT/d_decode_executors.txt
