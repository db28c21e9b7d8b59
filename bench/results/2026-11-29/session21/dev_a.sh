# Session 21, run a: session 20's run g again with 8ce9bf0's barrier (the error-phase words on the barrier's own
# line) as `new`: f5d1215 (base), HEAD (new) and HEAD with f5d1215's caller_threads.hpp (oldct); 6 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -I.probe/s21/base/include bench/probes/decode_executors.cpp -o /tmp/pe_base -ltbb -lhwloc &
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
g++ $F -I.probe/s21/oldct/include bench/probes/decode_executors.cpp -o /tmp/pe_oldct -ltbb -lhwloc &
wait
for r in 1 2 3 4 5 6; do for t in base new oldct; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/a_decode_executors.txt 2>&1
cat $OUT/a_decode_executors.txt
