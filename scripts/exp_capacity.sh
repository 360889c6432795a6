#!/usr/bin/env bash
# encoder capacity once the encoder is pretrained (issue 27): does a larger encoder or a larger
# image pay, against the base encoder (runs/vision/base: the small preset's 128-wide, 2-layer
# encoder at 64 px, 5000 steps)? each arm pretrains its own encoder within the one-hour pretraining
# budget on a corpus of its resolution (the probe's held-out errors land in
# runs/cap/ARM/vision/probe.json), then trains the shared per-suite recipe (50 DART regrasp
# demonstrations per task, 12000 steps, the 2-hour limit) on SUITE from it and evaluates it in sfm
# mode on the validation and the test range, paired against the base encoder's policy of exp_dart.sh
# (ARMS=dart scripts/exp_dart.sh BIN SUITE) where its reports exist. every stage is skipped when its
# output exists; pretraining and training continue with --resume.
#   scripts/exp_capacity.sh BIN ARM [SUITE]    ARM: large (192 wide, 3 layers) | img96 (96 px)
#   env: NPROC (ranks of the policy training, default 2: alone on both cores), PROBE_ONLY=1 (stop
#   after pretraining: the probe decides whether the arm's policy is worth two hours), outputs
#   under runs/cap/ARM
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage="usage: exp_capacity.sh BIN large|img96 [SUITE]"
bin=${1:?$usage}
arm=${2:?$usage}
suite=${3:-goal}
nproc=${NPROC:-2}
root=runs/cap/$arm

# the arm: the vision fields it changes in the small preset, and its camera resolution
case $arm in
  large) fields='{"vision_dim": 192, "vision_layers": 3, "vision_heads": 6, "vision_ff": 768}'
         resolution=64 ;;
  img96) fields='{"image_size": 96}'
         resolution=96 ;;
  *) echo "exp_capacity.sh: unknown arm '$arm' ($usage)" >&2; exit 2 ;;
esac
mkdir -p "$root"
config=$root/config.json
/usr/bin/python3 - configs/small.json "$config" "$fields" <<'EOF'
import json, sys
preset = json.load(open(sys.argv[1]))
preset["model"].update(json.loads(sys.argv[3]))
json.dump(preset, open(sys.argv[2], "w"), indent=2)
EOF

# the corpus at the arm's resolution: the base encoder's files at 64 px, two new ones otherwise
corpus_dir=runs/corpus
[ "$resolution" != 64 ] && corpus_dir=runs/corpus$resolution
corpus_pair "$bin" "$corpus_dir" "$resolution" "$root"

# pretraining: the base encoder's schedule, ended by the one-hour budget if it is slower
train_once "$bin" "$root/vision" "$root/pretrain.log" --threads 2 pretrain-vision --corpus \
  "$corpus_dir/corpus_1.safetensors" "$corpus_dir/corpus_2.safetensors" --config "$config" \
  "${pretrain_recipe[@]}" --time-limit 3600
grep -h "held-out at step" "$root/pretrain.log" | tail -1 || true
[ "${PROBE_ONLY:-0}" = 1 ] && exit 0

# the demonstrations of exp_dart.sh's dart arm at the arm's resolution (the same directory at 64 px)
data=runs/dart/$suite/dart/data
[ "$resolution" != 64 ] && data=$root/$suite/data
recipe_demos_once "$bin" "$data" "$root/collect_$suite.log" "$suite" "$resolution" 0.05

# the shared per-suite recipe with the arm's preset and encoder in place of the base ones
recipe=("${policy_recipe[@]/#configs\/small.json/$config}")
recipe=("${recipe[@]/#runs\/vision\/base/$root/vision}")
train_once "$bin" "$root/$suite/ckpt" "$root/train_$suite.log" --threads 1 train --nproc "$nproc" \
  --data "$data" --steps 12000 --time-limit 7200 --keep-every 4000 "${recipe[@]}"

# sfm on the validation range (where the choice is made), then the test range, each paired
# against the base encoder's policy on the same episodes
for seed in 0 1000; do
  report=$root/${suite}_sfm_$seed.json
  eval_once "$bin" "$report" "$root/eval_${suite}_$seed.log" --ckpt "$root/$suite/ckpt" \
    --suite "$suite" --episodes 20 --mode sfm --parallel 4 --seed "$seed"
  grep -h average "$root/eval_${suite}_$seed.log"
  base=runs/dart/$suite/dart_sfm_$seed.json
  if [ -f "$base" ]; then "$bin" compare "$report" "$base" | tee "$root/compare_${suite}_$seed.txt"; fi
done
