"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` if the block
    succeeds, delete it if the block fails (Ctrl-C included)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        os.chmod(tmp, _default_mode())  # mkstemp makes 0600; give the file the usual permissions
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
