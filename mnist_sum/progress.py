"""Progress bars that leave nothing behind but the lines that matter.

In a terminal this is tqdm as usual. In Jupyter or Colab, tqdm's text bar
would store every frame in the notebook (hundreds of lines on GitHub), and its
widget bar stores widget state; so there the bar is drawn into one display
that is updated in place and emptied when the bar closes.
"""

import sys

from tqdm import tqdm


def _in_notebook():
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules


class _DisplayLine:
    """A file-like object for tqdm: each frame replaces the previous one in a single display."""

    def __init__(self):
        from IPython.display import display

        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text):
        frame = text.strip("\r\n ")
        self._handle.update({"text/plain": frame}, raw=True)

    def flush(self):
        pass


def bar_output():
    """Where a run's progress bars go: one self-updating display in a notebook, else stderr.
    One per training run, so a saved notebook keeps a single (empty) display, not one per epoch."""
    return _DisplayLine() if _in_notebook() else sys.stderr


def progress_bar(iterable, total, desc, output):
    """tqdm over `iterable`, drawn into `output` (from `bar_output`); no bar where `output` is None."""
    return tqdm(iterable, total=total, desc=desc, disable=output is None, leave=False, mininterval=0.5, file=output)
