#!/usr/bin/env bash
# the first run on a cuda machine (docs/GPU.md): builds bench_device against the machine's own
# PyTorch (bench/device_build.sh), runs its checks (the device computes the cpu's chunk,
# confidences and training loss) and its timings, then times PyTorch eager on the same weights on
# the same device (bench/reference_bench.py). writes OUT_DIR/{machine.txt,bench_device.json,
# reference.json} and prints the ratios (bench/device_compare.py).
# usage: bench/device_bench.sh OUT_DIR [DEVICE] [THREADS]
set -uo pipefail
out=$1
device=${2:-cuda}
threads=${3:-$(nproc)}
build=${DEVICE_BUILD:-/tmp/avla_devbuild}
dir=/tmp/avla_devbench
mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
{
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  g++ --version | head -1
  grep -m1 "model name" /proc/cpuinfo
  echo "cpu threads $threads"
} | tee "$out/machine.txt"
start=$(date +%s)
bench/device_build.sh "$build" ${TORCH_ROOT:-} || exit 1
echo "[device_bench] built in $(($(date +%s) - start)) s"
"$build/bench_device" --device "$device" --dir "$dir" --threads "$threads" \
  | tee "$out/bench_device.json" || exit 1
[ -n "${SKIP_REFERENCE:-}" ] && exit 0
echo "[device_bench] PyTorch eager on the same weights"
python3 bench/reference_bench.py "$dir" "$threads" "$device" | tee "$out/reference.json" || exit 1
python3 bench/device_compare.py "$out/bench_device.json" "$out/reference.json" \
  | tee "$out/compare.md"
