#!/usr/bin/env bash
# make bench: the C++ benchmarks, then PyTorch eager on the same weights, then the ratio table.
set -euo pipefail
build=${1:-build}
threads=${THREADS:-2}
dir=${ASYNCVLA_BENCH_DIR:-/tmp/asyncvla_bench}
export ASYNCVLA_BENCH_DIR=$dir
mkdir -p "$dir"
echo "[bench] C++ (LibTorch) small preset, $threads threads"
"$build/bench_model" --benchmark_out="$dir/cpp.json" --benchmark_out_format=json
echo "[bench] PyTorch eager reference on the same weights, $threads threads"
/usr/bin/python3 bench/reference_bench.py "$dir" "$threads" > "$dir/python.json"
/usr/bin/python3 bench/compare.py "$dir/cpp.json" "$dir/python.json"
