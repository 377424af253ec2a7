#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds and runs every test: unit and end-to-end tests on the release build (g++), then the same tests plus
# the fuzz targets on the ASan+UBSan build (clang). Set FREEHOLD_FUZZ_SECONDS to change the fuzzing time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
jobs=$(nproc)
fuzz_seconds=${FREEHOLD_FUZZ_SECONDS:-60}

echo "==> [1/2] release build (g++ $(g++ -dumpfullversion)), warnings are errors"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "==> [1/2] unit and end-to-end tests (release)"
ctest --preset release -j "$jobs"

echo "==> [2/2] asan-ubsan build (clang), with libFuzzer targets"
cmake --preset asan-ubsan -DFREEHOLD_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
echo "==> [2/2] unit, end-to-end and fuzz tests under ASan+UBSan (fuzzing ${fuzz_seconds}s per target)"
ctest --preset asan-ubsan -j "$jobs"
