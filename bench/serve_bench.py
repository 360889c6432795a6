"""an openpi-protocol client in python (websockets + msgpack, the libraries openpi's client uses),
for two jobs:

  serve_bench.py URL --once            one request of openpi's LIBERO example; prints the
                                       metadata and the decoded reply as JSON (the serve tests)
  serve_bench.py URL --clients 1 4 16  requests/s and latency with N concurrent clients, each
                                       sending its next request as soon as its reply arrives, and
                                       the server's own share of a request: the round trip minus
                                       the act() time the reply reports (policy_timing.infer_ms)
"""
import argparse
import asyncio
import json
import os
import sys
import time

import numpy as np
import websockets

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
import openpi_msgpack  # noqa: E402


def request(rng, size):
    return openpi_msgpack.packb({
        "observation/image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "observation/state": np.array([0.1, -0.2, 1.05, 3.1, 0.05, -0.02, 0.039, -0.039]),
        "prompt": "open the top drawer of the cabinet",
    })


def connect(args):
    headers = {"Authorization": f"Api-Key {args.api_key}"} if args.api_key else None
    return websockets.connect(args.url, compression=None, max_size=None, extra_headers=headers)


async def once(args):
    async with connect(args) as ws:
        metadata = openpi_msgpack.unpackb(await ws.recv())
        await ws.send(request(np.random.default_rng(0), args.image))
        reply = openpi_msgpack.unpackb(await ws.recv())
    print(json.dumps({"metadata": openpi_msgpack.summary(metadata),
                      "reply": openpi_msgpack.summary(reply)}))


async def client(args, deadline, latencies, infer, seed):
    rng = np.random.default_rng(seed)
    async with connect(args) as ws:
        await ws.recv()  # metadata
        payload = request(rng, args.image)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await ws.send(payload)
            reply = await ws.recv()
            latencies.append(time.perf_counter() - start)
            if isinstance(reply, str):
                raise SystemExit(f"server error: {reply}")
            infer.append(openpi_msgpack.unpackb(reply)["policy_timing"]["infer_ms"])


async def load(args):
    print(f"{args.url} | images {args.image}x{args.image} | {args.seconds} s per row")
    print("| clients | requests/s | p50 latency ms | p90 latency ms | p50 act() ms | "
          "p50 round trip - act() ms | requests |")
    print("|---|---|---|---|---|---|---|")
    for n in args.clients:
        latencies, infer = [], []
        start = time.perf_counter()
        deadline = start + args.seconds
        await asyncio.gather(*(client(args, deadline, latencies, infer, i) for i in range(n)))
        elapsed = time.perf_counter() - start
        ms = np.array(latencies) * 1000
        overhead = ms - np.array(infer)
        print(f"| {n} | {len(ms) / elapsed:.1f} | {np.percentile(ms, 50):.1f} | "
              f"{np.percentile(ms, 90):.1f} | {np.percentile(infer, 50):.1f} | "
              f"{np.percentile(overhead, 50):.1f} | {len(ms)} |", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--once", action="store_true")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--api-key", default="")
    args = p.parse_args()
    asyncio.run(once(args) if args.once else load(args))


if __name__ == "__main__":
    main()
