#!/usr/bin/python3
"""Where the failed placements of `eval` reports ended, per task: episodes that succeeded, failed
without grasping the object, or grasped it and ended with its centre 0-2, 2-4 or over 4 cm across
the table from its target (the episode's `target_offset_cm`; a stack needs < 2 cm). A failure at
0-2 cm is on target but not resting (tipped, still held, too high); 2-4 cm is a near miss; over
4 cm is a drop on the way or a wrong target. Tasks without a target object are left out.
Prints one markdown table, a row per task and report; then, for the tasks that move a cube or a
lying object, the first grasp's yaw error (`grasp_yaw_error_deg`: 0 is square to a cube's faces,
45 across its diagonal) of the successes and of the failures, and how many grasps were past 15
degrees. Last, for the stacks (reports with `placements`), successes and failures apart: how many
episodes upset the base (tipped it past 10 degrees or slid it 1 cm), how many of those while the
fingers held the object, and the object's mean offset from the base and height above its rest on
it at that moment (cm); then how many let go of the object before the episode ended, where (the
same two), and how far from where it started (cm; near 0: put back where it was picked).
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
    rows, yaws, stacks = {}, {}, {}
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
            # a stack's placement trace (goals with a standing target; the stack tasks only)
            for p in episode.get("placements", []):
                if not is_stack(episode["task"]) or p["target_tilt_deg"] < 0:
                    continue
                by_outcome = stacks.setdefault((episode["task"], name), {True: [], False: []})
                by_outcome[episode["success"]].append(p)
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
    if stacks:
        print()
        print("| task | run | outcome | episodes | base upset | upset while held | at upset: "
              "offset, gap cm | let go | at the last release: offset, gap, carried cm | let go within 3 cm "
              "of its start |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for (task, name), by_outcome in sorted(stacks.items()):
            for outcome in (True, False):
                v = by_outcome[outcome]
                if not v:
                    continue
                upset = [p for p in v if p["upset_offset_cm"] >= 0]
                held = sum(p["upset_held"] for p in upset)
                let_go = [p for p in v if p["release_offset_cm"] >= 0]
                print(f"| {task} | {name} | {'success' if outcome else 'failure'} | {len(v)} | "
                      f"{len(upset)} | {held} | {means(upset, 'upset')} | {len(let_go)} | "
                      f"{means(let_go, 'release')}{carried(let_go)} | "
                      f"{sum(p['release_carried_cm'] < 3 for p in let_go)} |")


def carried(placements):
    """, and the mean distance from the object's start at the release (cm)"""
    if not placements:
        return ""
    return f", {sum(p['release_carried_cm'] for p in placements) / len(placements):.2f}"


def is_stack(task):
    return task.startswith("stack_")


def means(placements, what):
    """mean offset and gap (cm) of the placements at their upset or release; - for none"""
    if not placements:
        return "-"
    offset = sum(p[f"{what}_offset_cm"] for p in placements) / len(placements)
    gaps = [p[f"{what}_gap_cm"] for p in placements if p[f"{what}_gap_cm"] is not None]
    gap = f"{sum(gaps) / len(gaps):.2f}" if gaps else "-"
    return f"{offset:.2f}, {gap}"

if __name__ == "__main__":
    main(sys.argv[1:])
