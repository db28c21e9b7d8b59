# Device run: instrumented moe_ffn phases (base, new), bench/ab pairs, CPU tests. Few files: $OUT returns at most 8.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
T0=$(date +%s)
g++ $F -I.probe/inst_base/include .probe/phases.cpp -o /tmp/ph_base -ltbb -lhwloc &
g++ $F -I.probe/inst_new/include .probe/phases.cpp -o /tmp/ph_new -ltbb -lhwloc &
bench/ab/build.sh .probe/base . /tmp/ab &
[ -d .probe/base2 ] && bench/ab/build.sh .probe/base2 . /tmp/ab2 &
[ -n "$SKIP_TESTS" ] || (cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/b --target amxmm_tests -j12 > /tmp/test_build.log 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
for i in ${PHASE_RUNS:-1 2}; do echo "== base $i" >> $OUT/phases.txt; /tmp/ph_base >> $OUT/phases.txt 2>&1; echo "== new $i" >> $OUT/phases.txt; /tmp/ph_new >> $OUT/phases.txt 2>&1; done
echo "phases $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/ab ${AB_ROUNDS:-15} "${AB_FILTER:-decode moe_ffn}" > $OUT/ab.txt 2>&1
[ -x /tmp/ab2 ] && /tmp/ab2 ${AB_ROUNDS:-15} "${AB2_FILTER:-moe_ffn}" > $OUT/ab2.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
if [ -z "$SKIP_TESTS" ]; then
  tail -5 /tmp/test_build.log >> $OUT/log.txt
  /tmp/b/tests/amxmm_tests "~[large]" > /tmp/tests.txt 2>&1; echo "tests rc=$?" >> $OUT/log.txt; tail -3 /tmp/tests.txt >> $OUT/log.txt
  AMXMM_ISA=amx /tmp/b/tests/amxmm_tests "[moe]" > /tmp/tests_moe.txt 2>&1; echo "moe amx rc=$?" >> $OUT/log.txt; tail -3 /tmp/tests_moe.txt >> $OUT/log.txt
fi
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt
