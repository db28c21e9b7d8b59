# session 25 g: the CPU suite but [large] on hardware AMX at the session's HEAD (choose_isa's reason change), and the
# two new probes built by CMake (GCC 13, -Werror) and run once each.
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
( cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_WERROR=ON -DAMXMM_BUILD_EXAMPLES=OFF && \
  cmake --build /tmp/cpu -j16 --target amxmm_tests amxmm_probe_amx_vector_overlap amxmm_probe_amx_exact_block_parts ) > $OUT/g_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/g_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/g_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/g_log.txt
/tmp/cpu/bench/amxmm_probe_amx_vector_overlap 16 > $OUT/g_overlap.txt 2>&1
/tmp/cpu/bench/amxmm_probe_amx_exact_block_parts 16 > $OUT/g_parts.txt 2>&1
echo "probes done $(( $(date +%s) - T0 )) s" >> $OUT/g_log.txt
cat $OUT/g_log.txt; grep -iE "error|warning" $OUT/g_build.txt | head; tail -3 $OUT/g_cpu_tests.txt; cat $OUT/g_overlap.txt $OUT/g_parts.txt
