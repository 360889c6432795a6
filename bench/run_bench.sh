#!/usr/bin/env bash
# make bench: C++ (LibTorch) and PyTorch eager on the same weights, interleaved for ROUNDS rounds
# so that both see the same machine (shared cloud CPUs drift by tens of percent over minutes);
# the table takes each side's best round. bf16 training joins every round where the cpu has bf16
# units (avx512-bf16 or amx; best of rounds, like PyTorch's autocast side), and runs once
# elsewhere (it is slow there).
set -euo pipefail
build=${1:-build}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
dir=${ASYNCVLA_BENCH_DIR:-/tmp/asyncvla_bench}
export ASYNCVLA_BENCH_DIR=$dir
mkdir -p "$dir"
rm -f "$dir"/cpp_*.json "$dir"/python_*.json "$dir"/sim.json
skip='-BM_TrainStep(Bf16|Recipe)'
bf16_units=0
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then skip='-BM_TrainStepRecipe'; bf16_units=1; fi
for round in $(seq 1 "$rounds"); do
  echo "[bench] round $round/$rounds: C++ (LibTorch) small preset, $threads threads"
  "$build/bench_model" --benchmark_filter="$skip" \
    --benchmark_out="$dir/cpp_$round.json" --benchmark_out_format=json
  echo "[bench] round $round/$rounds: PyTorch eager reference on the same weights"
  /usr/bin/python3 bench/reference_bench.py "$dir" "$threads" > "$dir/python_$round.json"
  cat "$dir/python_$round.json"
done
echo "[bench] simulator: control steps/s (one core) and expert demonstrations/min"
"$build/bench_sim" --benchmark_out="$dir/sim.json" --benchmark_out_format=json
if [ "$bf16_units" = 0 ]; then
  echo "[bench] bf16 autocast training, once"
  "$build/bench_model" --benchmark_filter='BM_TrainStepBf16' \
    --benchmark_out="$dir/cpp_bf16.json" --benchmark_out_format=json
fi
/usr/bin/python3 bench/compare.py "$dir"
