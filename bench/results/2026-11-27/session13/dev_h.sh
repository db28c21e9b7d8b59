# session 13 h: by_expert vs grouped mma (fast) above 4 pairs per expert, at HEAD
set -u
mkdir -p $OUT
/usr/local/cuda/bin/nvcc -O2 -std=c++17 -arch=sm_90a -I include -o /tmp/mgp .probe/s13/moe_group_probe.cu -lcublas > $OUT/probe_build.log 2>&1
for v in by_expert "grouped mma"; do PROBE_ONLY="$v" /tmp/mgp 128 8 2048 768 80 96 128; PROBE_ONLY="$v" /tmp/mgp 8 2 4096 14336 20 24 32; PROBE_ONLY="$v" /tmp/mgp 64 8 7168 2048 32 48; done > $OUT/boundary_high.txt 2>&1
cut -c1-92 $OUT/boundary_high.txt
