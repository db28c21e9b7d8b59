# Session 18, run c: x's preparation interleaved with the expert tasks in the queue (working tree) against
# c64367a (.probe/s18/base; the CPU code is unchanged at 4c209ea), two processes; the MoE tests on hardware AMX.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s18/base . /tmp/ab_new > $OUT/build_ab.txt 2>&1 &
g++ -std=c++17 -O2 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1 -DAMXMM_TEST_PROJECT_VERSION='"x"' -Iinclude -Itests \
  tests/test_moe.cpp tests/catch_main.cpp -o /tmp/tmoe -ltbb -lhwloc > $OUT/build_tests.txt 2>&1 &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
C="moe_ffn qwen3 M512,moe_ffn qwen3 M2048,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,decode moe_ffn qwen3 M4 hot,decode moe_ffn qwen3 M1 hot"
for r in 1 2; do /tmp/ab_new 11 "$C" > $OUT/c_ab_$r.txt 2>&1; echo "ab $r $(( $(date +%s) - T0 )) s" >> $OUT/log.txt; done
/tmp/tmoe > $OUT/c_moe_tests.txt 2>&1; echo "tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
grep -q "amx" /proc/cpuinfo && echo "amx in cpuinfo" >> $OUT/log.txt
cat $OUT/log.txt; for r in 1 2; do cut -c1-175 $OUT/c_ab_$r.txt | grep -v "^#"; done; tail -n 3 $OUT/c_moe_tests.txt
