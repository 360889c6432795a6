#!/usr/bin/env bash
# long per suite, the shared 12000-step recipe on clean regrasp demonstrations (control) against
# the same demonstrations collected with dart noise on the executed actions (--action-noise):
# does showing the expert's recovery from off-path states lift long's second subtask?
# (docs/EXPERIMENTS.md, 2026-12-06 afternoon). every stage is skipped when its output exists, so
# a rerun after an interruption continues; training continues with --resume.
#   scripts/exp_long_dart.sh BIN [NOISE] [STEPS]     outputs under runs/ldart (LIMIT: time limit, s)
set -euo pipefail
source "$(dirname "$0")/common.sh"
bin=${1:?usage: exp_long_dart.sh BIN [NOISE] [STEPS]}
noise=${2:-0.05}
steps=${3:-12000}
limit=${LIMIT:-7200}
root=runs/ldart
mkdir -p "$root"

pretrained_encoder "$bin" "$root"

# 50 regrasp demonstrations per long task, the same layout seeds, clean and noisy
collect() {
  local arm=$1 arm_noise=$2
  [ -f "$root/$arm/data/.done" ] && return
  "$bin" --threads 1 sim collect --suite long --episodes 50 --resolution 64 --seed 0 \
    --regrasp 0.5 --action-noise "$arm_noise" --out "$root/$arm/data" > "$root/collect_$arm.log" 2>&1
  touch "$root/$arm/data/.done"
}
collect clean 0 &
collect dart "$noise" &
wait

# the shared per-suite recipe, both arms side by side on one thread each
train() {
  local arm=$1 resume=()
  [ -f "$root/$arm/ckpt/.trained" ] && return
  [ -f "$root/$arm/ckpt/train_state.safetensors" ] && resume=(--resume)
  "$bin" --threads 1 train --data "$root/$arm/data" --config configs/small.json \
    --out "$root/$arm/ckpt" --steps "$steps" --time-limit "$limit" --keep-every 4000 --bf16 \
    --init-vision runs/vision/base --scene-token --vision-lr-scale 0.2 --aug-shift 0 \
    "${resume[@]}" >> "$root/train_$arm.log" 2>&1
  touch "$root/$arm/ckpt/.trained"
}
train clean &
train dart &
wait

# sfm on the validation range, where the choice between the arms is made, then on the test range
evaluate() {
  local arm=$1 seed=$2
  [ -f "$root/${arm}_sfm_$seed.json" ] && return
  "$bin" --threads 1 eval --ckpt "$root/$arm/ckpt" --suite long --episodes 20 --mode sfm \
    --parallel 4 --seed "$seed" --out "$root/${arm}_sfm_$seed.json" > "$root/eval_${arm}_$seed.log" 2>&1
}
for seed in 0 1000; do
  evaluate clean $seed &
  evaluate dart $seed &
  wait
  "$bin" compare "$root/dart_sfm_$seed.json" "$root/clean_sfm_$seed.json" | tee "$root/compare_$seed.txt"
done
