#!/usr/bin/env bash
# data-parallel figures for docs/DISTRIBUTED.md: training samples/s of the small preset as
# 1 process x N threads against N ranks x 1 thread (--nproc N, gloo over loopback), the
# gradient all-reduce time of one step (measured at start-up) and the part of it backward does
# not hide (sync ms per step). usage: bash bench/dist_bench.sh [BUILD_DIR] (STEPS=40 NPROC=2)
set -euo pipefail
build=${1:-build}
steps=${STEPS:-40}
nproc=${NPROC:-2}
dir=${ASYNCVLA_BENCH_DIR:-/tmp/asyncvla_dist_bench}
source "$(dirname "$0")/../scripts/common.sh"
rm -rf "$dir" && mkdir -p "$dir"
"$build/asyncvla" synth --out "$dir/data" --n-tasks 2 --episodes 8 --resolution 64 > /dev/null 2>&1

# mean ms per step over the second half of the run (the first half warms up)
ms_per_step() {
  grep -E '^[0-9:]+ step ' "$1" | awk -v from=$((steps / 2)) '{
    split($2, s, "/"); if (s[1] > from) { for (i = 1; i <= NF; ++i) if ($i == "ms") { t += $(i-1); n++; break } } }
    END { printf "%.1f", t / n }'
}
sync_ms() {
  grep -E '^[0-9:]+ step ' "$1" | awk -v from=$((steps / 2)) '{
    split($2, s, "/"); if (s[1] > from) { for (i = 1; i <= NF; ++i) if ($i == "sync") { t += $(i+1); n++ } } }
    END { printf "%.1f", t / n }'
}
batch=32
echo "[dist-bench] $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, bf16: ${bf16_flags[*]:-off}"
"$build/asyncvla" --threads "$nproc" train --data "$dir/data" --out "$dir/one" --steps "$steps" \
  --batch $batch "${bf16_flags[@]}" --keep-every 0 > "$dir/one.log" 2>&1
"$build/asyncvla" --threads 1 train --data "$dir/data" --out "$dir/ranks" --steps "$steps" \
  --batch $batch --nproc "$nproc" "${bf16_flags[@]}" --keep-every 0 > "$dir/ranks.log" 2>&1
one=$(ms_per_step "$dir/one.log")
ranks=$(ms_per_step "$dir/ranks.log")
sync=$(sync_ms "$dir/ranks.log")
probe=$(grep -o 'one all-reduce of them [0-9.]* ms' "$dir/ranks.log" | grep -o '[0-9.]* ms')
grads=$(grep -o 'gradients [0-9.]* MB in [0-9]* buckets' "$dir/ranks.log")
awk -v one="$one" -v ranks="$ranks" -v sync="$sync" -v b=$batch -v n="$nproc" -v probe="$probe" \
  -v grads="$grads" 'BEGIN {
  printf "| layout | ms/step | samples/s |\n|---|---|---|\n"
  printf "| 1 process x %d threads | %.0f | %.1f |\n", n, one, b * 1000 / one
  printf "| %d ranks x 1 thread (gloo, loopback) | %.0f | %.1f |\n", n, ranks, b * 1000 / ranks
  printf "\n%d ranks / 1 process: %.2fx samples/s\n", n, one / ranks
  printf "%s; one all-reduce of them at start-up: %s\n", grads, probe
  printf "exposed all-reduce wait per step: %.1f ms = %.1f %% of the step\n", sync, 100 * sync / ranks
}'
