#!/usr/bin/python3
"""Plots a pretrain-vision run's metrics.jsonl: the training loss and its terms, and the probe's
held-out errors (object and gripper position in cm, against the mean-position guess) per step.
usage: plot_pretrain.py RUN_DIR OUT.png"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl") if line.strip()]
train = [r for r in rows if "split" not in r]
held = [r for r in rows if r.get("split") == "heldout"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
steps = [r["step"] for r in train]
ax1.plot(steps, [r["loss"] for r in train], label="total", color="black")
for key in ["presence", "position", "drawer", "ee", "gripper"]:
    ax1.plot(steps, [r["loss_" + key] for r in train], label=key, alpha=0.7)
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("training loss (probe heads)")
ax1.legend(fontsize=8)
ax1.grid(alpha=0.3)
hs = [r["step"] for r in held]
ax2.plot(hs, [r["object_cm"] for r in held], "o-", label="objects")
ax2.plot(hs, [r["object_cm_mean_guess"] for r in held], "--", color="gray",
         label="objects, mean-position guess")
ax2.plot(hs, [r["ee_cm"] for r in held], "s-", label="gripper (grip site)")
ax2.plot(hs, [r["drawer_cm"] for r in held], "^-", label="drawer opening")
ax2.set_xlabel("step")
ax2.set_ylabel("held-out error, cm")
ax2.set_ylim(bottom=0)
ax2.legend(fontsize=8)
ax2.grid(alpha=0.3)
last = held[-1] if held else {}
fig.suptitle(f"asyncvla pretrain-vision: {sys.argv[1]}"
             + (f"  (final: objects {last['object_cm']:.2f} cm, identity "
                f"{100 * last['identity_accuracy']:.1f} %)" if last else ""))
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print(f"[plot] wrote {sys.argv[2]}")
