"""Shared fixtures: the real MNIST files (fetched once), the trained weights that ship with the package,
and two ways to run the command line: in this process (fast) or in a fresh one (where the process matters)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir():
    """The real, verified MNIST files; fetched on first use like a user would."""
    from mnist_sum import ensure_mnist

    root = Path(os.environ.get("MNIST_SUM_DATA") or REPO / "data")
    ensure_mnist(root)
    return root


@pytest.fixture(scope="session")
def trained_checkpoint():
    """A real 99% model without training one here: the weights shipped in the package
    (tests/test_weights.py re-scores them against their record)."""
    from mnist_sum.machinery.checkpoint import SHIPPED

    return SHIPPED


@pytest.fixture
def cli(capsys):
    """`python -m mnist_sum ARGS`, run in this process: the same output and exit code, without
    importing torch again. `run_cli` is for what only a fresh process shows (signals, warnings at start)."""
    from mnist_sum.cli import main

    def run(*args):
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors and --help
            code = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run


def tiny_train(data_dir, out, **settings):
    """A few steps on a few hundred images, scored on a few hundred test images: for tests of the
    machinery around training, not of how well it learns."""
    from mnist_sum import train

    settings = {"epochs": 1, "limit": 300, "score_limit": 200, **settings}
    return train(data_dir=data_dir, out=out, device="cpu", progress=False, log=lambda line: None, **settings)


def run_cli(*args, env=None, timeout=300, cwd=None):
    """`python -m mnist_sum ARGS` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mnist_sum", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, cwd=cwd)


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
