#!/usr/bin/python3
"""PyTorch eager baseline on the exact weights and inputs bench_model wrote.

Times the same quantities as bench_model (batch 1 inference, batch 32 training) with the reference
model of tests/reference/asyncvla_ref.py, and prints one JSON object (milliseconds, samples/s).
DEVICE (default cpu) is where it runs: on cuda (bench/device_bench.sh, beside bench_device) every
timed call ends with a synchronize, and training is timed at batch 32 and 256.
usage: reference_bench.py DIR THREADS [DEVICE]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from asyncvla_ref import Reference, read_safetensors  # noqa: E402


DEVICE = "cpu"


def sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def timeit(fn, min_time=2.0, warmup=3):
    for _ in range(warmup):
        fn()
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time or n < 5:
        fn()
        sync()
        n += 1
    return (time.perf_counter() - start) / n * 1e3


def main():
    global DEVICE
    d, threads = sys.argv[1], int(sys.argv[2])
    DEVICE = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    torch.set_num_threads(threads)
    cfg = json.load(open(d + "/config.json"))["model"]
    w = {k: v.to(DEVICE) for k, v in read_safetensors(d + "/model.safetensors").items()}
    inp = {k: v.to(DEVICE) for k, v in read_safetensors(d + "/inputs.safetensors").items()}
    if DEVICE != "cpu":  # the reference makes its masks and tables with factory functions
        torch.set_default_device(DEVICE)
    autocast_device = "cuda" if DEVICE.startswith("cuda") else "cpu"
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
        if os.path.exists(d + "/rater.json"):  # alg. 1: sfm, rater, afm on about half the tokens
            rc = json.load(open(d + "/rater.json"))
            rater_w = read_safetensors(d + "/rater.safetensors")
            ref.w.update({"rater." + k: v.to(DEVICE) for k, v in rater_w.items()})
            out["async_act_ms"] = timeit(
                lambda: ref.act(inp, rc, noise, inp["noise2"], inp["threshold"].item(), N))
        # like with like for --precision bf16: the same chunk under bf16 autocast
        with torch.autocast(autocast_device, dtype=torch.bfloat16):
            out["prefix_encode_bf16_ms"] = timeit(lambda: ref.encode_prefix(inp))
            out["step_cached_bf16_ms"] = timeit(lambda: ref.velocity_cached(cache, bias, noise, t_half))
            out["sfm_chunk_bf16_ms"] = timeit(sfm)
            if "async_act_ms" in out:
                out["async_act_bf16_ms"] = timeit(
                    lambda: ref.act(inp, rc, noise, inp["noise2"], inp["threshold"].item(), N))

    # training: unified loss, backward, adamw; at batch 32 (keys train_*), and on cuda also at
    # batch 256 (keys train_b256_*)
    params = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in w.items()}
    train_ref = Reference(cfg, params)
    opt = torch.optim.AdamW([p for p in params.values() if p.requires_grad], lr=1e-5)

    def train_rate(B, bf16):
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
            with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=bf16):
                v = train_ref.velocity(batch, noisy, tau[:, None] * m)  # like with like: --bf16
            wgt = m[..., None]
            loss = ((v.float() - (n - actions)) ** 2 * wgt).sum() / (wgt.sum() * A).clamp_min(1)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.requires_grad], 1.0)
            opt.step()
        return B * 1000.0 / timeit(train_step, min_time=4.0, warmup=1)
    out["train_samples_per_s"] = train_rate(32, False)
    out["train_bf16_samples_per_s"] = train_rate(32, True)
    if DEVICE != "cpu":
        out["train_b256_samples_per_s"] = train_rate(256, False)
        out["train_b256_bf16_samples_per_s"] = train_rate(256, True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
