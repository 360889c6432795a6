#!/usr/bin/python3
"""The paper's Fig. 4 and 5 for two runs trained side by side (scripts/ablation.sh with
--keep-every): training loss against epochs (Fig. 4) and closed-loop success of every snapshot
against epochs (Fig. 5, from scripts/success_curve.sh), with 95 % Wilson intervals. An epoch is
FRAMES / batch steps. A snapshot evaluated on several suites (curve files named
eval_step_STEP_SUITE_MODE.json, as runs/a36/curve.sh writes them) counts as one point, pooled over
its suites; the table names them. Prints the success table as markdown.
usage: plot_fig45.py FRAMES MODE OUT.png LABEL=RUN [LABEL=RUN ...]"""
import glob
import json
import os
import re
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wilson import wilson  # noqa: E402


def smooth(values, window):
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


frames, mode, out, *runs = sys.argv[1:]
frames = int(frames)
fig, (ax_loss, ax_success) = plt.subplots(1, 2, figsize=(12, 4.5))
print("| run | step | epoch | suites | success | 95% CI |\n|---|---|---|---|---|---|")
for spec in runs:
    label, run = spec.split("=", 1)
    batch = json.load(open(f"{run}/config.json"))["train"]["batch"]
    per_epoch = frames / batch
    rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl") if line.strip()]
    epochs = [r["step"] / per_epoch for r in rows]
    line, = ax_loss.plot(epochs, smooth([r["loss"] for r in rows], 20), label=label)
    # success of every evaluated snapshot (and of the final checkpoint, when evaluated)
    pooled = {}  # step -> [successes, episodes, suites]
    for path in glob.glob(f"{run}/curve/eval_step_*_{mode}.json"):
        name = os.path.basename(path)
        step = int(re.search(r"step_(\d+)", name).group(1))
        suite = re.search(rf"step_\d+_(.+)_{mode}\.json$", name)
        report = json.load(open(path))
        p = pooled.setdefault(step, [0, 0, []])
        p[0] += report["average"]["successes"]
        p[1] += report["average"]["episodes"]
        p[2].append(suite.group(1) if suite else report.get("suite", ""))
    points = [(step, k, n) for step, (k, n, _) in pooled.items()]
    points.sort()
    for step, k, n in points:
        lo, hi = wilson(k, n)
        suites = " ".join(sorted(pooled[step][2]))
        print(f"| {label} | {step} | {step / per_epoch:.0f} | {suites} | {k}/{n} = {100 * k / n:.1f} % "
              f"| {100 * lo:.1f}-{100 * hi:.1f} |")
    if points:
        x = [p[0] / per_epoch for p in points]
        y = [100 * p[1] / p[2] for p in points]
        lo = [y[i] - 100 * wilson(p[1], p[2])[0] for i, p in enumerate(points)]
        hi = [100 * wilson(p[1], p[2])[1] - y[i] for i, p in enumerate(points)]
        ax_success.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=label,
                            color=line.get_color())
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss (each run's own objective, 20-log moving mean)")
ax_loss.set_title("Fig. 4 analogue: training loss")
ax_loss.grid(alpha=0.3)
ax_loss.legend()
ax_success.set_xlabel("epoch")
ax_success.set_ylabel(f"closed-loop success, {mode} (%)")
ax_success.set_ylim(0, 100)
ax_success.set_title("Fig. 5 analogue: success of the snapshots")
ax_success.grid(alpha=0.3)
ax_success.legend()
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
