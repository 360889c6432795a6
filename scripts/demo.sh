#!/usr/bin/env bash
# make demo: self-correction end to end on built-in defaults, ~30 minutes on 2 cores after the build.
#   1. expert demonstrations of the `goal` suite in the MuJoCo tabletop (LIBERO HDF5 layout)
#   2. unified SFM+AFM training (Alg. 2) of the small preset for a bounded time
#   3. the confidence rater (Eq. 6) with the backbone frozen, and its quality on held-out demos
#   4. closed-loop evaluation of `sfm` and `async` on the same evaluation seeds
#   5. demo/results.png (training curve + success rates), demo/videos/*.mp4 (async rollouts)
set -euo pipefail
build=${1:-build}
bin="$build/asyncvla"
out=${DEMO_DIR:-demo}
suite=${DEMO_SUITE:-goal}
episodes=${DEMO_EPISODES:-20}
# one articulated task and three pick-and-place tasks of the goal suite (DEMO_TASKS="" for all 8)
tasks=${DEMO_TASKS-open_drawer cube_in_bowl cube_on_plate cylinder_in_bowl}
steps=${DEMO_STEPS:-100000}               # an upper bound: the time limit ends the schedule
train_seconds=${DEMO_TRAIN_SECONDS:-1200}
keep_every=${DEMO_KEEP_EVERY:-300}        # snapshots for scripts/success_curve.sh (0: none)
rater_steps=${DEMO_RATER_STEPS:-300}
eval_episodes=${DEMO_EVAL_EPISODES:-10}
eval_max_steps=${DEMO_EVAL_MAX_STEPS:-}   # a cap on steps per episode (empty: each task's own limit)
aux_object=${DEMO_AUX_OBJECT:-0}          # auxiliary object-position loss weight (0: off)
task_args=()
if [ -n "$tasks" ]; then task_args=(--tasks $tasks); fi
max_steps_args=()
if [ -n "$eval_max_steps" ]; then max_steps_args=(--max-steps "$eval_max_steps"); fi
source "$(dirname "$0")/common.sh"
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "   ($(( $(date +%s) - start )) s so far)"; }

echo "== 1/5 demonstrations: suite $suite, $episodes per task (train) + 3 per task (held out)"
rm -rf "$out/data"
collect_demos "$bin" "$suite" "$out/data" "$episodes" 0 "${task_args[@]}"
stamp

echo "== 2/5 unified training of the small preset: a ${train_seconds}s schedule ${bf16_flags[*]}"
rm -rf "$out/run"
"$bin" train --data "$out/data/train" --config configs/small.json --out "$out/run" \
  --steps "$steps" --time-limit "$train_seconds" --keep-every "$keep_every" \
  --aux-object "$aux_object" "${bf16_flags[@]}"
stamp

echo "== 3/5 confidence rater: $rater_steps steps (backbone frozen), then its held-out quality"
rater "$bin" "$out/run" "$out/data/train" "$out/data/heldout" "$rater_steps" 256
stamp

echo "== 4/5 closed loop: $eval_episodes episodes per task, sfm vs async, same seeds"
for mode in sfm async; do
  video=()
  if [ "$mode" = async ]; then video=(--video "$out/videos"); fi
  "$bin" eval --ckpt "$out/run" --suite "$suite" "${task_args[@]}" --episodes "$eval_episodes" \
    --mode "$mode" "${max_steps_args[@]}" --out "$out/eval_$mode.json" "${video[@]}"
done
"$bin" compare "$out/eval_async.json" "$out/eval_sfm.json"
stamp

echo "== 5/5 plots"
/usr/bin/python3 scripts/plot_results.py "$out" "$out/results.png"
echo "done in $(( $(date +%s) - start )) s: checkpoint $out/run, $out/results.png, $out/videos/"
