# Session 19, run f: the MoE tests on hardware AMX after 304bbfa (exact moe_gemm's queue as queued_preparation).
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
g++ -std=c++17 -O2 -DNDEBUG -pthread -DAMXMM_CATCH2_V3 -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1 -DAMXMM_TEST_PROJECT_VERSION='"x"' -Iinclude -Itests \
  tests/test_moe.cpp -o /tmp/tmoe -lCatch2Main -lCatch2 -ltbb -lhwloc > $OUT/build_f.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s"
grep -o -m1 "amx_tile" /proc/cpuinfo
/tmp/tmoe > $OUT/f_moe_tests.txt 2>&1; echo "tests rc $? $(( $(date +%s) - T0 )) s"
AMXMM_ISA=amx /tmp/tmoe "[errors]" > $OUT/f_moe_errors_amx.txt 2>&1; echo "errors amx rc $? $(( $(date +%s) - T0 )) s"
tail -n 3 $OUT/f_moe_tests.txt; tail -n 2 $OUT/f_moe_errors_amx.txt
