#!/usr/bin/env bash
# Sets up, installs saematch and runs the main job on its built-in default:
# the paper's experiment on all-MiniLM-L6-v2, offline (saematch demo; about
# five minutes on 2 cores), into ./saematch-demo. Extra arguments go to
# `saematch demo` (e.g. --scale quick, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pip install -q --no-build-isolation .
python3 -m saematch.cli demo "$@"
echo "report: $(pwd)/${OUT:-saematch-demo}/summary.md"
echo "browse the latents: file://$(pwd)/${OUT:-saematch-demo}/report_topk/index.html (and report_relu/)"
