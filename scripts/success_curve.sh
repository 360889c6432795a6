#!/usr/bin/env bash
# success against training time: every snapshot of a run (train --keep-every N) evaluated in
# closed loop on the same seeds; writes RUN/curve/eval_<step>.json, prints a table and draws
# RUN/curve_<mode>.png. usage: scripts/success_curve.sh BUILD RUN SUITE EPISODES_PER_TASK [MODE] [TASK...]
set -euo pipefail
build=$1
run=$2
suite=$3
episodes=$4
mode=${5:-sfm}
shift $(( $# < 5 ? $# : 5 ))
task_args=()
if [ $# -gt 0 ]; then task_args=(--tasks "$@"); fi
mkdir -p "$run/curve"
for snap in "$run"/snapshots/step_*; do
  step=$(basename "$snap")
  out="$run/curve/eval_${step}_$mode.json"
  if [ ! -f "$out" ]; then
    "$build/asyncvla" eval --ckpt "$snap" --suite "$suite" "${task_args[@]}" \
      --episodes "$episodes" --mode "$mode" --out "$out" > /dev/null
  fi
done
/usr/bin/python3 "$(dirname "$0")/plot_curve.py" "$run" "$mode" "$run/curve_$mode.png"
