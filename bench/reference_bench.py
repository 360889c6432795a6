#!/usr/bin/python3
"""PyTorch eager baseline on the exact weights and inputs bench_model wrote.

Times the same quantities as bench_model (batch 1 inference, batch 32 training) with the reference
model of tests/reference/asyncvla_ref.py, and prints one JSON object (milliseconds, samples/s).
usage: reference_bench.py DIR THREADS
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from asyncvla_ref import Reference, read_safetensors  # noqa: E402


def timeit(fn, min_time=2.0, warmup=3):
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1e3


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    cfg = json.load(open(d + "/config.json"))["model"]
    w = read_safetensors(d + "/model.safetensors")
    inp = read_safetensors(d + "/inputs.safetensors")
    ref = Reference(cfg, w)
    L, A, N = cfg["chunk_len"], cfg["action_dim"], cfg["n_flow_steps"]
    noise = inp["noise"]
    t_half = torch.full((1, L), 0.5)
    out = {}
    with torch.inference_mode():
        cache, bias = ref.encode_prefix(inp)
        out["prefix_encode_ms"] = timeit(lambda: ref.encode_prefix(inp))
        out["step_cached_ms"] = timeit(lambda: ref.velocity_cached(cache, bias, noise, t_half))
        out["step_uncached_ms"] = timeit(lambda: ref.velocity(inp, noise, t_half))

        def sfm():
            c, b = ref.encode_prefix(inp)
            x = noise
            for k in range(N):
                x = x - (1.0 / N) * ref.velocity_cached(c, b, x, torch.full((1, L), 1.0 - k / N))
            return x
        out["sfm_chunk_ms"] = timeit(sfm)

        def sfm_uncached():  # the same chunk with the whole sequence recomputed every step
            x = noise
            for k in range(N):
                x = x - (1.0 / N) * ref.velocity(inp, x, torch.full((1, L), 1.0 - k / N))
            return x
        out["sfm_chunk_uncached_ms"] = timeit(sfm_uncached)
        # like with like for --precision bf16: the same chunk under bf16 autocast
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out["prefix_encode_bf16_ms"] = timeit(lambda: ref.encode_prefix(inp))
            out["step_cached_bf16_ms"] = timeit(lambda: ref.velocity_cached(cache, bias, noise, t_half))
            out["sfm_chunk_bf16_ms"] = timeit(sfm)

    # training at batch 32: unified loss, backward, adamw
    B = 32
    params = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in w.items()}
    train_ref = Reference(cfg, params)
    opt = torch.optim.AdamW([p for p in params.values() if p.requires_grad], lr=1e-5)
    batch = {
        "images": inp["images"].repeat(B, 1, 1, 1, 1), "state": inp["state"].repeat(B, 1),
        "tokens": inp["tokens"].repeat(B, 1), "token_mask": inp["token_mask"].repeat(B, 1),
    }
    actions = torch.randn(B, L, A)

    def train_step():
        tau = torch.rand(B) ** (1 / 1.5) * 0.999 + 0.001
        y = torch.rand(B, 1)
        m = (torch.rand(B, L) < y).float()
        n = torch.randn(B, L, A)
        noisy = actions - tau[:, None, None] * (actions - n) * m[..., None]
        v = train_ref.velocity(batch, noisy, tau[:, None] * m)
        wgt = m[..., None]
        loss = ((v - (n - actions)) ** 2 * wgt).sum() / (wgt.sum() * A).clamp_min(1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.requires_grad], 1.0)
        opt.step()
    ms = timeit(train_step, min_time=4.0, warmup=1)
    out["train_samples_per_s"] = B * 1000.0 / ms

    def train_step_bf16():  # like with like for train --bf16
        with torch.autocast("cpu", dtype=torch.bfloat16):
            train_step()
    ms = timeit(train_step_bf16, min_time=4.0, warmup=1)
    out["train_bf16_samples_per_s"] = B * 1000.0 / ms
    print(json.dumps(out))


if __name__ == "__main__":
    main()
