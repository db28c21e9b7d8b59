# Device: A/B vs 97a39ba (.probe/base): varA = slot sum in the queue (HEAD~1), this tree = + shared token rows. CPU tests.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/base .probe/varA /tmp/abA &
bench/ab/build.sh .probe/base . /tmp/abB &
(cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > /tmp/cfg.log 2>&1 && cmake --build /tmp/b --target amxmm_tests -j10 > /tmp/test_build.log 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
F="${AB_FILTER:-decode moe}"
/tmp/abB ${AB_ROUNDS:-21} "$F" > $OUT/abB.txt 2>&1
/tmp/abA ${AB_ROUNDS:-21} "$F" > $OUT/abA.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
/tmp/b/tests/amxmm_tests "~[large]" > $OUT/tests.txt 2>&1; echo "tests rc=$?" >> $OUT/log.txt
AMXMM_ISA=amx /tmp/b/tests/amxmm_tests "[moe],[exec]" > /tmp/t2.txt 2>&1; echo "moe/exec amx rc=$?" >> $OUT/log.txt; tail -3 /tmp/t2.txt >> $OUT/log.txt
grep -B3 -A20 FAILED $OUT/tests.txt | head -60 >> $OUT/log.txt; tail -3 $OUT/tests.txt >> $OUT/log.txt
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; cat $OUT/abB.txt $OUT/abA.txt
