# Session 19, run c: small_shapes_probe.cu (dense wgmma vs dequant_cublas, small and mid-size weights, m = 9..256).
T0=$(date +%s)
/usr/local/cuda/bin/nvcc -std=c++17 -O2 -arch=sm_90a -Iinclude .probe/s19/small_shapes_probe.cu -o /tmp/ssp -lcublas > $OUT/build_c.txt 2>&1
echo "build rc $? $(( $(date +%s) - T0 )) s"
/tmp/ssp > $OUT/c_small_shapes.txt 2>&1; echo "rc $? $(( $(date +%s) - T0 )) s"
cat $OUT/c_small_shapes.txt
