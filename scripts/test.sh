#!/usr/bin/env bash
# The whole suite, as CI runs it: the linter, the tests, and each notebook alone in an empty folder (as on Colab)
# under strict nbval, in quick mode, with MNIST already downloaded into its ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export MNIST_SUM_DATA="$PWD/data" MNIST_SUM_QUICK=1
.venv/bin/ruff check .
content="$(mktemp -d)/content"
mkdir "$content"
cp notebooks/*.ipynb "$content/"
ln -s "$PWD/data" "$content/data"  # MNIST as a first download leaves it, so the lesson reads ./data
.venv/bin/python -m pytest tests "$content" --nbval --nbval-current-env -p no:cacheprovider -c pyproject.toml --rootdir . --durations=5
