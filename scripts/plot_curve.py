#!/usr/bin/python3
"""Success rate against training time for the snapshots of one or more runs, from
RUN/snapshots/step_*/snapshot.json and RUN/curve/eval_step_*_<mode>.json (success_curve.sh).
Prints a markdown table and draws a PNG with 95 % Wilson intervals.
usage: plot_curve.py RUN [RUN ...] MODE OUT.png"""
import glob
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wilson import wilson  # noqa: E402

*runs, mode, out = sys.argv[1:]
fig, ax = plt.subplots(figsize=(7, 4.5))
print("| run | step | minutes | success | 95% CI |\n|---|---|---|---|---|")
for run in runs:
    points = []
    for path in sorted(glob.glob(f"{run}/curve/eval_step_*_{mode}.json")):
        step_name = os.path.basename(path)[len("eval_"):-len(f"_{mode}.json")]
        meta = json.load(open(f"{run}/snapshots/{step_name}/snapshot.json"))
        avg = json.load(open(path))["average"]
        k, n = avg["successes"], avg["episodes"]
        lo, hi = wilson(k, n)
        points.append((meta["elapsed_s"] / 60, meta["step"], k, n, lo, hi))
    points.sort()
    for minutes, step, k, n, lo, hi in points:
        print(f"| {os.path.basename(run.rstrip('/'))} | {step} | {minutes:.1f} | {k}/{n} = "
              f"{100 * k / n:.1f}% | {100 * lo:.1f}-{100 * hi:.1f}% |")
    if points:
        x = [p[0] for p in points]
        y = [100 * p[2] / p[3] for p in points]
        err = [[100 * (p[2] / p[3] - p[4]) for p in points], [100 * (p[5] - p[2] / p[3]) for p in points]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=os.path.basename(run.rstrip("/")))
ax.set_xlabel("training time (minutes)")
ax.set_ylabel(f"closed-loop success, {mode} (%)")
ax.set_ylim(0, 100)
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
