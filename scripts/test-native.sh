#!/usr/bin/env bash
# C++ unit tests of native/kernels under AddressSanitizer + UBSan, run by ctest once per ISA.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-native-test
cmake -S native/test -B "$build" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
cd "$build"
ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$(nproc)"
