#!/usr/bin/env bash
# Install what amxmm needs to build, test, benchmark and plot, from Debian/Ubuntu packages.
# Does nothing when everything is installed; apt-get runs only for missing packages (through sudo
# when not root). Set AMXMM_SKIP_DEPS=1 to skip this step entirely (e.g. offline machines).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config   # toolchain
  libtbb-dev libhwloc-dev            # library dependencies
  catch2 libbenchmark-dev            # tests, benchmarks
  libdnnl-dev                        # oneDNN: the benchmarks' CPU peer
  python3-matplotlib                 # roofline plots
)

if [[ "${AMXMM_SKIP_DEPS:-0}" == 1 ]]; then
  echo "install-deps: AMXMM_SKIP_DEPS=1, not checking packages"
  exit 0
fi
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "install-deps: not a Debian-like system; install these yourself: ${packages[*]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
