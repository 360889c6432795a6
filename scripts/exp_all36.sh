#!/usr/bin/env bash
# one AsyncVLA policy for all 36 tasks (the paper's protocol, docs/RESULTS.md): 50 regrasp
# demonstrations per task, the pretrained encoder fine-tuned at 0.2x, scene token, no shift, bf16,
# unified training data-parallel on 2 ranks x 1 thread, the rater (400 steps on all four suites'
# data), then validation sfm and test sfm + async at the paper's defaults. every stage is skipped
# when its output exists; training continues with --resume.
#   scripts/exp_all36.sh BIN [STEPS] [TRAIN FLAGS...]   outputs under runs/a36dp (OUT=... to change)
#   (--vanilla among the train flags gives row (a) of Table 4)
#   NOISE=0.05: DART demonstrations (sim collect --action-noise), the dart arm of exp_dart.sh with
#   the same collect command and directory (runs/dart/SUITE/dart/data), so either script reuses
#   what the other collected
set -euo pipefail
source "$(dirname "$0")/common.sh"
bin=${1:?usage: exp_all36.sh BIN [STEPS] [TRAIN FLAGS...]}
steps=${2:-48000}
shift $(($# < 2 ? $# : 2))
out=${OUT:-runs/a36dp}
limit=${LIMIT:-14400}
noise=${NOISE:-0}
suites=(spatial object goal long)
mkdir -p "$out"

pretrained_encoder "$bin" "$out"

# the demonstrations, two suites at a time
data=()
pids=()
for suite in "${suites[@]}"; do
  dir=runs/rg50/$suite/data/train
  [ "$noise" != 0 ] && dir=runs/dart/$suite/dart/data
  data+=("$dir")
  recipe_demos_once "$bin" "$dir" "$out/collect_$suite.log" "$suite" 64 "$noise" &
  pids+=($!)
  if [ "$suite" = object ]; then
    wait_pids "${pids[@]}"
    pids=()
  fi
done
wait_pids "${pids[@]}"

# unified training on both cores (the run does not depend on the rank count: docs/DISTRIBUTED.md)
train_once "$bin" "$out/ckpt" "$out/train.log" --threads 1 train --nproc 2 --data "${data[@]}" \
  --steps "$steps" --time-limit "$limit" --keep-every 10000 "${policy_recipe[@]}" "$@"

# validation sfm, the rater, test sfm and async (paper defaults: whole chunk, T 0.5)
evaluate() {
  local suite=$1 mode=$2 seed=$3
  eval_once "$bin" "$out/final_${suite}_${mode}_${seed}.json" "$out/eval_${suite}_${mode}_${seed}.log" \
    --ckpt "$out/ckpt" --suite "$suite" --episodes 20 --mode "$mode" --parallel 4 --seed "$seed"
}
pids=()
for suite in "${suites[@]}"; do
  evaluate "$suite" sfm 0 &
  pids+=($!)
done
wait_pids "${pids[@]}"
rater_once "$bin" "$out/ckpt" "$out/rater.log" --threads 2 -- --data "${data[@]}" --steps 400
for mode in sfm async; do
  pids=()
  for suite in "${suites[@]}"; do
    evaluate "$suite" "$mode" 1000 &
    pids+=($!)
  done
  wait_pids "${pids[@]}"
done
grep -h average "$out"/eval_*.log
