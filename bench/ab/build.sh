#!/bin/bash
# bench/ab/build.sh BASE_TREE NEW_TREE OUT_BINARY: the paired A/B executable (bench/ab/README.md).
# oneTBB and hwloc from the default paths or CPATH / LIBRARY_PATH.
set -e
B=$1; N=$2; O=$3; D=$(dirname $0); T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -r $B/include $T/base_inc
sed -i 's/^#define AMXMM_ABI_NAMESPACE .*/#define AMXMM_ABI_NAMESPACE ab_base/' $T/base_inc/amxmm/core/version.hpp
grep -q 'AMXMM_ABI_NAMESPACE ab_base' $T/base_inc/amxmm/core/version.hpp  # else both copies would share symbols
F="-std=c++17 -O3 -DNDEBUG -pthread -DAMXMM_HAVE_TBB=1 -DAMXMM_HAVE_HWLOC=1"
g++ $F -DAB_NAME=base -I$T/base_inc -c $D/ab_lib.cpp -o $T/base.o &
g++ $F -DAB_NAME=new -I$N/include -c $D/ab_lib.cpp -o $T/new.o &
g++ $F -c $D/ab_main.cpp -o $T/main.o &
wait
g++ $F $T/base.o $T/new.o $T/main.o -o $O -ltbb -lhwloc
