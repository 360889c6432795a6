#!/usr/bin/env bash
# make demo's pipeline end to end at a toy size: every stage of scripts/demo.sh with the flags it
# passes by default (the eval's default step limit among them, which a CLI change once broke
# after training had already spent its 20 minutes), one task, two demonstrations, 20 training
# steps, one episode per mode. checks that each stage wrote what the next one and the user read.
#   tests/scripts/demo_smoke.sh BUILD_DIR OUT_DIR    (ctest: Scripts.DemoSmoke)
set -euo pipefail
build=${1:?usage: demo_smoke.sh BUILD_DIR OUT_DIR}
out=${2:?usage: demo_smoke.sh BUILD_DIR OUT_DIR}
cd "$(dirname "$0")/../.."
rm -rf "$out"
DEMO_DIR=$out DEMO_TASKS=open_drawer DEMO_EPISODES=2 DEMO_STEPS=20 DEMO_KEEP_EVERY=0 \
  DEMO_RATER_STEPS=5 DEMO_EVAL_EPISODES=1 bash scripts/demo.sh "$build"

fail() { echo "demo_smoke: $*" >&2; exit 1; }
for f in data/train/open_drawer_demo.hdf5 data/heldout/open_drawer_demo.hdf5 run/model.safetensors \
  run/rater.safetensors run/eval_rater.json eval_sfm.json eval_async.json results.png; do
  [ -s "$out/$f" ] || fail "stage output $out/$f is missing or empty"
done
ls "$out"/videos/*.mp4 > /dev/null 2>&1 || fail "no rollout video in $out/videos"
# each report holds the one episode of the one task, in the mode it was asked for
for mode in sfm async; do
  /usr/bin/python3 - "$out/eval_$mode.json" "$mode" <<'PY' || fail "eval_$mode.json: wrong content"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["mode"] == sys.argv[2], report["mode"]
assert [t["task"] for t in report["tasks"]] == ["open_drawer"], report["tasks"]
assert report["average"]["episodes"] == 1 and len(report["episodes"]) == 1, report["average"]
PY
done
echo "demo_smoke: every stage ran"
