"""The data: MNIST images, each paired with a random number 0-9.

Reading order: the constants; `MNISTRandomNumber`, the dataset; `batches`,
which gives the same batches as a DataLoader, faster; `augment`, the random
rotation, zoom and shift of training; `MNISTPairs`, two images and their sum.
"""

import math
import os

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

MEAN, STD = 0.1307, 0.3081  # pixel statistics of the training images, scaled to [0, 1]
BACKGROUND = (0.0 - MEAN) / STD  # a blank pixel after normalising
NUM_DIGITS = 10  # the number has the digit's range: 0-9
NUM_SUMS = 19  # 0 + 0 up to 9 + 9


def load_mnist(train=True, root=None):
    """(images uint8 [N, 28, 28], digits int64 [N]), read and downloaded by torchvision."""
    from torchvision.datasets import MNIST

    root = root or os.environ.get("MNIST_SUM_DATA") or "data"
    try:
        mnist = MNIST(root, train=train, download=True)
    except RuntimeError as e:  # offline, and the files are not there
        raise RuntimeError(f"MNIST is not in {root}/MNIST/raw and could not be downloaded ({e})") from None
    return mnist.data, mnist.targets


def normalise(images):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] with the training set's mean and std."""
    return ((images.float() / 255 - MEAN) / STD).unsqueeze(1)


def one_hot(numbers):
    return F.one_hot(numbers, NUM_DIGITS).float()


class MNISTRandomNumber(Dataset):
    """Item i is ((image, number_onehot), (digit, sum)).

    Training: the number is drawn anew each time an item is read, so each image
    meets many numbers. Testing: the number is fixed per image by `seed`, so test
    accuracy means the same on every run. `validation=N` keeps the last N training
    images out of training; `validation_only=True` gives exactly those, with fixed
    numbers. `held_out_pairs`, (digit, number) pairs, are never drawn in training.
    """

    def __init__(self, train=True, root=None, seed=0, limit=None, validation=0, validation_only=False,
                 held_out_pairs=()):
        images, digits = load_mnist(train, root)
        if validation:
            keep = slice(-validation, None) if validation_only else slice(0, -validation)
            images, digits = images[keep], digits[keep]
            train = not validation_only
        self.images, self.digits = normalise(images[:limit]), digits[:limit]
        self.train = train
        self.generator = torch.Generator().manual_seed(seed)
        self.allowed = torch.ones(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool)  # [digit, number]
        for digit, number in held_out_pairs:
            self.allowed[digit, number] = False
        if not train:
            self.fixed_numbers = torch.randint(NUM_DIGITS, (len(self.digits),), generator=self.generator)

    def __len__(self):
        return len(self.digits)

    def numbers_for(self, indices):
        """The numbers for these indices: fresh draws in training, fixed otherwise."""
        if not self.train:
            return self.fixed_numbers[indices]
        numbers = torch.randint(NUM_DIGITS, (len(indices),), generator=self.generator)
        redraw = ~self.allowed[self.digits[indices], numbers]
        while redraw.any():  # redraw only the forbidden ones: the allowed numbers stay equally likely
            numbers[redraw] = torch.randint(NUM_DIGITS, (int(redraw.sum()),), generator=self.generator)
            redraw = ~self.allowed[self.digits[indices], numbers]
        return numbers

    def __getitem__(self, index):
        number = self.numbers_for(torch.tensor([index]))[0]
        digit = self.digits[index]
        return (self.images[index], one_hot(number)), (digit, digit + number)


def batches(dataset, batch_size, generator=None, device="cpu"):
    """Yield ((images, numbers_onehot), (digits, sums)) on `device`.

    The same batches as DataLoader(dataset, batch_size, shuffle=True,
    generator=generator) (in order without a generator), by indexing whole
    tensors: a DataLoader reads one item at a time, which here costs more than
    the training step itself.
    """
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    images, digits = dataset.images.to(device), dataset.digits.to(device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        numbers = dataset.numbers_for(idx).to(device)
        idx = idx.to(device)
        yield (images[idx], one_hot(numbers)), (digits[idx], digits[idx] + numbers)


def augment(images, generator, degrees=10.0, zoom=0.1, shift_px=2.0):
    """A random rotation, zoom and shift for each image, as one affine warp of the batch.

    Handwriting varies like this and its label does not, so the network learns
    to ignore it. (torchvision's RandomAffine draws one warp per call, so one
    per image would mean a Python loop.)
    """
    n = images.shape[0]
    uniform = lambda *shape: torch.rand(*shape, generator=generator) * 2 - 1  # noqa: E731  in [-1, 1]
    angle = uniform(n) * math.radians(degrees)
    scale = 1 + uniform(n) * zoom
    shift = uniform(n, 2) * (shift_px / 14)  # the grid runs from -1 to 1 over 28 pixels
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with 0: move the background to 0 and back
    return F.grid_sample(images - BACKGROUND, grid, align_corners=False) + BACKGROUND


class MNISTPairs(Dataset):
    """Two images and their sum, the digits never given: MNIST addition as DeepProbLog set it.

    The images are shuffled once by `seed` and paired, each used once: 30,000
    training pairs, 5,000 test pairs. `validation=N` pairs: the last N of the
    training pairs (`validation_only=True`) or all but them. Item i is
    ((image_a, image_b), sum); `digits` [N, 2] is kept for scoring only.
    """

    def __init__(self, train=True, root=None, seed=0, limit=None, validation=0, validation_only=False):
        images, digits = load_mnist(train, root)
        order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(seed)).view(-1, 2)
        if validation:
            order = order[-validation:] if validation_only else order[:-validation]
        order = order[:limit]
        self.images, self.digits = normalise(images)[order], digits[order]  # [N, 2, 1, 28, 28], [N, 2]
        self.sums = self.digits.sum(1)

    def __len__(self):
        return len(self.sums)

    def __getitem__(self, index):
        return (self.images[index, 0], self.images[index, 1]), self.sums[index]
