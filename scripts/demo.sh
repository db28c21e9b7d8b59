#!/usr/bin/env bash
# Build amxmm's demo (Release, into build/) and run it: examples/demo.cpp -> build/examples/amxmm_demo.
# Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f examples/demo.cpp ]]; then
  echo "demo: examples/demo.cpp does not exist yet; nothing to build or run"
  exit 0
fi

scripts/install-deps.sh

build="${AMXMM_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMXMM_BUILD_EXAMPLES=ON "$@"
cmake --build "$build" -j "$(nproc)" --target amxmm_demo
exec "$build/examples/amxmm_demo"
