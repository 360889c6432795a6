#!/usr/bin/env bash
# the policy server under load: requests/s and latency with 1, 4 and 16 concurrent openpi-protocol
# clients (python websockets + msgpack, as openpi's client), small preset in async mode, 224x224
# images as openpi's LIBERO client sends them. two servers on the same checkpoint and machine:
# --max-batch 1 (one request at a time, as openpi's server answers) and --max-batch 16 (ours:
# requests waiting together run as one batched policy call). the checkpoint is trained for a few
# steps only: speed does not depend on the weights.
# usage: bench/serve_bench.sh [BUILD] (env: SECONDS_PER_ROW, THREADS, CLIENTS)
set -euo pipefail
build=${1:-build}
bin="$build/asyncvla"
dir=${SERVE_BENCH_DIR:-/tmp/asyncvla_serve_bench}
seconds=${SECONDS_PER_ROW:-10}
threads=${THREADS:-$(nproc)}
clients=${CLIENTS:-1 4 16}
mkdir -p "$dir"
if [ ! -f "$dir/ckpt/rater.safetensors" ]; then
  "$bin" synth --out "$dir/data" --n-tasks 2 --episodes 4 --resolution 64
  "$bin" train --data "$dir/data" --config configs/small.json --out "$dir/ckpt" --steps 2
  "$bin" train-rater --ckpt "$dir/ckpt" --data "$dir/data" --steps 2
fi
for max_batch in 1 16; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" --threads "$threads" serve --ckpt "$dir/ckpt" --port "$port" --mode async \
    --max-batch "$max_batch" > "$dir/server_$max_batch.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    /usr/bin/python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz')" \
      > /dev/null 2>&1 && break
    sleep 0.2
  done
  echo "## --max-batch $max_batch ($threads threads)"
  /usr/bin/python3 bench/serve_bench.py "ws://127.0.0.1:$port" --clients $clients \
    --seconds "$seconds"
  kill -TERM "$server"
  wait "$server"
  tail -n 1 "$dir/server_$max_batch.log"
done
