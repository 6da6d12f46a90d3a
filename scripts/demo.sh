#!/usr/bin/env bash
# Sets up, installs saematch and runs the main job on its built-in default.
# For now the main job is the assignment benchmark against SciPy, lap and
# lapjv; the paper's end-to-end experiment replaces it (see the issues).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
python3 -m pip install -q --no-build-isolation .
python3 benchmarks/bench_lap.py "$@"
