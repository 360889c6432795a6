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
for arm in clean dart; do
  arm_noise=0
  [ $arm = dart ] && arm_noise=$noise
  collect_once "$bin" "$root/$arm/data" "$root/collect_$arm.log" --suite long --episodes 50 \
    --resolution 64 --seed 0 --regrasp 0.5 --action-noise "$arm_noise" &
done
wait

# the shared per-suite recipe, both arms side by side on one thread each
for arm in clean dart; do
  train_once "$bin" "$root/$arm/ckpt" "$root/train_$arm.log" --threads 1 train \
    --data "$root/$arm/data" --steps "$steps" --time-limit "$limit" --keep-every 4000 \
    "${policy_recipe[@]}" &
done
wait

# sfm on the validation range, where the choice between the arms is made, then on the test range
for seed in 0 1000; do
  for arm in clean dart; do
    eval_once "$bin" "$root/${arm}_sfm_$seed.json" "$root/eval_${arm}_$seed.log" --ckpt \
      "$root/$arm/ckpt" --suite long --episodes 20 --mode sfm --parallel 4 --seed "$seed" &
  done
  wait
  "$bin" compare "$root/dart_sfm_$seed.json" "$root/clean_sfm_$seed.json" | tee "$root/compare_$seed.txt"
done
