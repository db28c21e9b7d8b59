#!/usr/bin/env bash
# Runs amxmm's benchmark suite, writes one JSON per executable, draws the PNG and prints the ratio table.
#
#   bench/run_suite.sh [BUILD_DIR] [OUT_DIR]          (defaults: build, bench-out)
#
# Environment (besides the AMXMM_BENCH_* variables of bench/bench_common.hpp):
#   GEMM_FILTER     --benchmark_filter for amxmm_bench_gemm   (default: everything)
#   ONEDNN_FILTER   --benchmark_filter for amxmm_bench_onednn (default: everything)
#   SKIP            space-separated subset of "limits gemm onednn" not to run
#
# Outputs in OUT_DIR: limits.json, gemm.json, onednn.json, bench.png, summary.md (the markdown table).
set -euo pipefail
cd "$(dirname "$0")/.."

build="${1:-build}"
out="${2:-bench-out}"
mkdir -p "$out"
skip=" ${SKIP:-} "

run() {  # run NAME EXECUTABLE FILTER
    local name="$1" exe="$2" filter="$3"
    if [[ "$skip" == *" $name "* ]]; then return; fi
    if [[ ! -x "$exe" ]]; then
        echo "run_suite: $exe not built; skipping $name" >&2
        return
    fi
    echo "run_suite: $exe -> $out/$name.json" >&2
    "$exe" --benchmark_filter="${filter:-.}" --benchmark_out="$out/$name.json" --benchmark_out_format=json
}

run limits "$build/bench/amxmm_bench_limits" ""
run gemm "$build/bench/amxmm_bench_gemm" "${GEMM_FILTER:-}"
run onednn "$build/bench/amxmm_bench_onednn" "${ONEDNN_FILTER:-}"

shopt -s nullglob
jsons=("$out"/limits.json "$out"/gemm.json "$out"/onednn.json)
present=()
for j in "${jsons[@]}"; do [[ -f "$j" ]] && present+=("$j"); done
python3 scripts/plot_bench.py "$out/bench.png" "${present[@]}" --hline "2.2e12:best existing Q4_0 AMX kernel (device, 2.2 TOP/s)" \
    | tee "$out/summary.md"
