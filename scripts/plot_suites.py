#!/usr/bin/python3
"""Average closed-loop success per suite and mode, with 95 % Wilson intervals and the 60 % target.
usage: plot_suites.py OUT.png [--title=TEXT] [--target=PCT] GROUP:MODE:EVAL.json [...]
(the eval JSONs that `asyncvla eval --out` writes; GROUP is a bar group, usually the suite; MODE is
the bar's label, e.g. "sfm"; --target=0 draws no target line)"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

out, args = sys.argv[1], sys.argv[2:]
title = "held-out seeds, paired episodes per suite, 95% Wilson intervals"
target = 60.0
specs = []
for arg in args:
    if arg.startswith("--title="):
        title = arg[len("--title="):]
    elif arg.startswith("--target="):
        target = float(arg[len("--target="):])
    else:
        specs.append(arg)
if not specs:
    sys.exit(__doc__)
suites, modes, cells = [], [], {}
for spec in specs:
    suite, mode, path = spec.split(":", 2)
    avg = json.load(open(path))["average"]
    suites += [suite] if suite not in suites else []
    modes += [mode] if mode not in modes else []
    cells[(suite, mode)] = avg

x = np.arange(len(suites))
width = 0.8 / len(modes)
fig, ax = plt.subplots(figsize=(9, 4.2))
for i, mode in enumerate(modes):
    pos, rate, lo, hi = [], [], [], []
    for j, suite in enumerate(suites):
        if (suite, mode) not in cells:
            continue
        a = cells[(suite, mode)]
        pos.append(x[j] + (i - (len(modes) - 1) / 2) * width)
        rate.append(100 * a["success_rate"])
        lo.append(100 * (a["success_rate"] - a["wilson_low"]))
        hi.append(100 * (a["wilson_high"] - a["success_rate"]))
    ax.bar(pos, rate, width, yerr=[lo, hi], capsize=2, label=mode)
if target > 0:
    ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"target {target:g} %")
ax.set_xticks(x)
# each suite's episode count, from the first mode that has a bar for it
episodes = {s: next(cells[(s, m)]["episodes"] for m in modes if (s, m) in cells) for s in suites}
ax.set_xticklabels([f"{s}\n({episodes[s]} episodes)" for s in suites])
ax.set_ylabel("closed-loop success (%)")
# headroom above 100 % keeps the legend off the bars of suites near the top
ax.set_ylim(0, 118)
ax.set_yticks(range(0, 101, 20))
ax.set_title(title)
ax.legend(fontsize=8, loc="upper right", ncol=2)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
