# session 23 g: amxmm_bench_onednn at 148bee1: oneDNN matmul bf16 / u8s8 with prepacked weights and amxmm fast /
# exact in one process, K 2048/4096 x N 4096, M 512/2048, hot; two processes (as session 18's run e)
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
cmake -S . -B /tmp/bo -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF > $OUT/g_build.txt 2>&1 && cmake --build /tmp/bo --target amxmm_bench_onednn -j16 >> $OUT/g_build.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s" > $OUT/g_log.txt
F='K(2048|4096)_N4096/M(512|2048)/'
for i in 1 2; do /tmp/bo/bench/amxmm_bench_onednn --benchmark_filter="$F" > $OUT/g_onednn_$i.txt 2>&1; echo "run $i $(( $(date +%s) - T0 )) s" >> $OUT/g_log.txt; done
cat $OUT/g_log.txt; grep -i "probe" $OUT/g_onednn_1.txt | head -3
for i in 1 2; do grep -E "^(onednn|amxmm)" $OUT/g_onednn_$i.txt | sed 's/min_time:[0-9.]*\/real_time//' | awk '{o=$1" "$2" "$3; for(i=4;i<=NF;i++) if($i ~ /^(flops|ops|ratio_to_onednn|pct_of_probe)=/) o=o" "$i; print o}'; done
