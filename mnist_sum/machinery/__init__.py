"""The machinery around the lesson. None of it is needed to follow how the network learns.

- `runtime`: which device, in which precision; progress bars; a clean stop on Ctrl-C.
- `checkpoint`: checkpoint files, written atomically and read with `weights_only=True`;
  which checkpoint to use when none is named (yours, else the weights shipped in the package).
- `download`: getting MNIST onto disk where torchvision's own download cannot.
- `notebook`: the notebook's housekeeping: its short test run, where it saves runs and figures.
- here: `MnistSumError`, the one error a user can act on, and `atomic_path`, for files never half written.
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class MnistSumError(Exception):
    """A problem with the user's input, files or environment, worded as advice.

    The command line prints it as one line and exits with code 2; anything else
    that escapes is a bug in mnist_sum, not in the user's input.
    """


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` if the block
    succeeds, delete it if the block fails (Ctrl-C included): a reader sees the
    old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
