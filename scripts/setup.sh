#!/usr/bin/env bash
# installs every Debian package that asyncvla's build, tests and benchmarks need.
# idempotent and non-interactive: when everything is present it returns in about a second.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git procps
  libtorch-dev libopenblas0-openmp libgloo-dev
  libhdf5-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg62-turbo-dev libboost-dev libmsgpack-cxx-dev
  libprotobuf-dev protobuf-compiler
  libmujoco-dev libqhull-dev libegl-dev libegl-mesa0 libgl-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  python3 python3-torch python3-numpy python3-h5py python3-matplotlib python3-msgpack python3-websockets
  python3-protobuf python3-pil
)

# scripts/fuzz.sh and scripts/sanitize.sh: clang with its sanitizer and libFuzzer runtimes
if [ "${1:-}" = "--fuzz" ]; then packages+=(clang libclang-rt-14-dev); fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[setup] all ${#packages[@]} packages present"
  exit 0
fi

echo "[setup] installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "[setup] done"
