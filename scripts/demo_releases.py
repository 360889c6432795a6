#!/usr/bin/python3
"""When the demonstrations open the gripper: per task file, how many demos open it after a close
(a release), how many releases a demo has, and how many demos end with the gripper still closed
(the episode ended at success while the object was held). A release that only the regrasp branch
makes (the expert opening above an object that was moved out of its fingers) is the one example
of letting go that such a task's data holds; docs/EXPERIMENTS.md, 2026-12-06.
usage: demo_releases.py DIR [DIR ...]   (DIR holds *_demo.hdf5 files, as `sim collect` writes)"""
import glob
import os
import sys

import h5py
import numpy as np

print("| data | task | demos | releases a demo | demos with a release | demos that end closed |")
print("|---|---|---|---|---|---|")
for folder in sys.argv[1:]:
    paths = sorted(glob.glob(os.path.join(folder, "*_demo.hdf5")))
    if not paths:
        sys.exit(f"demo_releases: no *_demo.hdf5 in {folder}")
    for path in paths:
        demos = h5py.File(path, "r")["data"]
        releases, end_closed = [], 0
        for name in demos:
            # the gripper command is the last action dimension: > 0 closes, as LIBERO
            closed = demos[name]["actions"][:, -1] > 0
            releases.append(int(np.sum(closed[:-1] & ~closed[1:])))
            end_closed += int(closed[-1])
        releases = np.array(releases)
        task = os.path.basename(path)[: -len("_demo.hdf5")]
        print(f"| {folder} | {task} | {len(releases)} | {releases.mean():.2f} | "
              f"{int(np.sum(releases > 0))} | {end_closed} |")
