#!/usr/bin/env bash
# libFuzzer on every parser that takes outside bytes (tests/fuzz/fuzz_targets.h: safetensors,
# config/rater json, tokenizer, LIBERO hdf5 from memory, the server's request decoder, the
# client's reply decoder), each binary built with clang + ASan + UBSan in $FUZZ_BUILD.
# usage: scripts/fuzz.sh [RUNS] [TARGET ...]      (make fuzz; RUNS per target, default 1000000)
#   FUZZ_SECONDS=N   a time budget per target instead of a run count
#   FUZZ_BUILD=dir   the clang build (default build-fuzz)
# a crash lands in $FUZZ_BUILD/crashes/<target>/; fix it, then keep the input as a regression case
# in tests/fuzz/regressions/<target>/ (the normal test suite replays it). the summary is written to
# $FUZZ_BUILD/fuzz_report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(safetensors config tokenizer libero request reply); fi
build=${FUZZ_BUILD:-build-fuzz}

source scripts/common.sh
clang_sanitizer_build "$build"
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

report="$build/fuzz_report.md"
{
  echo "| target | runs | seconds | runs/s | corpus | crashes |"
  echo "|---|---|---|---|---|---|"
} > "$report"
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  limit=(-runs="$runs")
  if [ -n "${FUZZ_SECONDS:-}" ]; then limit=(-max_total_time="$FUZZ_SECONDS"); fi
  log="$build/fuzz_$t.log"
  echo "== fuzz_$t: ${limit[*]}, log $log"
  start=$(date +%s)
  rc=0
  "$build/fuzz_$t" "${limit[@]}" -max_len=65536 -rss_limit_mb=4096 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" > "$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  # a crash prints the final stats twice: the last count is the run's
  done_runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || echo 0)
  n_crash=$(find "$crashes" -type f | wc -l)
  n_corpus=$(find "$corpus" -type f | wc -l)
  rate=$(( done_runs / (secs > 0 ? secs : 1) ))
  echo "   $done_runs runs in $secs s ($rate/s), corpus $n_corpus, crash files $n_crash, exit $rc"
  echo "| $t | $done_runs | $secs | $rate | $n_corpus | $n_crash |" >> "$report"
  if [ $rc -ne 0 ] || [ "$n_crash" -ne 0 ]; then
    status=1
    grep -E "ERROR|runtime error|invariant|SUMMARY" "$log" | head -5 || true
  fi
done
cat "$report"
exit $status
