#!/usr/bin/env bash
# Sets up and runs every test: the C++ suite (ctest), the same torch-free
# suite under AddressSanitizer + UBSan, then the Python suite (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== C++ tests (Release, -Werror)"
cmake -S . -B build/test -G Ninja -DSAEMATCH_WERROR=ON >/dev/null
cmake --build build/test -j "$jobs"
ctest --test-dir build/test --output-on-failure -j "$jobs"

echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/sanitize -G Ninja -DSAEMATCH_SANITIZE=ON -DSAEMATCH_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/sanitize --output-on-failure -j "$jobs" -E '^install\.'

echo "== Fuzz smoke run of the checkpoint parsers (libFuzzer + ASan + UBSan, clang)"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSAEMATCH_FUZZ=ON \
  -DSAEMATCH_BUILD_TESTS=OFF -DSAEMATCH_WITH_TORCH=OFF >/dev/null
cmake --build build/fuzz --target fuzz_io fuzz_io_corpus
# Seeded with valid folders of every layout and architecture (and each with a
# short tensor), so the runs mutate real checkpoints, not only random bytes.
build/fuzz/fuzz/fuzz_io_corpus build/fuzz/corpus
(cd build/fuzz && ./fuzz/fuzz_io corpus -runs=30000 -seed=1 2>&1 | tail -1)

echo "== Python tests"
python3 -m pip install -q --no-build-isolation .
python3 -m pytest -q tests/python
