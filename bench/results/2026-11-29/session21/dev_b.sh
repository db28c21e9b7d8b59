# Session 21, run b: which part of 73df299's caller_threads.hpp costs moe_ffn's last phase ~1.6 µs? f5d1215 (base),
# HEAD (new), HEAD with f5d1215's caller_threads.hpp (oldct), vA = HEAD with the check's and the null sync's error
# paths in cold out-of-line functions and a relaxed per-ith exchange, vB = vA with the barrier words as plain members
# (no 64-byte-aligned line, f5d1215's member order). Variant trees: .probe/s21/{base,oldct,vA,vB}; 6 rounds.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
for t in base oldct vA vB; do g++ $F -I.probe/s21/$t/include bench/probes/decode_executors.cpp -o /tmp/pe_$t -ltbb -lhwloc & done
g++ $F -Iinclude bench/probes/decode_executors.cpp -o /tmp/pe_new -ltbb -lhwloc &
wait
for r in 1 2 3 4 5 6; do for t in base new oldct vA vB; do echo "== $t $r"; /tmp/pe_$t 16 1 2>&1 | grep "caller_threads" | grep "hot"; done; done > $OUT/b_decode_executors.txt 2>&1
tail -5 $OUT/b_decode_executors.txt
