"""The data: MNIST images, each paired with a random number 0-9, as PyTorch tensors.

Reading order: MNIST as tensors (torchvision reads the files); normalising and
one-hot numbers; the `MNISTRandomNumber` dataset; `batches`, which training
iterates over; then augmentation, and the one-pixel shifts of test-time
augmentation. Getting the files onto disk is `machinery/download.py`'s job.
"""

import math

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .machinery import MnistSumError
from .machinery.download import ensure_mnist

MEAN, STD = 0.1307, 0.3081  # statistics of the training images, scaled to [0, 1]
BACKGROUND = (0.0 - MEAN) / STD  # a blank pixel after normalisation
NUM_DIGITS = 10  # the random number has the same range as the digit: 0-9
NUM_SUMS = 19  # 0 + 0 up to 9 + 9


def load_mnist(train=True, root=None):
    """Images as uint8 [N, 28, 28] and labels as int64 [N], read by torchvision's MNIST."""
    from torchvision.datasets import MNIST  # imported here: only loading the data needs it

    raw_dir = ensure_mnist(root)
    mnist = MNIST(raw_dir.parent.parent, train=train)
    return mnist.data, mnist.targets


def normalise(images_uint8):
    """uint8 pixels -> float32 [N, 1, 28, 28] with the training set's mean and std."""
    # in place: one 188 MB buffer for the training set instead of three, a fifth of a second less start-up
    return images_uint8.to(torch.float32, copy=True).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1)


def one_hot(numbers):
    return F.one_hot(numbers, NUM_DIGITS).float()


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

    - training split: the number is drawn anew every time an item is read, from a
      generator seeded by `seed`, so the network sees many pairs per image and a
      run is still reproducible;
    - test split: the number is fixed per index by `seed`, so test accuracy means
      the same thing on every run and machine.

    `held_out_pairs`, a list of (digit, number) pairs, are never drawn in training:
    the experiment that asks whether the adder learns addition. `validation=N`
    holds out the last N training images: the training split leaves them out, and
    `validation_only=True` gives exactly them, numbers fixed per index as in testing.
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
    """Yield ((images, numbers_onehot), (digits, sums)) batches on `device`.

    The same batches as a DataLoader with RandomSampler(generator=order_generator)
    over the dataset (in order, with no generator), but by indexing whole tensors:
    DataLoader calls __getitem__ once per image and stacks the results, which costs
    more than a training step of this small network; here a batch is one indexing.
    """
    n = len(dataset)
    order = torch.randperm(n, generator=order_generator) if order_generator is not None else torch.arange(n)
    cache = dataset.__dict__.setdefault("_on_device", {})  # copied to the device once, not per batch
    if str(device) not in cache:
        cache[str(device)] = (dataset.images.to(device), dataset.digits.to(device))
    images, digits = cache[str(device)]
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        numbers = dataset.numbers_for(idx).to(device)
        idx = idx.to(device)
        yield (images[idx], one_hot(numbers)), (digits[idx], digits[idx] + numbers)


# ---------------------------------------------------------------- augmentation


def augment(images, generator, degrees=10.0, zoom=0.1, shift_px=2.0):
    """A random small rotation, zoom and shift per image, for the whole batch at once.

    Handwriting varies like this while its label stays the same, so the network
    learns to ignore such changes instead of memorising pixels. One affine grid for
    the batch: torchvision's RandomAffine draws one set of parameters per call, so
    per image it means a Python loop, about 30x slower here.
    """
    n = images.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator).mul(2).sub(1)  # noqa: E731 uniform in [-1, 1]
    angle = rand(n) * math.radians(degrees)
    scale = 1 + rand(n) * zoom
    shift = rand(n, 2) * (shift_px / 14)  # grid coordinates run from -1 to 1 over 28 pixels
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with 0, so shift the background to 0 and back
    return F.grid_sample(images - BACKGROUND, grid, align_corners=False) + BACKGROUND


# Test-time augmentation: the image as it is, and moved one pixel right, left, down and up.
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(images, dx, dy):
    """`images` moved dx pixels right and dy pixels down; the pixels uncovered are blank."""
    moved = torch.roll(images, (dy, dx), (2, 3))
    if dy:
        moved[:, :, 0 if dy > 0 else -1, :] = BACKGROUND
    if dx:
        moved[:, :, :, 0 if dx > 0 else -1] = BACKGROUND
    return moved
