#!/usr/bin/python3
"""Table 4 as a picture: success per task and on average for the four variants of
scripts/ablation.sh, with 95 % Wilson intervals.
usage: plot_ablation.py ABLATION_DIR OUT.png"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

d, out = sys.argv[1:]
variants = [("a_vanilla_sfm", "(a) vanilla, SFM"), ("b_unified_sfm", "(b) unified, SFM"),
            ("c_unified_random", "(c) unified, random AFM"), ("d_asyncvla", "(d) AsyncVLA")]
reports = [(label, json.load(open(f"{d}/eval_{name}.json"))) for name, label in variants]
tasks = [t["task"] for t in reports[0][1]["tasks"]] + ["average"]
x = np.arange(len(tasks))
width = 0.2
fig, ax = plt.subplots(figsize=(13, 4.5))
for i, (label, r) in enumerate(reports):
    rows = r["tasks"] + [dict(r["average"], task="average")]
    rate = np.array([100 * t["success_rate"] for t in rows])
    lo = rate - np.array([100 * t["wilson_low"] for t in rows])
    hi = np.array([100 * t["wilson_high"] for t in rows]) - rate
    ax.bar(x + (i - 1.5) * width, rate, width, yerr=[lo, hi], capsize=2, label=label)
ax.set_xticks(x)
ax.set_xticklabels(tasks, rotation=20, ha="right")
ax.set_ylabel("closed-loop success (%)")
ax.set_ylim(0, 105)
ax.set_title(f"{reports[0][1]['suite']} suite: {reports[0][1]['average']['episodes']} paired "
             "episodes per variant, 95% Wilson intervals")
ax.legend(ncol=4, loc="upper right", fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
