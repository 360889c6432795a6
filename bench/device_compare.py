#!/usr/bin/env python3
"""Ratios of bench_device (ours) against reference_bench.py (PyTorch eager) on one device.

Prints a markdown table: latency ratios (ours / eager, lower is better) and training throughput
ratios (ours / eager, higher is better), plus the device check's numbers.
usage: device_compare.py BENCH_DEVICE_JSON REFERENCE_JSON
"""
import json
import sys


def main():
    ours = json.load(open(sys.argv[1]))
    ref = json.load(open(sys.argv[2]))
    print(f"device {ours['device']}, LibTorch {ours['torch_version']}")
    print("\n| check | value |\n|---|---|")
    for k, v in ours["check"].items():
        print(f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |")
    print("\n| batch-1 inference | ours ms | eager ms | ratio |\n|---|---|---|---|")
    for k in ["prefix_encode_ms", "step_cached_ms", "sfm_chunk_ms", "async_act_ms"]:
        print(f"| {k[:-3]} | {ours[k]:.3f} | {ref[k]:.3f} | {ours[k] / ref[k]:.2f}x |")
    print("\n| training | ours samples/s | eager samples/s | ratio |\n|---|---|---|---|")
    pairs = [("train_b32_samples_per_s", "train_samples_per_s"),
             ("train_b32_bf16_samples_per_s", "train_bf16_samples_per_s"),
             ("train_b256_samples_per_s", "train_b256_samples_per_s"),
             ("train_b256_bf16_samples_per_s", "train_b256_bf16_samples_per_s")]
    for a, b in pairs:
        if a in ours and b in ref:
            print(f"| {a[6:-14]} | {ours[a]:.1f} | {ref[b]:.1f} | {ours[a] / ref[b]:.2f}x |")


if __name__ == "__main__":
    main()
