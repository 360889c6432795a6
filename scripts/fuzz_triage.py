#!/usr/bin/env python3
"""Whose code faulted on each kept fuzz input: ours, or a library's.

The guarded LIBERO reader refuses every file that crashes libhdf5, but it would hide a fault of our
own reader code the same way (both run in the reading child). So each kept input is re-run
unguarded through the sanitizer build, and the first frame of its report that is neither a
sanitizer interceptor, libFuzzer nor libc decides the owner: libhdf5, LibTorch (then our frame
that called it is named), or ours (a finding).

usage: scripts/fuzz_triage.py FUZZ_BINARY INPUT_OR_DIR ... [--out TABLE.md]
Exit status 1 when any input faults in our code (or in LibTorch called by our code).
"""

import argparse
import collections
import os
import re
import subprocess
import sys

OUR_SOURCE = re.compile(r"/src/(\S+?):(\d+)")


def frame_owner(line):
    """'libhdf5', 'libtorch', 'ours' or None (an interceptor, libFuzzer, libc, libstdc++, the
    harness in tests/fuzz: look further down) for one raw stack frame line."""
    if "libhdf5" in line:
        return "libhdf5"
    if "libc10" in line or "libtorch" in line:
        return "libtorch"
    if OUR_SOURCE.search(line) and "/tests/" not in line and "/include/" not in line:
        return "ours"
    return None


def raw_frames(lines):
    """(function, raw line) of each frame of the first stack in lines."""
    out, started = [], False
    for line in lines:
        if re.match(r"^\s*#\d+ 0x", line):
            started = True
            func = re.search(r" in (.+?) (?:/|\()", line)
            out.append((func.group(1) if func else "", line))
        elif started and not line.strip():
            break
    return out


def triage(binary, path):
    env = dict(os.environ, ASYNCVLA_HDF5_GUARD="0",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:symbolize=1")
    try:
        p = subprocess.run([binary, "-rss_limit_mb=4096", "-timeout=10", path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        text, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired:
        return "hang past 120 s", "unknown", ""
    if rc == 0:
        return "no fault at this code", "none", ""
    lines = text.splitlines()
    summary = next((l for l in lines if l.startswith("SUMMARY:")), "")
    kind = re.sub(r"\s*\(.*", "", summary.replace("SUMMARY: ", "")) or "exit %d" % rc
    kind = re.sub(r" on (unknown )?address.*", "", kind)
    kind = re.sub(r"(SEGV|deadly signal).*", r"\1", kind)
    # the stack that matters is the first after the report line (for an out-of-memory stop
    # without one, the largest live heap context, which libFuzzer prints first)
    start = next((i for i, l in enumerate(lines) if "ERROR:" in l or "runtime error" in l), 0)
    frames = raw_frames(lines[start:])
    owner, ours = "unknown", ""
    for func, line in frames:
        o = frame_owner(line)
        if o is None:
            continue
        if owner == "unknown":
            owner = o
        if o == "ours":
            ours = "%s (%s:%s)" % (func.split("(")[0], *OUR_SOURCE.search(line).groups())
            break
    if owner == "unknown" and "out-of-memory" in kind and "Live Heap" in text:
        # the resident memory was over the limit but no live heap context explains it: memory
        # taken and freed before the check (libhdf5's temporary buffers, ASan's quarantine)
        owner = "none (not in the live heap)"
    return kind, owner, ours


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out")
    args = ap.parse_args()
    files = []
    for p in args.inputs:
        files += sorted(os.path.join(p, f) for f in os.listdir(p)) if os.path.isdir(p) else [p]
    rows = collections.Counter()
    ours_files = []
    for i, f in enumerate(files):
        kind, owner, ours = triage(args.binary, f)
        rows[(kind, owner, ours)] += 1
        if owner in ("ours", "libtorch"):
            ours_files.append((f, kind, owner, ours))
        print("[triage] %d/%d %s: %s | %s | %s" % (i + 1, len(files), os.path.basename(f), kind,
                                                   owner, ours), flush=True)
    table = ["| inputs | report | first frame owned by | our frame below it |", "|---|---|---|---|"]
    for (kind, owner, ours), n in rows.most_common():
        table.append("| %d | %s | %s | %s |" % (n, kind, owner, ours))
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    for f, kind, owner, ours in ours_files:
        print("finding: %s: %s, first frame in %s, %s" % (f, kind, owner, ours))
    print("in our code: %d" % len(ours_files))
    return 1 if ours_files else 0


if __name__ == "__main__":
    sys.exit(main())
