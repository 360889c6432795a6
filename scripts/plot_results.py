#!/usr/bin/python3
"""Draws the demo's PNG: the training curve (metrics.jsonl), the rater's curve
(rater_metrics.jsonl) and per-task success rates of sfm vs async with 95 % Wilson intervals
(eval_sfm.json, eval_async.json).
usage: plot_results.py DEMO_DIR OUT.png"""
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

d = sys.argv[1]


def jsonl(path):
    return [json.loads(line) for line in open(path) if line.strip()] if os.path.exists(path) else []


train = jsonl(f"{d}/run/metrics.jsonl")
rater = jsonl(f"{d}/run/rater_metrics.jsonl")
evals = {m: json.load(open(f"{d}/eval_{m}.json")) for m in ("sfm", "async")
         if os.path.exists(f"{d}/eval_{m}.json")}

fig = plt.figure(figsize=(14, 4.5))
ax1 = fig.add_subplot(1, 3, 1)
ax1.plot([r["step"] for r in train], [r["loss"] for r in train])
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("unified flow-matching loss (Eq. 4)")
ax1.set_title("policy training")
ax1.grid(alpha=0.3)
ax2 = fig.add_subplot(1, 3, 2)
ax2.plot([r["step"] for r in rater], [r["loss"] for r in rater], color="tab:purple")
ax2.set_xlabel("step")
ax2.set_ylabel("rater MSE to Eq. 6 labels")
ax2.set_title("confidence rater (backbone frozen)")
ax2.grid(alpha=0.3)
ax3 = fig.add_subplot(1, 3, 3)
if evals:
    names = [t["task"] for t in next(iter(evals.values()))["tasks"]] + ["average"]
    width = 0.8 / len(evals)
    for i, (mode, e) in enumerate(evals.items()):
        rows = e["tasks"] + [dict(e["average"], task="average")]
        rate = [100 * r["success_rate"] for r in rows]
        lo = [100 * (r["success_rate"] - r["wilson_low"]) for r in rows]
        hi = [100 * (r["wilson_high"] - r["success_rate"]) for r in rows]
        xs = [k + (i - (len(evals) - 1) / 2) * width for k in range(len(rows))]
        ax3.bar(xs, rate, width, yerr=[lo, hi], capsize=2, label=mode)
    ax3.set_xticks(range(len(names)))
    ax3.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax3.set_ylabel("success % (95% Wilson)")
    ax3.set_ylim(0, 100)
    ax3.legend()
    ax3.set_title(f"closed loop, suite {next(iter(evals.values()))['suite']}")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print(f"[plot] wrote {sys.argv[2]}")
