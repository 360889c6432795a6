#!/usr/bin/python3
"""Prints the table of docs/BENCHMARKS.md from the JSON files run_bench.sh wrote into DIR:
cpp_<round>.json (bench_model), python_<round>.json (reference_bench.py), and cpp_bf16.json
where bf16 training ran once instead of in every round.
Each side's best round is used (lowest latency, highest throughput)."""
import glob
import json
import sys

d = sys.argv[1]


def cpp_rounds(pattern):
    out = []
    for path in sorted(glob.glob(f"{d}/{pattern}")):
        out.append({b["name"].split("/")[0] + ("/" + b["name"].split("/")[1] if b["name"].count("/") > 1 else ""): b
                    for b in json.load(open(path))["benchmarks"] if not b.get("error_occurred")})
    return out


def ms(b):
    return b["real_time"] * {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]


cpp = cpp_rounds("cpp_[0-9]*.json")
py = [json.load(open(p)) for p in sorted(glob.glob(f"{d}/python_*.json"))]
bf16_rounds = [r for r in cpp if "BM_TrainStepBf16/2" in r] or cpp_rounds("cpp_bf16.json")


def best_cpp(name):
    return min(ms(r[name]) for r in cpp)


def best_py(key):
    return min(p[key] for p in py)


rows = [
    ("prefix encoding (VL KV-cache)", best_cpp("BM_PrefixEncode/2"), best_py("prefix_encode_ms")),
    ("one denoising step, cached", best_cpp("BM_StepCached/2"), best_py("step_cached_ms")),
    ("one denoising step, uncached", best_cpp("BM_StepUncached/2"), best_py("step_uncached_ms")),
    ("full 10-step SFM chunk (prefix + 10 cached steps)", best_cpp("BM_SfmChunk/2"), best_py("sfm_chunk_ms")),
]
print(f"{len(cpp)} interleaved rounds, best of each side\n")
print("| batch 1, 2 threads | asyncvla C++ | PyTorch eager | C++ / PyTorch |")
print("|---|---|---|---|")
for name, c, p in rows:
    print(f"| {name} | {c:.2f} ms | {p:.2f} ms | {c / p:.2f}x |")
try:  # alg. 1: sfm, rater, afm on about half the tokens
    act = best_cpp("BM_AsyncAct/2")
    print(f"| async act() (SFM, rater, AFM on half the tokens) | {act:.2f} ms | "
          f"{best_py('async_act_ms'):.2f} ms | {act / best_py('async_act_ms'):.2f}x |")
except (KeyError, ValueError):
    pass
unc = best_py("sfm_chunk_uncached_ms")
print(f"| full SFM chunk vs PyTorch eager *without* a KV-cache (10 full recomputes) | "
      f"{best_cpp('BM_SfmChunk/2'):.2f} ms | {unc:.2f} ms | {best_cpp('BM_SfmChunk/2') / unc:.2f}x |")
tr = max(r["BM_TrainStep/2"]["samples_per_s"] for r in cpp)
ptr = max(p["train_samples_per_s"] for p in py)
tr16 = max(r["BM_TrainStepBf16/2"]["samples_per_s"] for r in bf16_rounds)
print("\n| training, batch 32, 2 threads | asyncvla C++ | PyTorch eager | C++ / PyTorch |")
print("|---|---|---|---|")
print(f"| fp32 | {tr:.1f} samples/s | {ptr:.1f} samples/s | {tr / ptr:.2f}x |")
ptr16 = max(p["train_bf16_samples_per_s"] for p in py)
print(f"| bf16 autocast (C++ / PyTorch bf16; {len(bf16_rounds)} C++ round(s)) | {tr16:.1f} samples/s | {ptr16:.1f} samples/s | {tr16 / ptr16:.2f}x |")
print(f"| C++ bf16 / PyTorch fp32 | {tr16:.1f} samples/s | {ptr:.1f} samples/s | {tr16 / ptr:.2f}x |")
# round by round: each round's C++ against the PyTorch run right after it, so that a machine
# that changes speed between rounds cannot pair one side's fast round with the other's slow one
if len(cpp) == len(py) and len(cpp) > 1:
    per_round = {"fp32": [r["BM_TrainStep/2"]["samples_per_s"] / p["train_samples_per_s"]
                          for r, p in zip(cpp, py)]}
    if len(bf16_rounds) == len(py):
        per_round["bf16"] = [r["BM_TrainStepBf16/2"]["samples_per_s"] / p["train_bf16_samples_per_s"]
                             for r, p in zip(bf16_rounds, py)]
    for name, ratios in per_round.items():
        print(f"\ntraining {name}, C++ / PyTorch round by round: "
              + ", ".join(f"{x:.2f}x" for x in ratios)
              + f" (median {sorted(ratios)[len(ratios) // 2]:.2f}x)")

# --precision bf16 (avx512-bf16) against PyTorch eager fp32 and bf16 autocast
try:
    b16 = [("prefix encoding", "BM_PrefixEncodeBf16/2", "prefix_encode_ms", "prefix_encode_bf16_ms"),
           ("one denoising step, cached", "BM_StepCachedBf16/2", "step_cached_ms", "step_cached_bf16_ms"),
           ("full 10-step SFM chunk", "BM_SfmChunkBf16/2", "sfm_chunk_ms", "sfm_chunk_bf16_ms")]
    if "async_act_bf16_ms" in py[0]:
        b16.append(("async act()", "BM_AsyncActBf16/2", "async_act_ms", "async_act_bf16_ms"))
    lines = []
    for name, c, pf, pb in b16:
        cb = best_cpp(c)
        lines.append(f"| {name} | {cb:.2f} ms | {best_cpp(c.replace('Bf16', '')):.2f} ms | "
                     f"{best_py(pf):.2f} ms | {best_py(pb):.2f} ms | {cb / best_py(pf):.2f}x | "
                     f"{cb / best_py(pb):.2f}x |")
    print("\n| batch 1, 2 threads | C++ bf16 | C++ fp32 | PyTorch fp32 | PyTorch bf16 autocast | "
          "C++ bf16 / PyTorch fp32 | C++ bf16 / PyTorch bf16 |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(lines))
except (KeyError, ValueError):
    print("\n(no bf16 inference rows: this cpu has no avx512-bf16)")
plain = best_cpp("BM_SfmChunkPlainOps/2")
print(f"\nfull SFM chunk through LibTorch's plain ops (--plain-ops, the path cuda runs): {plain:.2f} ms, "
      f"{plain / best_py('sfm_chunk_ms'):.2f}x PyTorch eager; our cpu kernels "
      f"make it {plain / best_cpp('BM_SfmChunk/2'):.2f}x faster")
print(f"\ncached step vs uncached step (C++): {best_cpp('BM_StepUncached/2') / best_cpp('BM_StepCached/2'):.2f}x faster")
try:  # the avx-512 fp32 tiles against the avx2 kernel, same run
    avx2 = {n: best_cpp(f"BM_{n}Avx2/2") for n in ("PrefixEncode", "StepCached", "SfmChunk")}
    print(f"\nfp32 on the avx2 linear kernel alone: prefix {avx2['PrefixEncode']:.2f} ms, cached step "
          f"{avx2['StepCached']:.2f} ms, chunk {avx2['SfmChunk']:.2f} ms; the avx-512 tiles make the chunk "
          f"{avx2['SfmChunk'] / best_cpp('BM_SfmChunk/2'):.2f}x faster")
except (KeyError, ValueError):
    pass
try:  # the fused decoder layer against our kernels op by op, same run
    per_op = best_cpp("BM_SfmChunkPerOp/2")
    line = (f"\nour kernels op by op, without the fused decoder layer: fp32 chunk {per_op:.2f} ms; the "
            f"fusion makes it {per_op / best_cpp('BM_SfmChunk/2'):.2f}x faster")
    try:
        per_op16 = best_cpp("BM_SfmChunkBf16PerOp/2")
        line += (f"; bf16 chunk {per_op16:.2f} ms, "
                 f"{per_op16 / best_cpp('BM_SfmChunkBf16/2'):.2f}x")
    except (KeyError, ValueError):
        pass
    print(line)
except (KeyError, ValueError):
    pass
try:  # the fp32 chunk's linear flops against a register-only fma loop on the same threads
    peak = max(r["BM_FmaPeak/2"]["gflops"] for r in cpp)
    chunk = max(r["BM_SfmChunk/2"]["linear_gflops"] for r in cpp)
    print(f"\nfp32 fma peak (12 independent fma chains a thread): {peak:.0f} GFLOPS; the fp32 chunk's "
          f"linear layers run at {chunk:.0f} GFLOPS, {100 * chunk / peak:.0f} % of it")
except (KeyError, ValueError):
    pass

# the simulator (bench_sim): absolute rates on one core, against the 300 steps/s target
try:
    sim = {b["name"].split("/min_time")[0]: b for b in json.load(open(f"{d}/sim.json"))["benchmarks"]}
except FileNotFoundError:
    sim = None
if sim:
    base = sim["BM_ControlStep/0"]["steps_per_s"]
    print("\n| simulator, one core | control steps/s | vs physics + IK only | vs 300 steps/s target |")
    print("|---|---|---|---|")
    for arg, label in (("0", "physics + IK, no cameras"), ("64", "both cameras at 64x64"),
                       ("128", "both cameras at 128x128")):
        r = sim[f"BM_ControlStep/{arg}"]["steps_per_s"]
        print(f"| {label} | {r:.0f} | {r / base:.2f}x | {r / 300:.2f}x |")
    demo = sim["BM_ExpertDemo/128"]
    print(f"\nexpert demonstrations (spatial task 1, 128x128, recorded): {demo['demos_per_min']:.0f} per minute "
          f"({demo['frames']:.0f} frames each)")
