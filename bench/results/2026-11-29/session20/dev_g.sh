# Session 20, run g: run c's probe: f5d1215 (base), the working tree (new, = 73df299's caller_threads.hpp with its
# per-ith words padded and the barrier words aligned), and the working tree with f5d1215's caller_threads.hpp
# (oldct): is the last phase's extra time the barrier's or the rest of the tree's?
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -I.probe/s20/base/include bench/probes/decode_executors.cpp -o /tmp/pe_base -ltbb -lhwloc &
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
g++ $F -I.probe/s20/oldct/include bench/probes/decode_executors.cpp -o /tmp/pe_oldct -ltbb -lhwloc &
wait
for r in 1 2 3 4; do for t in base new oldct; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/g_decode_executors.txt 2>&1
cat $OUT/g_decode_executors.txt
