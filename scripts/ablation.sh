#!/usr/bin/env bash
# the paper's table 4 on one of our suites, same checkpoints and paired evaluation seeds:
#   (a) vanilla training (--vanilla, plain SFM), sfm inference
#   (b) unified training, sfm inference (w/o AFM)
#   (c) unified training + AFM on random tokens (w/o rater)
#   (d) full AsyncVLA: unified training + rater + AFM on doubtful tokens (async)
# the two trainings run side by side with one thread each (same machine drift for both), then
# the rater, then every evaluation with both threads and lockstep batches.
# usage: scripts/ablation.sh BUILD SUITE OUT   (defaults below, each an environment variable)
set -euo pipefail
build=${1:-build}
suite=${2:-goal}
out=${3:-runs/ablation_$suite}
bin="$build/asyncvla"
demos=${ABL_DEMOS:-20}               # demonstrations per task
train_steps=${ABL_STEPS:-2400}     # the same step budget for both (equal compute; a time budget
                                   # would favour whichever process gets the less loaded core)
rater_steps=${ABL_RATER_STEPS:-400}
eval_episodes=${ABL_EVAL_EPISODES:-20}  # per task, seeds 2^40 + 0..
keep_every=${ABL_KEEP_EVERY:-400}    # snapshot interval (steps) for the success-vs-time curve
tasks=${ABL_TASKS:-}                 # space-separated subset of the suite (default: all)
aux_object=${ABL_AUX_OBJECT:-0}      # weight of the auxiliary object-position loss, both runs (0: off)
rater_window=${ABL_RATER_WINDOW:-0}  # tokens the rater rates and (c), (d) may regenerate (0: all;
                                     # 5: the executed half, docs/RESULTS.md)
threshold=${ABL_THRESHOLD:-0.5}      # (d): regenerate tokens with confidence below this
regrasp=${ABL_REGRASP:-0}            # regrasp demonstrations (sim collect --regrasp; 0.5 for goal
                                     # and long in docs/RESULTS.md)
config=${ABL_CONFIG:-configs/small.json}  # model/training preset of both runs
train_flags=(${ABL_TRAIN_FLAGS:-})   # more train flags for both runs, e.g. the pretrained encoder:
                                     # "--init-vision runs/vision/base --vision-lr-scale 0.2 --aug-shift 0"
eval_seeds=(${ABL_EVAL_SEEDS:-0})    # eval --seed of each range: "0 1000" = validation and test
                                     # (docs/RESULTS.md); files eval_NAME.json for the first,
                                     # eval_NAME_sSEED.json for the others
source "$(dirname "$0")/common.sh"
task_args=()
if [ -n "$tasks" ]; then task_args=(--tasks $tasks); fi
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "   ($(( $(date +%s) - start )) s so far)"; }

echo "== demonstrations: $suite, $demos per task (+ 3 held out)"
if [ ! -d "$out/data/train" ]; then
  collect_demos "$bin" "$suite" "$out/data" "$demos" "$regrasp" "${task_args[@]}"
fi
stamp

echo "== training side by side, $train_steps steps each, one thread each: unified | vanilla"
train() {  # name, extra flags
  local name=$1; shift
  rm -rf "$out/$name"
  "$bin" --threads 1 train --data "$out/data/train" --config "$config" \
    --out "$out/$name" --steps "$train_steps" --keep-every "$keep_every" \
    --aux-object "$aux_object" "${bf16_flags[@]}" "${train_flags[@]}" "$@" \
    > "$out/train_$name.log" 2>&1
}
if [ -z "${ABL_SKIP_TRAIN:-}" ]; then  # set it to evaluate runs trained earlier
  train unified &
  pid_unified=$!
  train vanilla --vanilla &
  pid_vanilla=$!
  wait $pid_unified
  wait $pid_vanilla
fi
tail -n 2 "$out/train_unified.log" "$out/train_vanilla.log"
stamp

echo "== rater (Eq. 6, backbone frozen) and its held-out quality"
rater "$bin" "$out/unified" "$out/data/train" "$out/data/heldout" "$rater_steps" 512 \
  --window "$rater_window"
stamp

echo "== closed loop, $eval_episodes episodes per task, paired seeds"
for seed in "${eval_seeds[@]}"; do
  suffix=""
  if [ "$seed" != "${eval_seeds[0]}" ]; then suffix="_s$seed"; fi
  evaluate() {  # ckpt, mode, name
    "$bin" eval --ckpt "$out/$1" --suite "$suite" "${task_args[@]}" --episodes "$eval_episodes" \
      --mode "$2" --threshold "$threshold" --seed "$seed" --parallel 4 \
      --out "$out/eval_$3$suffix.json" | tail -n 1
  }
  evaluate vanilla sfm a_vanilla_sfm
  evaluate unified sfm b_unified_sfm
  evaluate unified random c_unified_random
  evaluate unified async d_asyncvla
  stamp

  echo "== paired tests (eval --seed $seed)"
  "$bin" compare "$out/eval_d_asyncvla$suffix.json" "$out/eval_b_unified_sfm$suffix.json"
  "$bin" compare "$out/eval_b_unified_sfm$suffix.json" "$out/eval_a_vanilla_sfm$suffix.json"
  "$bin" compare "$out/eval_d_asyncvla$suffix.json" "$out/eval_c_unified_random$suffix.json"
done
/usr/bin/python3 "$(dirname "$0")/plot_ablation.py" "$out" "$out/table4.png"
echo "done in $(( $(date +%s) - start )) s: $out"
