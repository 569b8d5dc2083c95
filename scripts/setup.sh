#!/usr/bin/env bash
# Create .venv, install mnist_sum with everything the notebook and tests use,
# and Graphviz's `dot` (for the architecture graph) where this machine allows it.
set -euo pipefail
cd "$(dirname "$0")/.."

install_graphviz() {
  command -v dot >/dev/null 2>&1 && return
  if [ "$(uname)" = Darwin ] && command -v brew >/dev/null 2>&1; then
    brew install graphviz && return
  elif command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq graphviz >/dev/null && return
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null && return
    fi
  fi
  echo "setup: Graphviz's dot is not installed, so the architecture graph will be skipped;" \
       "to draw it, run: sudo apt-get install graphviz (or brew install graphviz)" >&2
}

install_graphviz
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r requirements.txt
