#!/usr/bin/env bash
# the training loop against its step: a real `asyncvla train` run on demonstrations, and the same
# step (the default recipe: flow_draws 4, sfm_share 0.5, batch 32, the small preset) timed alone
# by bench_model, in one run on the same machine. prints both samples/s and their ratio.
#   bash bench/train_loop_bench.sh BUILD [DATA_DIR]   (default: 5 demos per goal task, collected)
# STEPS (default 300) training steps; the first WARMUP (default 30) are left out of the mean.
set -euo pipefail
build=${1:-build}
data=${2:-}
steps=${STEPS:-300}
warmup=${WARMUP:-30}
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
echo "[loop bench] $filter alone, $threads threads"
"$build/bench_model" --benchmark_filter="^$filter/" --benchmark_out="$dir/step.json" \
  --benchmark_out_format=json > /dev/null
echo "[loop bench] asyncvla train, $steps steps ${bf16[*]}, $threads threads"
"$build/asyncvla" --threads "$threads" train --data "$data" --config configs/small.json \
  --out "$dir/run" --steps "$steps" "${bf16[@]}" > "$dir/train.log" 2>&1
/usr/bin/python3 - "$dir" "$warmup" <<'PY'
import json, sys
d, warmup = sys.argv[1], int(sys.argv[2])
step = [b for b in json.load(open(f"{d}/step.json"))["benchmarks"] if b.get("run_type") != "aggregate"][0]
bench_sps = step["samples_per_s"]
lines = [json.loads(l) for l in open(f"{d}/run/metrics.jsonl")]
lines = [l for l in lines if l["step"] > warmup]
ms = sum(l["ms_per_step"] for l in lines) / len(lines)
data_ms = sum(l.get("data_ms", 0) for l in lines) / len(lines)
ema_ms = sum(l.get("ema_ms", 0) for l in lines) / len(lines)
run_sps = 32 * 1000.0 / ms
print(f"bench step ({step['name']}): {bench_sps:.1f} samples/s")
print(f"train loop: {run_sps:.1f} samples/s ({ms:.0f} ms a step; data {data_ms:.1f} ms, ema {ema_ms:.1f} ms on the critical path)")
print(f"ratio loop / step: {run_sps / bench_sps:.2f}x")
PY
