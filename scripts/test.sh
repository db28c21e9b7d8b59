#!/usr/bin/env bash
# Build amxmm (Release, Ninja, into build/) and run its tests.
#   ./scripts/test.sh                      # the usual
#   ./scripts/test.sh -DAMXMM_WERROR=ON    # extra arguments go to the CMake configure step
# AMXMM_BUILD_DIR picks another build folder.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build="${AMXMM_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure
