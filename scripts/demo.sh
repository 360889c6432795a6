#!/usr/bin/env bash
# make demo: the whole pipeline on built-in defaults, about 9 minutes on 2 cores.
#   1. a synthetic reach-and-grasp dataset in the LIBERO HDF5 layout (train and held-out seeds)
#   2. unified SFM+AFM training of the small preset for a bounded time
#   3. SFM and AFM (random mask) chunks on held-out demonstrations against their ground truth
#   4. demo/training.png with the loss curve
set -euo pipefail
build=${1:-build}
bin="$build/asyncvla"
out=${DEMO_DIR:-demo}
steps=${DEMO_STEPS:-600}
train_seconds=${DEMO_TRAIN_SECONDS:-600}
mkdir -p "$out"

echo "== 1/4 data: 4 tasks x 24 demonstrations (train), 4 x 3 (held out)"
"$bin" synth --out "$out/data/train" --tasks 4 --episodes 24 --resolution 128 --seed 1
"$bin" synth --out "$out/data/heldout" --tasks 4 --episodes 3 --resolution 128 --seed 2

echo "== 2/4 training the small preset: $steps steps (at most ${train_seconds}s)"
rm -rf "$out/run"
"$bin" train --data "$out/data/train" --config configs/small.json --out "$out/run" \
  --steps "$steps" --time-limit "$train_seconds"

echo "== 3/4 held-out chunks: SFM vs AFM on a random half of the tokens"
for task in 0 1 2 3; do
  for mode in sfm random; do
    "$bin" infer --ckpt "$out/run" --data "$out/data/heldout/synthetic_task$task.hdf5" \
      --demo 0 --step 5 --mode "$mode" | grep -E "instruction|mse|timings" | sed "s/^/  [$mode] /"
  done
done

echo "== 4/4 plot"
/usr/bin/python3 scripts/plot_training.py "$out/run" "$out/training.png"
echo "done: checkpoint in $out/run, curve in $out/training.png"
