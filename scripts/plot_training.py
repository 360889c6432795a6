#!/usr/bin/python3
"""Plots a run's metrics.jsonl (loss and learning rate per logged step) to a PNG.
usage: plot_training.py RUN_DIR OUT.png"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl") if line.strip()]
steps = [r["step"] for r in rows]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(steps, [r["loss"] for r in rows])
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("unified flow-matching loss (Eq. 4)")
ax1.grid(alpha=0.3)
ax2.plot(steps, [r["lr"] for r in rows], color="tab:orange")
ax2.set_xlabel("step")
ax2.set_ylabel("learning rate")
ax2.grid(alpha=0.3)
fig.suptitle(f"asyncvla training: {sys.argv[1]}")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print(f"[plot] wrote {sys.argv[2]}")
