# Device: amxmm_bench_moe decode (cold) for the base tree (.probe/base/include, 7fcbbf8) and this tree, alternating.
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export CMAKE_PREFIX_PATH=/tmp/deps/usr LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
mkdir -p /tmp/bt_base && tar --exclude=./.probe --exclude=./.device-deps -cf - . | tar -xf - -C /tmp/bt_base && rm -rf /tmp/bt_base/include && cp -r .probe/base/include /tmp/bt_base/include
C="-G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_TESTS=OFF -DAMXMM_BUILD_EXAMPLES=OFF -DAMXMM_CUDA=OFF"
(cmake -S /tmp/bt_base -B /tmp/bb $C > /tmp/cb.log 2>&1 && cmake --build /tmp/bb --target amxmm_bench_moe -j8 >> /tmp/cb.log 2>&1) &
(cmake -S . -B /tmp/bn $C > /tmp/cn.log 2>&1 && cmake --build /tmp/bn --target amxmm_bench_moe -j8 >> /tmp/cn.log 2>&1) &
wait
echo "build $(( $(date +%s) - T0 )) s" > $OUT/log.txt; /tmp/bn/bench/amxmm_bench_moe --benchmark_list_tests | grep cold | head -20 >> $OUT/log.txt
FILTER=${FILTER:-'moe_ffn/qwen3_30b_a3b/uniform/.*/M(1|4|16)/cold|moe_ffn/(deepseek_v3|mixtral_8x7b)/uniform/.*/M1/cold|moe_gemm/qwen3_30b_a3b/uniform/.*/M1/cold'}
for i in 1 2; do
  /tmp/bb/bench/amxmm_bench_moe --benchmark_filter="$FILTER" > $OUT/moe_base_$i.txt 2>&1
  /tmp/bn/bench/amxmm_bench_moe --benchmark_filter="$FILTER" > $OUT/moe_new_$i.txt 2>&1
done
echo "end $(( $(date +%s) - T0 )) s" >> $OUT/log.txt
cat $OUT/log.txt; grep -h "M1/cold" $OUT/moe_*_1.txt | head
