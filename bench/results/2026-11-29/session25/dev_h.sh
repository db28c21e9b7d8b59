# session 25 h: the AVX2 exact kernel (both 8-column halves in one walk for <= 2 rows; a block's products summed
# in 16 bits before one VPMADDWD) on the device's Xeon, with AMXMM_ISA=avx2 so that `auto` runs it: .probe/s25/h3
# (the working tree's include/) against .probe/s25/head (6f90a54's), bench/ab, 7 rounds, two processes; then the
# CPU suite but [large] on hardware AMX at the working tree (the avx2 back end is tested there too).
set -u
mkdir -p $OUT /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
S=.probe/s25
bench/ab/build.sh $S/head $S/h3 /tmp/ab_h3 > $OUT/h_build.txt 2>&1 &
( cmake -S . -B /tmp/cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_CUDA=OFF -DAMXMM_BUILD_BENCH=OFF -DAMXMM_BUILD_EXAMPLES=OFF && cmake --build /tmp/cpu -j12 ) > $OUT/h_build_tests.txt 2>&1 &
wait
echo "builds done $(( $(date +%s) - T0 )) s" > $OUT/h_log.txt
for p in 1 2; do AMXMM_ISA=avx2 /tmp/ab_h3 7 "decode auto,decode moe_ffn qwen3 M1 ,decode moe_ffn qwen3 M4 " > $OUT/h_avx2_$p.txt 2>&1; done
echo "ab done $(( $(date +%s) - T0 )) s" >> $OUT/h_log.txt
/tmp/cpu/tests/amxmm_tests "~[large]" > $OUT/h_cpu_tests.txt 2>&1
echo "cpu tests rc $? $(( $(date +%s) - T0 )) s" >> $OUT/h_log.txt
tail -3 $OUT/h_cpu_tests.txt > $OUT/h_cpu_tests_tail.txt; rm -f $OUT/h_cpu_tests.txt
cat $OUT/h_log.txt; grep -i error $OUT/h_build.txt | head; cat $OUT/h_cpu_tests_tail.txt
for f in $OUT/h_avx2_*.txt; do echo "== $f"; grep "new/base" $f | awk -F'new/base med ' '{split($2,a," "); printf "%-36s %s\n", substr($1,1,36), a[1]}'; done
