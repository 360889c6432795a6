#!/usr/bin/env bash
# the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer: our code (core, CLI,
# tests) built with clang and the sanitizers in $FUZZ_BUILD (the same build as scripts/fuzz.sh);
# LibTorch, HDF5 and MuJoCo are Debian's, not instrumented.
# usage: scripts/sanitize.sh [CTEST_ARGS ...]     (make sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
source scripts/common.sh
clang_sanitizer_build "$build"
cmake --build "$build" -j"$(nproc)" --target asyncvla asyncvla_tests
cd "$build" && ctest --output-on-failure -j"$(nproc)" "$@"
