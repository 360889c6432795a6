#!/usr/bin/env bash
# libFuzzer on every parser that takes outside bytes (tests/fuzz/fuzz_targets.h: safetensors,
# config/rater json, tokenizer, LIBERO hdf5 from memory, the server's request decoder, the
# client's reply decoder, TFRecord framing, RLDS episode records), each binary built with clang + ASan + UBSan in
# $FUZZ_BUILD.
# usage: scripts/fuzz.sh [RUNS] [TARGET ...]      (make fuzz; RUNS per target, default 1000000)
#   FUZZ_SECONDS=N   a time budget per target instead of a run count
#   FUZZ_BUILD=dir   the clang build (default build-fuzz)
#   FUZZ_JOBS=N      libero only: parallel fuzzing loops sharing the corpus (default 1)
# a crash lands in $FUZZ_BUILD/crashes/<target>/; fix it, then keep the input as a regression case
# in tests/fuzz/regressions/<target>/ (the normal test suite replays it). the summary is written to
# $FUZZ_BUILD/fuzz_report.md. "escaped the guard" counts crashes that asyncvla itself would suffer:
# for libero, the crash inputs that the guarded reader does not refuse cleanly; for the others, all.
# "in our code" counts crash inputs whose fault is ours (for libero: scripts/fuzz_triage.py, which
# re-runs each one unguarded and reads its stack; libhdf5's own crashes are not ours).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(safetensors config tokenizer libero request reply tfrecord rlds_episode); fi
build=${FUZZ_BUILD:-build-fuzz}

source scripts/common.sh
clang_sanitizer_build "$build"
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

# libFuzzer in its normal mode, restarted after each stop on a finding, until RUNS inputs ran (or
# SECONDS passed). libero_restart_loop BINARY CORPUS CRASHES RUNS SECONDS LOG. its last line:
# "restart loop: N runs, K restarts". three stops in a row with under 100 runs each end the loop
# (a finding that reproduces at start-up, or a killed fuzzer, would otherwise spin).
libero_restart_loop() {
  local bin=$1 corpus=$2 crashes=$3 want=$4 seconds=$5 out=$6
  local total=0 restarts=0 quick=0 stopped start now n limit
  start=$(date +%s)
  : > "$out"
  while [ "$total" -lt "$want" ]; do
    limit=(-runs=$((want - total)))
    if [ -n "$seconds" ]; then
      now=$(date +%s)
      [ $((now - start)) -ge "$seconds" ] && break
      limit=(-max_total_time=$((seconds - (now - start))))
    fi
    # (the braces take bash's own "Aborted" line into the log too)
    { ASYNCVLA_HDF5_GUARD=0 "$bin" "${limit[@]}" -max_len=65536 -rss_limit_mb=4096 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus"; } > "$out.part" 2>&1 || true
    # a stop on a finding prints the final stats twice: the last count is the run's
    n=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out.part" | tail -n 1 |
      grep -oE '[0-9]+$' || true)
    n=${n:-0}
    grep -E 'ERROR|SUMMARY|Test unit written|DONE' "$out.part" >> "$out" || true
    total=$((total + n))
    stopped=0
    grep -q 'Test unit written' "$out.part" && stopped=1
    restarts=$((restarts + stopped))
    if [ "$n" -lt 100 ]; then quick=$((quick + 1)); else quick=0; fi
    [ "$quick" -ge 3 ] && { echo "restart loop: three stops in a row at start-up" >> "$out"; break; }
    if [ "$stopped" -eq 0 ] && [ -n "$seconds" ]; then break; fi
  done
  rm -f "$out.part"
  echo "restart loop: $total runs, $restarts restarts" >> "$out"
}

report="$build/fuzz_report.md"
{
  echo "| target | runs | seconds | runs/s | corpus | crashes | escaped the guard | in our code |"
  echo "|---|---|---|---|---|---|---|---|"
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
  if [ "$t" = libero ]; then
    # libhdf5 1.10 itself crashes on some corrupt files (docs/RELIABILITY.md). the reader's guard
    # (a forked child per file) would hold the fuzzer to a few inputs a second, so the fuzzer runs
    # the reader unguarded and is restarted after each crash, timeout or out-of-memory stop until
    # the run count (or time) is spent; every such input is then replayed below through the
    # guarded reader, which must refuse it cleanly. (libFuzzer's own -fork mode does the same but
    # ran 40x slower here: 11.6 runs/s against ~600.) an input that keeps libhdf5 busy 10 s is a
    # finding (it loops forever on some files). FUZZ_JOBS loops share the corpus directory.
    jobs=${FUZZ_JOBS:-1}
    rm -f "$build"/fuzz_"${t}"_job*.log  # (a log of an earlier run with more jobs would be counted)
    for j in $(seq 1 "$jobs"); do
      libero_restart_loop "$build/fuzz_$t" "$corpus" "$crashes" $(( (runs + jobs - 1) / jobs )) \
        "${FUZZ_SECONDS:-}" "$build/fuzz_${t}_job$j.log" &
    done
    wait || rc=$?
    cat "$build"/fuzz_"${t}"_job*.log > "$log"
    done_runs=$(grep -oE '^restart loop: [0-9]+ runs' "$log" | grep -oE '[0-9]+' |
      awk '{ s += $1 } END { print s + 0 }')
  else
    "$build/fuzz_$t" "${limit[@]}" -max_len=65536 -rss_limit_mb=4096 -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" > "$log" 2>&1 || rc=$?
    # a crash prints the final stats twice: the last count is the run's
    done_runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || true)
  fi
  done_runs=${done_runs:-0}
  secs=$(( $(date +%s) - start ))
  n_crash=$(find "$crashes" -type f | wc -l)
  n_corpus=$(find "$corpus" -type f | wc -l)
  rate=$(( done_runs / (secs > 0 ? secs : 1) ))
  escaped=$n_crash
  ours=$n_crash
  if [ "$t" = libero ] && [ "$n_crash" -ne 0 ]; then
    # each crash, timeout and out-of-memory input through the guarded reader: a clean refusal is
    # exit 0 of the replay (an endless loop is refused at the guard's deadline)
    escaped=0
    for f in "$crashes"/*; do
      ASYNCVLA_HDF5_GUARD=1 ASYNCVLA_HDF5_GUARD_TIMEOUT=20 "$build/fuzz_$t" -rss_limit_mb=4096 "$f" \
        > "$build/replay_$t.log" 2>&1 || { escaped=$((escaped + 1)); echo "   escaped: $f"; }
    done
    rc=0
    # the guard would hide a fault of our own reader code too (it runs in the same child): each
    # kept input again, unguarded, and the first frame of its report that is ours or a library's
    # names the owner (scripts/fuzz_triage.py; its table lands in triage_libero.md)
    /usr/bin/python3 scripts/fuzz_triage.py "$build/fuzz_$t" "$crashes" \
      --out "$build/triage_$t.md" > "$build/triage_$t.log" 2>&1 || true
    ours=$(grep -oE '^in our code: [0-9]+' "$build/triage_$t.log" | grep -oE '[0-9]+$' || echo "?")
  fi
  echo "   $done_runs runs in $secs s ($rate/s), corpus $n_corpus, crash files $n_crash, escaped $escaped, in our code $ours, exit $rc"
  echo "| $t | $done_runs | $secs | $rate | $n_corpus | $n_crash | $escaped | $ours |" >> "$report"
  if [ $rc -ne 0 ] || [ "$escaped" -ne 0 ] || [ "$ours" != 0 ]; then
    status=1
    grep -E "ERROR|runtime error|invariant|SUMMARY" "$log" | head -5 || true
  fi
done
cat "$report"
exit $status
