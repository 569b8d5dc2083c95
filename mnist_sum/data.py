"""The two-input dataset: MNIST images with a random number 0-9, as tensors.

Reading order: how the IDX files are read into tensors, then the
`MNISTRandomNumber` dataset, then the fast batcher that training uses.
Getting the files onto disk is `download.py`'s job.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .download import ensure_mnist
from .errors import MnistSumError

MEAN, STD = 0.1307, 0.3081  # statistics of the training images, scaled to [0, 1]
BACKGROUND = (0.0 - MEAN) / STD  # a blank pixel after normalisation
NUM_DIGITS = 10  # the random number has the same range as the digit: 0-9
NUM_SUMS = 19  # 0 + 0 up to 9 + 9


# ---------------------------------------------------------------- the files as tensors


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

    `validation=N` holds out the last N training images: the training split
    leaves them out, and `validation_only=True` gives exactly them, with
    numbers fixed per index as in testing, for choosing a recipe without
    looking at the test set.
    """

    def __init__(self, train=True, root=None, seed=0, limit=None, held_out_pairs=(), validation=0,
                 validation_only=False):
        images, digits = load_mnist(train, root)
        if validation:
            if not train or isinstance(validation, bool) or not isinstance(validation, int) \
                    or not 1 <= validation < len(digits):
                raise MnistSumError(f"validation must be an integer from 1 to {len(digits) - 1} training images, "
                                    f"got {validation!r}")
            keep = slice(len(digits) - validation, None) if validation_only else slice(0, len(digits) - validation)
            images, digits = images[keep], digits[keep]
            train = not validation_only
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
