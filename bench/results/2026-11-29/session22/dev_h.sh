# session 22 h: the kept K chunk (L2/32: 32 blocks here) paired against c8e7f57 (bench/ab, 15 rounds, two processes),
# then the CPU suite but [large] on hardware AMX at the new tree
set -u
mkdir -p $OUT /tmp/deps
for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
bench/ab/build.sh .probe/s22/base . /tmp/ab_new > $OUT/h_build.txt 2>&1 &
cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF >> $OUT/h_build.txt 2>&1 && cmake --build /tmp/cpu -j12 >> $OUT/h_build.txt 2>&1
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/h_log.txt
cases="gemm fast,gemm exact,moe_gemm qwen3 M512,moe_gemm qwen3 M2048,moe_ffn qwen3 M512,moe_ffn qwen3 M2048"
for p in 1 2; do /tmp/ab_new 15 "$cases" > $OUT/h_ab_$p.txt 2>&1; done
echo "ab done $(( $(date +%s) - T0 )) s" >> $OUT/h_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/h_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/h_log.txt
cat $OUT/h_log.txt; tail -3 $OUT/h_cpu_tests.txt
for f in $OUT/h_ab_*.txt; do echo "== $f"; grep "new/base" $f | sed 's/base med.*new\/base/ratio/' | cut -c1-60; done
