#!/usr/bin/env bash
# The whole test suite, as CI runs it: the linter, the tests, and the notebook, run once, alone in an
# empty folder as on Colab, under strict nbval; then a check that it wrote nothing outside that folder.
# While editing, the fast tier is enough: .venv/bin/python -m pytest -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export MNIST_SUM_QUICK=1                                # the notebook's short run
export MNIST_SUM_DATA="${MNIST_SUM_DATA:-$PWD/data}"    # one MNIST copy for the tests and the notebook
.venv/bin/ruff check .

content="$(mktemp -d)/content"                          # Colab's working folder, with no repository around it
mkdir "$content"
cp notebooks/mnist_sum.ipynb "$content/"
repository_before=$(git status --porcelain --untracked-files=all -- images notebooks mnist_sum)
.venv/bin/python -m pytest tests "$content/mnist_sum.ipynb" --nbval --nbval-current-env -p no:cacheprovider \
    -c pyproject.toml --rootdir . --durations=10

if [ "$(git status --porcelain --untracked-files=all -- images notebooks mnist_sum)" != "$repository_before" ]; then
  echo "test.sh: the notebook changed files in the repository:" >&2
  git status --porcelain --untracked-files=all -- images notebooks mnist_sum >&2
  exit 1
fi
stray=$(cd "$content" && find . -type f ! -path ./mnist_sum.ipynb ! -path './checkpoints/quick/*')
if [ -n "$stray" ]; then
  echo "test.sh: the notebook wrote outside its folder's checkpoints/quick/: $stray" >&2
  exit 1
fi
echo "test.sh: the notebook ran alone in $content and wrote only checkpoints/quick/ there"
