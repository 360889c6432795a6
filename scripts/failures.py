#!/usr/bin/python3
"""Where the failed placements of `eval` reports ended, per task: episodes that succeeded, failed
without grasping the object, or grasped it and ended with its centre 0-2, 2-4 or over 4 cm across
the table from its target (the episode's `target_offset_cm`; a stack needs < 2 cm). A failure at
0-2 cm is on target but not resting (tipped, still held, too high); 2-4 cm is a near miss; over
4 cm is a drop on the way or a wrong target. Tasks without a target object are left out.
Prints one markdown table, a row per task and report; then, for the tasks that move a cube or a
lying object, the first grasp's yaw error (`grasp_yaw_error_deg`: 0 is square to a cube's faces,
45 across its diagonal) of the successes and of the failures, and how many grasps were past 15
degrees.
usage: failures.py NAME=REPORT.json [NAME=REPORT.json ...]"""
import json
import sys

BINS = ["success", "not grasped", "0-2 cm", "2-4 cm", "> 4 cm"]


def bin_of(episode):
    if episode["success"]:
        return "success"
    if not episode["grasped"]:
        return "not grasped"
    # the goal furthest from its target decides a failed episode's bin
    offset = max(o for o in episode["target_offset_cm"] if o >= 0)
    if offset < 2:
        return "0-2 cm"
    if offset < 4:
        return "2-4 cm"
    return "> 4 cm"


def main(args):
    if not args:
        raise SystemExit(__doc__)
    rows, yaws = {}, {}
    for arg in args:
        name, sep, path = arg.partition("=")
        if not sep:
            raise SystemExit(f"failures.py: '{arg}' is not NAME=REPORT.json")
        with open(path) as f:
            report = json.load(f)
        for episode in report["episodes"]:
            if "target_offset_cm" not in episode:
                raise SystemExit(f"failures.py: {path} has no target_offset_cm (an eval before it)")
            if all(o < 0 for o in episode["target_offset_cm"]):
                continue
            counts = rows.setdefault((episode["task"], name), dict.fromkeys(BINS, 0))
            counts[bin_of(episode)] += 1
            # the first grasp's yaw error of each goal whose object has faces (-1: round, unheld)
            held = [y for y in episode.get("grasp_yaw_error_deg", []) if y >= 0]
            if held:
                by_outcome = yaws.setdefault((episode["task"], name), {True: [], False: []})
                by_outcome[episode["success"]].append(max(held))
    print("| task | run | " + " | ".join(BINS) + " |")
    print("|---|---|" + "---|" * len(BINS))
    for (task, name), counts in sorted(rows.items()):
        print(f"| {task} | {name} | " + " | ".join(str(counts[b]) for b in BINS) + " |")
    if yaws:
        print()
        print("| task | run | success: grasps, mean yaw error, > 15 deg | failure: grasps, mean yaw "
              "error, > 15 deg |")
        print("|---|---|---|---|")
        for (task, name), by_outcome in sorted(yaws.items()):
            cells = []
            for outcome in (True, False):
                v = by_outcome[outcome]
                mean = f"{sum(v) / len(v):.1f}" if v else "-"
                cells.append(f"{len(v)}, {mean}, {sum(x > 15 for x in v)}")
            print(f"| {task} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
