#!/usr/bin/env bash
# the training loop against its step: a real `asyncvla train` run on demonstrations, and the same
# step (the default recipe: flow_draws 4, sfm_share 0.5, batch 32, the small preset) timed alone
# by bench_model, in one run on the same machine. prints both samples/s and their ratio.
#   bash bench/train_loop_bench.sh BUILD [DATA_DIR]   (default: 5 demos per goal task, collected)
# STEPS (default 300) training steps; the first WARMUP (default 30) are left out of the mean;
# ROUNDS (default 3) alternations of the two.
set -euo pipefail
build=${1:-build}
data=${2:-}
steps=${STEPS:-300}
warmup=${WARMUP:-30}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
dir=$(mktemp -d /tmp/asyncvla_loop_bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
bf16=()
filter=BM_TrainStepRecipe
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then bf16=(--bf16); filter=BM_TrainStepRecipeBf16; fi
if [ -z "$data" ]; then
  data=$dir/data
  "$build/asyncvla" sim collect --suite goal --episodes 5 --resolution 64 --out "$data" > /dev/null
fi
# the machine's speed drifts by tens of percent over minutes: alternate the two, ROUNDS times,
# and compare each run with the step timed just before it
for round in $(seq 1 "$rounds"); do
  echo "[loop bench] round $round/$rounds: $filter alone, $threads threads"
  "$build/bench_model" --benchmark_filter="^$filter/" --benchmark_out="$dir/step_$round.json" \
    --benchmark_out_format=json > /dev/null
  echo "[loop bench] round $round/$rounds: asyncvla train, $steps steps ${bf16[*]}, $threads threads"
  "$build/asyncvla" --threads "$threads" train --data "$data" --config configs/small.json \
    --out "$dir/run_$round" --steps "$steps" "${bf16[@]}" > "$dir/train_$round.log" 2>&1
done
/usr/bin/python3 - "$dir" "$warmup" "$rounds" <<'PY'
import json, statistics, sys
d, warmup, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ratios = []
for r in range(1, rounds + 1):
    step = [b for b in json.load(open(f"{d}/step_{r}.json"))["benchmarks"]
            if b.get("run_type") != "aggregate"][0]
    bench_sps = step["samples_per_s"]
    lines = [json.loads(l) for l in open(f"{d}/run_{r}/metrics.jsonl")]
    lines = [l for l in lines if l["step"] > warmup]
    ms = sum(l["ms_per_step"] for l in lines) / len(lines)
    data_ms = sum(l.get("data_ms", 0) for l in lines) / len(lines)
    ema_ms = sum(l.get("ema_ms", 0) for l in lines) / len(lines)
    run_sps = 32 * 1000.0 / ms
    ratios.append(run_sps / bench_sps)
    print(f"round {r}: bench step ({step['name']}) {bench_sps:.1f} samples/s | train loop "
          f"{run_sps:.1f} samples/s ({ms:.0f} ms a step; data {data_ms:.1f} ms, ema {ema_ms:.1f} ms "
          f"on the critical path) | loop / step {ratios[-1]:.2f}x")
print(f"ratio loop / step, round by round: {', '.join(f'{x:.2f}x' for x in ratios)} "
      f"(median {statistics.median(ratios):.2f}x)")
PY
