#!/usr/bin/python3
"""The paper's Table 3 on our fractal suite: success per task family (pick coke can, move near,
open/close drawer, open top drawer and place apple) for SFM and AsyncVLA, under visual matching
(one `eval` report each) and variant aggregation (one `eval --variants` report each, the mean
over the variants, as SimplerEnv aggregates). Prints a markdown table and writes a bar chart.
usage: table3.py SFM.json ASYNC.json SFM_VARIANTS.json ASYNC_VARIANTS.json OUT.png"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FAMILIES = ["pick coke can", "move near", "open/close drawer", "place apple in drawer"]


def family(task):
    if task.startswith("pick_coke_can"):
        return "pick coke can"
    if task.startswith("move_"):
        return "move near"
    if task == "open_top_drawer_and_place_apple":
        return "place apple in drawer"
    if task.endswith("_drawer"):
        return "open/close drawer"
    raise SystemExit(f"table3.py: task {task} belongs to no Table 3 family")


def family_counts(reports):
    """reports: eval reports (one per scene) -> {family: [successes, episodes]} over all"""
    counts = {f: [0, 0] for f in FAMILIES}
    for r in reports:
        for t in r["tasks"]:
            c = counts[family(t["task"])]
            c[0] += t["successes"]
            c[1] += t["episodes"]
    return counts


def load(path):
    with open(path) as f:
        r = json.load(f)
    return r["variants"] if "variants" in r else [r]


def pct(c):
    return 100.0 * c[0] / c[1] if c[1] else float("nan")


sfm, asy, sfm_var, asy_var, out = sys.argv[1:]
columns = [("SFM, visual matching", load(sfm)), ("AsyncVLA, visual matching", load(asy)),
           ("SFM, variant aggregation", load(sfm_var)),
           ("AsyncVLA, variant aggregation", load(asy_var))]
counts = [(name, family_counts(reports)) for name, reports in columns]
# each column's family rates and their mean (the table's last row and the plot's last group)
rates = [[pct(c[f]) for f in FAMILIES] for _, c in counts]
for r in rates:
    r.append(np.mean(r))
print("| family | " + " | ".join(name for name, _ in counts) + " |")
print("|---|" + "---|" * len(counts))
for i, f in enumerate(FAMILIES):
    print(f"| {f} | " + " | ".join(f"{c[f][0]}/{c[f][1]} = {r[i]:.1f} %"
                                   for (_, c), r in zip(counts, rates)) + " |")
print("| average of the families | " + " | ".join(f"{r[-1]:.1f} %" for r in rates) + " |")

x = np.arange(len(FAMILIES) + 1)
width = 0.2
fig, ax = plt.subplots(figsize=(11, 4.2))
for i, ((name, _), r) in enumerate(zip(counts, rates)):
    ax.bar(x + (i - 1.5) * width, r, width, label=name)
ax.set_xticks(x)
ax.set_xticklabels(FAMILIES + ["average"])
ax.set_ylabel("closed-loop success (%)")
ax.set_ylim(0, 100)
ax.set_title("fractal suite (SimplerEnv's Google-robot tasks): Table 3 analogue")
ax.legend(ncol=2, fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
