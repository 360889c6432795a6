#!/usr/bin/python3
"""Prints the markdown table of docs/BENCHMARKS.md from bench_model's and reference_bench's JSON."""
import json
import sys

cpp = {b["name"].split("/")[0]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
py = json.load(open(sys.argv[2]))


def ms(name):
    b = cpp[name]
    scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
    return b["real_time"] * scale


rows = [
    ("prefix encoding (batch 1)", ms("BM_PrefixEncode"), py["prefix_encode_ms"]),
    ("denoising step, cached (batch 1)", ms("BM_StepCached"), py["step_cached_ms"]),
    ("denoising step, uncached (batch 1)", ms("BM_StepUncached"), py["step_uncached_ms"]),
    ("full 10-step SFM chunk (batch 1)", ms("BM_SfmChunk"), py["sfm_chunk_ms"]),
]
print("| what | asyncvla C++ | PyTorch eager | C++ / PyTorch |")
print("|---|---|---|---|")
for name, c, p in rows:
    print(f"| {name} | {c:.2f} ms | {p:.2f} ms | {c / p:.2f}x latency |")
tr = cpp["BM_TrainStep"]["samples_per_s"]
tr16 = cpp["BM_TrainStepBf16"]["samples_per_s"]
print(f"| training fp32 (batch 32) | {tr:.1f} samples/s | {py['train_samples_per_s']:.1f} samples/s | "
      f"{tr / py['train_samples_per_s']:.2f}x throughput |")
print(f"| training bf16 autocast (batch 32) | {tr16:.1f} samples/s | - | "
      f"{tr16 / py['train_samples_per_s']:.2f}x of fp32 PyTorch |")
print(f"\ncached step speed-up over uncached (C++): {ms('BM_StepUncached') / ms('BM_StepCached'):.2f}x")
