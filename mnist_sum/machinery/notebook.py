"""Housekeeping for the chapter's notebook, kept out of the lesson's cells: the test suite's short run, where
the notebook's training runs save, and where its figures go when it runs inside the repository."""

import os
from pathlib import Path

QUICK = os.environ.get("MNIST_SUM_QUICK") == "1"  # the test suite's short run: fewer steps, the same code
CHECKPOINTS = Path("checkpoints/quick" if QUICK else "checkpoints")  # relative to the notebook's folder


def figure_path(name):
    """images/NAME for a full run inside the repository (the notebook in notebooks/, beside mnist_sum/), so the
    README's figures come from the notebook's run; None elsewhere, such as on Colab, where nothing is saved."""
    in_repository = Path("../mnist_sum/__init__.py").exists()
    return Path("../images") / name if in_repository and not QUICK else None
