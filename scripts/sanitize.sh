#!/usr/bin/env bash
# the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer: our code (core, CLI,
# tests) built with clang and the sanitizers in $FUZZ_BUILD (the same build as scripts/fuzz.sh);
# LibTorch, HDF5 and MuJoCo are Debian's, not instrumented.
# usage: scripts/sanitize.sh [CTEST_ARGS ...]     (make sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
bash scripts/setup.sh --fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DASYNCVLA_FUZZ=ON -DASYNCVLA_BENCH=OFF > /dev/null
fi
cmake --build "$build" -j"$(nproc)" --target asyncvla asyncvla_tests
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/fuzz/ubsan.supp"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
cd "$build" && ctest --output-on-failure -j"$(nproc)" "$@"
