#!/bin/bash
# timing-only variants of amx_exact_kernel_one_row_tile (m <= 16), paired against the unmodified tree
mkdir -p /tmp/deps && for f in .device-deps/*.deb; do dpkg -x $f /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu CPATH=/tmp/deps/usr/include LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
T=/tmp/parts; mkdir -p $T; cp -r .probe/base/include $T/base_inc
sed -i 's/^#define AMXMM_ABI_NAMESPACE .*/#define AMXMM_ABI_NAMESPACE ab_base/' $T/base_inc/amxmm/core/version.hpp
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -DAB_NAME=base -I$T/base_inc -c bench/ab/ab_lib.cpp -o $T/base.o &
g++ $F -c bench/ab/ab_main.cpp -o $T/main.o &
declare -A V=([same]="" [no_rescale]="-DPARTS_RESCALE=0" [no_expand]="-DPARTS_EXPAND=0" [no_stores]="-DPARTS_STORE=0" [tiles_only]="-DPARTS_RESCALE=0 -DPARTS_EXPAND=0" [dp_only]="-DPARTS_RESCALE=0 -DPARTS_EXPAND=0 -DPARTS_STORE=0")
for v in "${!V[@]}"; do g++ $F -DAB_NAME=new ${V[$v]} -I.probe/parts/include -c bench/ab/ab_lib.cpp -o $T/new_$v.o & done
wait
for v in same no_rescale no_expand no_stores tiles_only dp_only; do
  g++ $F $T/base.o $T/new_$v.o $T/main.o -o $T/ab_$v -ltbb -lhwloc
  echo "== $v" | tee -a $OUT/parts.txt
  AB_COLD_COPIES=40 $T/ab_$v 11 "auto K4096 N14336 M16" 2>&1 | tee -a $OUT/parts.txt
done
