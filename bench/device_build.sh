#!/usr/bin/env bash
# builds bench_device alone against any LibTorch, with g++ and no cmake: util, io (the tensor
# files), model, flow, the optimizer and bench/bench_device.cpp. a CUDA machine's PyTorch carries
# a LibTorch (headers and libraries inside its package), so this needs neither Debian's packages
# nor a LibTorch download there (docs/GPU.md).
#
# usage: bench/device_build.sh OUT_DIR [TORCH_ROOT]
#   TORCH_ROOT  a folder with include/ and lib/ (an unpacked LibTorch, PyTorch's package folder,
#               or /usr for Debian's); default: python3's torch package
#   EXTRA_INCLUDE  -I flags for nlohmann/ and fmt/ where the system has no such headers
#   JOBS  parallel compiles (default: nproc)
set -euo pipefail
out=$1
root=${2:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
jobs=${JOBS:-$(nproc)}
lib=$root/lib
[ -e "$lib/libtorch_cpu.so" ] || lib=$root/lib/x86_64-linux-gnu
[ -e "$lib/libtorch_cpu.so" ] || { echo "device_build: no libtorch_cpu.so under $root" >&2; exit 1; }
abi=1
if [ -z "${2:-}" ]; then
  abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
fi
mkdir -p "$out/obj"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
sources=(src/util/log.cpp src/io/atomic_file.cpp src/io/json_file.cpp src/io/safetensors.cpp
  src/io/tensor_file.cpp src/model/*.cpp src/flow/flow_matching.cpp src/flow/sampler.cpp
  src/flow/unified_loss.cpp src/train/optimizer.cpp bench/bench_device.cpp)
flags="-O2 -fopenmp -DFMT_HEADER_ONLY -D_GLIBCXX_USE_CXX11_ABI=$abi -Wno-deprecated-declarations"
flags="$flags -Isrc -Ibench -I$root/include -I$root/include/torch/csrc/api/include ${EXTRA_INCLUDE:-}"
# against a LibTorch with CUDA: the cuda-graph timings too (its headers need the CUDA toolkit's)
if [ -e "$lib/libtorch_cuda.so" ]; then
  cuda_inc=$(python3 -c 'import os, nvidia.cuda_runtime as r; print(os.path.join(list(r.__path__)[0], "include"))' 2>/dev/null || true)
  for d in ${CUDA_HOME:-/usr/local/cuda}/include $cuda_inc; do [ -d "$d" ] && flags="$flags -I$d"; done
  flags="$flags -DAVLA_CUDA_GRAPHS=1"
fi
# the c++ standard this LibTorch's headers need: 17 where it is enough, else 20
std=-std=c++17
echo '#include <torch/torch.h>' > "$out/obj/probe.cpp"
if ! g++ $std $flags -fsyntax-only "$out/obj/probe.cpp" 2> "$out/obj/probe.log"; then
  std=-std=c++20
  echo "[device_build] c++17 failed on torch.h ($(head -c 300 "$out/obj/probe.log")); using c++20"
fi
echo "[device_build] ${#sources[@]} sources, $jobs jobs, $std, LibTorch at $root (lib $lib)"
printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -I{} sh -c \
  'o="$0/obj/$(echo {} | tr / _).o"; g++ '"$std $flags"' -c {} -o "$o" || exit 255' "$out"
cuda_libs=""
if [ -e "$lib/libtorch_cuda.so" ]; then
  cuda_libs="-ltorch_cuda -lc10_cuda"
  # the cuda runtime our graph code calls directly (stream synchronize)
  for d in ${CUDA_HOME:-/usr/local/cuda}/lib64 ${CUDA_HOME:-/usr/local/cuda}/lib; do
    if [ -e "$d/libcudart.so" ]; then
      cuda_libs="$cuda_libs -L$d -Wl,-rpath,$d -lcudart"
      break
    fi
  done
fi
g++ "$out"/obj/*.o -o "$out/bench_device" -fopenmp -L"$lib" -Wl,-rpath,"$lib" \
  -Wl,--no-as-needed -ltorch $cuda_libs -ltorch_cpu -lc10 -Wl,--as-needed -lpthread
echo "[device_build] built $out/bench_device"
