# Device: A/B pairs (41 rounds) of this tree vs 97a39ba, then amxmm_bench_moe decode cold for 97a39ba and this tree, alternating.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
mkdir -p /tmp/bt_base && tar --exclude=./.probe --exclude=./.device-deps -cf - . | tar -xf - -C /tmp/bt_base && rm -rf /tmp/bt_base/include && cp -r .probe/base/include /tmp/bt_base/include
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF"
bench/ab/build.sh .probe/base . /tmp/ab &
(cmake -S /tmp/bt_base -B /tmp/bb $C > /tmp/cb.log 2>&1 && cmake --build /tmp/bb --target amxmm_bench_moe -j6 >> /tmp/cb.log 2>&1) &
(cmake -S . -B /tmp/bn $C > /tmp/cn.log 2>&1 && cmake --build /tmp/bn --target amxmm_bench_moe -j6 >> /tmp/cn.log 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt
/tmp/ab 41 "decode moe" > $OUT/ab41.txt 2>&1
echo "ab $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
FILTER='moe_ffn/qwen3_30b_a3b/uniform/auto/amx/M(1|4|16)/cold|moe_ffn/(deepseek_v3|mixtral_8x7b)/uniform/auto/amx/M(1|4)/cold|moe_gemm/qwen3_30b_a3b/uniform/auto/amx/M(1|4)/cold'
for i in 1 2; do
  /tmp/bb/bench/amxmm_bench_moe --benchmark_filter="$FILTER" > $OUT/moe_base_$i.txt 2>&1
  /tmp/bn/bench/amxmm_bench_moe --benchmark_filter="$FILTER" > $OUT/moe_new_$i.txt 2>&1
done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt $OUT/ab41.txt; for f in $OUT/moe_*.txt; do echo "== $f"; grep -E "^moe_" $f | sed 's/min_time:[0-9.]*\/real_time//' | awk '{p=""; for(i=1;i<=NF;i++) if($i ~ /^pct_dram=/) p=$i; print $1, $2, $3, p}'; grep -m1 "DRAM read probe" $f; done
