"""Shared fixtures: the MNIST files, the shipped weights, and the command line in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir():
    """The MNIST folder that scripts/setup.sh fills."""
    root = Path(os.environ.get("MNIST_SUM_DATA") or REPO / "data")
    os.environ["MNIST_SUM_DATA"] = str(root)  # the commands run by the tests read the same copy
    return root


@pytest.fixture(scope="session")
def shipped():
    from mnist_sum import SHIPPED

    return SHIPPED


def run_cli(*args, timeout=300, cwd=None):
    """`python -m mnist_sum ARGS` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mnist_sum", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def tiny_train(data_dir, out, **settings):
    """One epoch on a few hundred images: for tests of what happens around training, not of how well it learns."""
    from mnist_sum import train

    settings = {"epochs": 1, "limit": 512, "batch_size": 128, **settings}
    return train(data_dir=data_dir, out=out, progress=False, log=lambda line: None, **settings)
