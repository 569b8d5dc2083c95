"""Stopping a training run cleanly on Ctrl-C or SIGTERM (a closed Colab tab, `kill`).

The first signal only asks; training stops at the next step boundary, so no
optimiser step, progress bar or checkpoint is ever cut in half. A second
signal stops at once.
"""

import signal
from contextlib import contextmanager

from .errors import MnistSumError


class TrainingInterrupted(MnistSumError):
    """Ctrl-C or SIGTERM: the last finished epoch is saved and can be resumed."""


class StopRequest:
    def __init__(self):
        self.requested = False

    def _on_signal(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        """Called between steps: stop here if a signal asked for it."""
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def stop_on_signals():
    """A StopRequest that SIGINT and SIGTERM set for the length of the block."""
    stop = StopRequest()
    try:
        previous = {signum: signal.signal(signum, stop._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals cannot be caught here, Ctrl-C acts as usual
        yield stop
        return
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
