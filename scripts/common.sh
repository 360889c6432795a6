# shared by demo.sh and ablation.sh (sourced).

# bf16 autocast where the CPU has bf16 units (1.5x faster training there), fp32 elsewhere
bf16_flags=()
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then bf16_flags=(--bf16); fi

# collect_demos BIN SUITE OUT_DIR DEMOS_PER_TASK REGRASP [--tasks ...]: expert demonstrations at
# 64x64, seeds from 0 into OUT_DIR/train with regrasp probability REGRASP (sim collect --regrasp),
# and 3 clean held-out demos per task from seed 100000 into OUT_DIR/heldout
collect_demos() {
  local bin=$1 suite=$2 dir=$3 demos=$4 regrasp=$5
  shift 5
  "$bin" sim collect --suite "$suite" "$@" --episodes "$demos" --resolution 64 --seed 0 \
    --regrasp "$regrasp" --out "$dir/train"
  "$bin" sim collect --suite "$suite" "$@" --episodes 3 --resolution 64 --seed 100000 \
    --out "$dir/heldout"
}

# rater BIN CKPT TRAIN_DIR HELDOUT_DIR STEPS FRAMES [TRAIN-RATER FLAGS...]: the confidence rater
# (Eq. 6, backbone frozen) on the training demos, then its quality (AUROC, SFM vs AFM error) on
# held-out demos
rater() {
  "$1" train-rater --ckpt "$2" --data "$3" --steps "$5" "${@:7}"
  "$1" eval-rater --ckpt "$2" --data "$4" --frames "$6"
}

# clang_sanitizer_build DIR: configure (once) the clang build with ASan + UBSan + libFuzzer coverage
# that scripts/fuzz.sh and scripts/sanitize.sh share, and export the sanitizer options; libtorch
# and hdf5 are not instrumented, and what is suppressed and why is in tests/fuzz/*.supp
clang_sanitizer_build() {
  local dir=$1
  bash scripts/setup.sh --fuzz
  # configure (again: cheap, and an older build dir picks up new settings). ASan + UBSan run the
  # tests 3-10x slower than the normal build, beside a loaded machine more: the per-test hang guard
  # is an hour
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DASYNCVLA_FUZZ=ON -DASYNCVLA_BENCH=OFF -DASYNCVLA_UNITY=OFF -DASYNCVLA_TEST_TIMEOUT=3600 > /dev/null
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/fuzz/ubsan.supp"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
}

# pretrained_encoder BIN LOG_DIR: the pretrained vision encoder at runs/vision/base, once for
# every policy (docs/RESULTS.md, "Commands of the current rows"): two 50000-frame corpora side by
# side on one thread each (about 12 min), then pretraining on two threads (about 17 min) through
# train_once, like every encoder arm of exp_capacity.sh: skipped once runs/vision/base/.trained
# marks it finished, continued with --resume otherwise; a corpus that exists is reused
pretrained_encoder() {
  local bin=$1 log=$2
  [ -f runs/vision/base/.trained ] && return
  mkdir -p runs/vision
  corpus_pair "$bin" runs/corpus 64 "$log"
  train_once "$bin" runs/vision/base "$log/pretrain.log" --threads 2 pretrain-vision --corpus \
    runs/corpus/corpus_1.safetensors runs/corpus/corpus_2.safetensors "${pretrain_recipe[@]}"
}

# the base encoder's pretraining schedule, which every encoder arm shares (exp_capacity.sh)
pretrain_recipe=(--steps 5000 --batch 64 --lr 1e-3 --bf16 --holdout 2000 --eval-every 1000)

# corpus_pair BIN DIR RESOLUTION LOG_DIR: the two 50000-frame pretraining corpora (seeds 1 and 2)
# at RESOLUTION px into DIR, side by side on one thread each; a file that exists is reused
corpus_pair() {
  local bin=$1 dir=$2 resolution=$3 log=$4 s pids=()
  mkdir -p "$dir" "$log"
  for s in 1 2; do
    [ -f "$dir/corpus_$s.safetensors" ] && continue
    "$bin" --threads 1 sim corpus --frames 50000 --resolution "$resolution" --seed $s \
      --out "$dir/corpus_$s.safetensors" > "$log/corpus_$s.log" 2>&1 &
    pids+=($!)
  done
  wait_pids "${pids[@]}"
}

# the shared policy recipe (docs/RESULTS.md): the small preset, bf16, the pretrained encoder
# fine-tuned at 0.2x the learning rate, the scene token, no shift augmentation
policy_recipe=(--config configs/small.json --bf16 --init-vision runs/vision/base --scene-token
  --vision-lr-scale 0.2 --aug-shift 0)

# wait_pids PID...: wait for each of these background jobs; fails when one of them failed, so
# that set -e stops the script there (a bare `wait` returns 0 whatever the jobs returned)
wait_pids() {
  local pid status=0
  for pid in "$@"; do wait "$pid" || status=$?; done
  return "$status"
}

# collect_once BIN DIR LOG [SIM COLLECT FLAGS...]: demonstrations into DIR on one thread, skipped
# once DIR/.done marks them complete. the marker holds the collect flags: scripts share
# directories (exp_all36.sh NOISE= trains on exp_dart.sh's), and a directory collected with
# other flags is an error, not silently other data
collect_once() {
  local bin=$1 dir=$2 log=$3
  shift 3
  if [ -f "$dir/.done" ]; then
    [ "$(cat "$dir/.done")" = "$*" ] && return
    echo "collect_once: $dir holds demonstrations collected with '$(cat "$dir/.done")'," \
      "not '$*'" >&2
    return 1
  fi
  "$bin" --threads 1 sim collect "$@" --out "$dir" > "$log" 2>&1
  echo "$*" > "$dir/.done"
}

# recipe_demos_once BIN DIR LOG SUITE RESOLUTION NOISE: the per-suite recipe's demonstrations
# (50 regrasp demos per task from layout seed 0, NOISE on the executed motion: 0 clean, 0.05 DART)
# through collect_once, so every script that shares DIR writes and checks the same marker
recipe_demos_once() {
  collect_once "$1" "$2" "$3" --suite "$4" --episodes 50 --resolution "$5" --seed 0 --regrasp 0.5 \
    --action-noise "$6"
}

# train_once BIN RUN LOG [GLOBAL FLAGS...] train [TRAIN FLAGS...]: a training run into RUN,
# continued with --resume from its saved state, skipped once RUN/.trained marks it finished
train_once() {
  local bin=$1 run=$2 log=$3 resume=()
  shift 3
  [ -f "$run/.trained" ] && return
  [ -f "$run/train_state.safetensors" ] && resume=(--resume)
  "$bin" "$@" --out "$run" "${resume[@]}" >> "$log" 2>&1
  touch "$run/.trained"
}

# rater_once BIN CKPT LOG [GLOBAL FLAGS...] -- [TRAIN-RATER FLAGS...]: the confidence rater into
# CKPT, skipped once CKPT/.rater marks it trained
rater_once() {
  local bin=$1 ckpt=$2 log=$3 global=()
  shift 3
  [ -f "$ckpt/.rater" ] && return
  while [ "$1" != -- ]; do global+=("$1"); shift; done
  shift
  "$bin" "${global[@]}" train-rater --ckpt "$ckpt" "$@" > "$log" 2>&1
  touch "$ckpt/.rater"
}

# eval_once BIN REPORT LOG [EVAL FLAGS...]: a closed-loop evaluation on one thread into REPORT,
# skipped when the report exists
eval_once() {
  local bin=$1 report=$2 log=$3
  shift 3
  [ -f "$report" ] && return
  "$bin" --threads 1 eval "$@" --out "$report" > "$log" 2>&1
}
