#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds and runs every test: unit and end-to-end tests on the release build (g++), again under ASan+UBSan built
# by g++ (the release compiler: its coroutine code is what ships), and again plus the fuzz targets under
# ASan+UBSan built by clang. The benchmarks' smoke tests and the network-namespace relay test run in the release
# stage only (rates and timing mean nothing under a sanitizer; the relay's code paths run in e2e.relay in every
# stage). Set FREEHOLD_FUZZ_SECONDS to change the fuzzing time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
# The npm clients for e2e.onvif, e2e.webui and e2e.relay (pinned by tests/e2e/package-lock.json); the tests also do this if
# missing.
if [ ! -f tests/e2e/node_modules/onvif/package.json ] || [ ! -f tests/e2e/node_modules/playwright-core/package.json ] \
   || [ ! -f tests/e2e/node_modules/ws/package.json ]; then
  echo "==> npm ci (tests/e2e: the onvif client, playwright-core, ws)"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
jobs=$(nproc)
fuzz_seconds=${FREEHOLD_FUZZ_SECONDS:-30}

echo "==> [1/3] release build (g++ $(g++ -dumpfullversion)), warnings are errors"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "==> [1/3] unit and end-to-end tests (release)"
ctest --preset release -j "$jobs"

echo "==> [2/3] gcc-asan build (g++ with ASan+UBSan)"
cmake --preset gcc-asan >/dev/null
cmake --build --preset gcc-asan -j "$jobs"
echo "==> [2/3] unit and end-to-end tests under ASan+UBSan (g++)"
ctest --preset gcc-asan -j "$jobs"

echo "==> [3/3] asan-ubsan build (clang), with libFuzzer targets"
cmake --preset asan-ubsan -DFREEHOLD_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
echo "==> [3/3] unit, end-to-end and fuzz tests under ASan+UBSan (fuzzing ${fuzz_seconds}s per target)"
ctest --preset asan-ubsan -j "$jobs"
