#!/usr/bin/python3
"""Self time per op of a LibTorch / PyTorch profiler chrome trace, per step.

usage: profile_ops.py TRACE.json [STEPS] [TOP]
  bench_model: AVLA_PROFILE_TRACE=/tmp/ours build/bench_model --benchmark_filter='BM_TrainStepBf16/'
  PyTorch:     torch.autograd.profiler.profile() around the same steps, then export_chrome_trace
A span's self time is its duration less that of the spans nested in it on the same thread.
"""
import collections
import json
import sys


def main():
    events = [e for e in json.load(open(sys.argv[1])) if e.get("ph") == "X"]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    self_us, calls, total = collections.Counter(), collections.Counter(), 0.0
    for spans in by_thread.values():
        spans.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in spans:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                self_us[stack[-1]["name"]] -= e["dur"]
            else:
                total += e["dur"]
            self_us[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            stack.append(e)
    print("top-level time per step: %.1f ms" % (total / 1000 / steps))
    for name, us in self_us.most_common(top):
        print("%9.2f ms/step %6d calls/step  %s" % (us / 1000 / steps, calls[name] // steps, name))


if __name__ == "__main__":
    main()
