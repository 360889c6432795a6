#!/usr/bin/env bash
# one suite per policy, the shared 12000-step recipe on clean regrasp demonstrations (control)
# against the same demonstrations collected with dart noise on the executed actions
# (--action-noise): does showing the expert's recovery from off-path states lift success?
# (docs/EXPERIMENTS.md, 2026-12-06). then each arm's rater and async mode at the paper's defaults
# on the test range. every stage is skipped when its output exists, so a rerun
# after an interruption continues; training continues with --resume.
#   scripts/exp_dart.sh BIN SUITE [NOISE] [STEPS]    outputs under runs/dart/SUITE
#   env: ARMS (default "clean dart"; "dart" runs the treatment alone), LIMIT (time limit, s),
#   NPROC (ranks per training, default 1; 2 trains one arm alone on both cores, the same run:
#   docs/DISTRIBUTED.md)
set -euo pipefail
source "$(dirname "$0")/common.sh"
bin=${1:?usage: exp_dart.sh BIN SUITE [NOISE] [STEPS]}
suite=${2:?usage: exp_dart.sh BIN SUITE [NOISE] [STEPS]}
noise=${3:-0.05}
steps=${4:-12000}
limit=${LIMIT:-7200}
nproc=${NPROC:-1}
read -ra arms <<< "${ARMS:-clean dart}"
root=runs/dart/$suite
mkdir -p "$root"

pretrained_encoder "$bin" "$root"

# 50 regrasp demonstrations per task, the same layout seeds in every arm
pids=()
for arm in "${arms[@]}"; do
  arm_noise=0
  [ "$arm" = dart ] && arm_noise=$noise
  recipe_demos_once "$bin" "$root/$arm/data" "$root/collect_$arm.log" "$suite" 64 "$arm_noise" &
  pids+=($!)
done
wait_pids "${pids[@]}"

# the shared per-suite recipe, the arms side by side on one thread per rank
pids=()
for arm in "${arms[@]}"; do
  train_once "$bin" "$root/$arm/ckpt" "$root/train_$arm.log" --threads 1 train --nproc "$nproc" \
    --data "$root/$arm/data" --steps "$steps" --time-limit "$limit" --keep-every 4000 \
    "${policy_recipe[@]}" &
  pids+=($!)
done
wait_pids "${pids[@]}"

# sfm on the validation range, where the choice between the arms is made, then on the test range
for seed in 0 1000; do
  pids=()
  for arm in "${arms[@]}"; do
    eval_once "$bin" "$root/${arm}_sfm_$seed.json" "$root/eval_${arm}_$seed.log" --ckpt \
      "$root/$arm/ckpt" --suite "$suite" --episodes 20 --mode sfm --parallel 4 --seed "$seed" &
    pids+=($!)
  done
  wait_pids "${pids[@]}"
  for arm in "${arms[@]}"; do grep -h average "$root/eval_${arm}_$seed.log"; done
  if [ -f "$root/clean_sfm_$seed.json" ] && [ -f "$root/dart_sfm_$seed.json" ]; then
    "$bin" compare "$root/dart_sfm_$seed.json" "$root/clean_sfm_$seed.json" | tee "$root/compare_$seed.txt"
  fi
done

# each arm's rater (400 steps on its demonstrations, backbone frozen) and async mode at the
# paper's defaults (whole chunk, T 0.5) on the test range; nothing is chosen here
pids=()
for arm in "${arms[@]}"; do
  (
    rater_once "$bin" "$root/$arm/ckpt" "$root/rater_$arm.log" --threads 1 -- \
      --data "$root/$arm/data" --steps 400
    eval_once "$bin" "$root/${arm}_async_1000.json" "$root/eval_${arm}_async_1000.log" --ckpt \
      "$root/$arm/ckpt" --suite "$suite" --episodes 20 --mode async --parallel 4 --seed 1000
  ) &
  pids+=($!)
done
wait_pids "${pids[@]}"
for arm in "${arms[@]}"; do
  grep -h average "$root/eval_${arm}_async_1000.log"
  "$bin" compare "$root/${arm}_async_1000.json" "$root/${arm}_sfm_1000.json" | grep paired
done
