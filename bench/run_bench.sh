#!/usr/bin/env bash
# make bench: C++ (LibTorch) and PyTorch eager on the same weights, interleaved for ROUNDS rounds
# so that both see the same machine (shared cloud CPUs drift by tens of percent over minutes);
# the table takes each side's best round. bf16 training runs once (it is slow on CPUs without
# bf16 units).
set -euo pipefail
build=${1:-build}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
dir=${ASYNCVLA_BENCH_DIR:-/tmp/asyncvla_bench}
export ASYNCVLA_BENCH_DIR=$dir
mkdir -p "$dir"
rm -f "$dir"/cpp_*.json "$dir"/python_*.json "$dir"/sim.json
for round in $(seq 1 "$rounds"); do
  echo "[bench] round $round/$rounds: C++ (LibTorch) small preset, $threads threads"
  "$build/bench_model" --benchmark_filter='-BM_TrainStep(Bf16|Recipe)' \
    --benchmark_out="$dir/cpp_$round.json" --benchmark_out_format=json
  echo "[bench] round $round/$rounds: PyTorch eager reference on the same weights"
  /usr/bin/python3 bench/reference_bench.py "$dir" "$threads" > "$dir/python_$round.json"
  cat "$dir/python_$round.json"
done
echo "[bench] simulator: control steps/s (one core) and expert demonstrations/min"
"$build/bench_sim" --benchmark_out="$dir/sim.json" --benchmark_out_format=json
echo "[bench] bf16 autocast training, once"
"$build/bench_model" --benchmark_filter='BM_TrainStepBf16' \
  --benchmark_out="$dir/cpp_bf16.json" --benchmark_out_format=json
/usr/bin/python3 bench/compare.py "$dir"
