"""Shared fixtures: the real MNIST files (fetched once) and one briefly trained model."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir():
    """The real, verified MNIST files; fetched on first use like a user would."""
    from mnist_sum.data import ensure_mnist

    root = Path(os.environ.get("MNIST_SUM_DATA") or REPO / "data")
    ensure_mnist(root)
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(data_dir, tmp_path_factory):
    """A model trained with the fast preset (about a minute on 2 CPU cores): a real 99% model."""
    from mnist_sum import train
    from mnist_sum.config import PRESETS

    path = tmp_path_factory.mktemp("model") / "sumnet.pt"
    train(PRESETS["fast"], data_dir=data_dir, out=path, device="cpu", progress=False, log=lambda line: None)
    return path


def run_cli(*args, env=None, timeout=300):
    """`python -m mnist_sum ARGS` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mnist_sum", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def assert_clean_error(result, *words):
    """Non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


class PickledPayload:
    """What a malicious checkpoint carries: unpickling it runs a shell command
    that creates `marker`, so a test can tell whether it ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
