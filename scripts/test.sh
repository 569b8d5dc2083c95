#!/usr/bin/env bash
# The whole test suite, as CI runs it: the linter, unit and integration tests,
# then the notebook under strict nbval.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export MNIST_SUM_QUICK=1                                # the notebook's short run
export MNIST_SUM_DATA="${MNIST_SUM_DATA:-$PWD/data}"    # one MNIST copy for the tests and the notebook
.venv/bin/ruff check .
.venv/bin/python -m pytest tests notebooks --nbval --nbval-current-env -p no:cacheprovider
