"""The model: a CNN reads the digit, an adder turns (digit, number) into the sum.

    image  --CNN-->  digit log-probs  --exp-->  digit probs --+
                                                              +--> adder --> sum log-probs
    number --------------------------------------> one-hot ---+

Two adders share that interface:
- "learned": the reference's idea, fully connected layers over the 20-wide
  vector [digit probs, one-hot number] that must discover addition from data;
- "exact": no parameters, P(sum = s) = P(digit = s - n), so arithmetic is
  part of the architecture and only the digit has to be learned.

Reading order: the CNN (`DigitCNN`), the two adders, `SumNet`, which joins them;
then the input checks, a layer table, and the reference network we started from
(rebuilt for timing only).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ADDERS, TrainConfig
from .data import NUM_DIGITS, NUM_SUMS, SHIFTS, one_hot, shifted
from .machinery import MnistSumError


def conv_bn_relu(c_in, c_out, pool=False):
    """3x3 convolution, then (optionally) a 2x2 max-pool, batch norm and ReLU.

    Pooling straight after the convolution lets batch norm and ReLU work on a
    quarter of the pixels; on a CPU each of them costs about as much as the
    convolution itself, because the time goes into reading and writing the maps.
    The convolution has no bias: batch norm subtracts the mean right after, which
    would cancel any bias, and adds its own learned shift instead.
    """
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DigitCNN(nn.Module):
    """28x28 image -> 10 digit log-probabilities.

    Five 3x3 convolutions in three stages, each ending in a 2x2 max-pool
    (28 -> 14 -> 7 -> 3): `width` channels on the 28x28 map, twice that on
    14x14, four then eight times that on 7x7. On a CPU the time goes into
    moving feature maps through memory rather than into multiply-adds, so the
    big map gets one thin convolution and the smaller maps get the rest.
    """

    def __init__(self, width=TrainConfig.width, dropout=TrainConfig.dropout):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(1, width, pool=True),               # 28 -> 14
            conv_bn_relu(width, 2 * width),
            conv_bn_relu(2 * width, 2 * width, pool=True),   # 14 -> 7
            conv_bn_relu(2 * width, 4 * width),
            conv_bn_relu(4 * width, 8 * width, pool=True),   # 7 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),  # off by default: on validation, 0.3 tied with none (benchmarks/recipe.py)
            nn.Linear(8 * width * 3 * 3, NUM_DIGITS),
        )

    def forward(self, images):
        logits = self.classifier(self.features(images).flatten(1))
        return F.log_softmax(logits.float(), dim=1)


class LearnedAdder(nn.Module):
    """[digit probs, one-hot number] (20 wide) -> fully connected layers -> 19 log-probs.

    Leaky ReLUs, not ReLUs: at the adder's high learning rate one bad step can
    push a ReLU unit negative for all 100 (digit, number) inputs, after which
    it gets no gradient and stays dead. A float32 default run on a 2-core AMD
    CPU lost 125 of 128 units that way at epoch 7 and ended at 83% on the sum.
    """

    def __init__(self, hidden=TrainConfig.hidden):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(2 * NUM_DIGITS, hidden), nn.LeakyReLU(0.1, inplace=True),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.1, inplace=True),
            nn.Linear(hidden, NUM_SUMS),
        )

    def forward(self, digit_probs, numbers_onehot):
        x = torch.cat([digit_probs, numbers_onehot], dim=1).float()
        return F.log_softmax(self.layers(x).float(), dim=1)


class ExactAdder(nn.Module):
    """P(sum = s) = sum over n of P(number = n) * P(digit = s - n); no parameters."""

    def __init__(self):
        super().__init__()
        # pair_to_sum[d * 10 + n, d + n] = 1: which sum each (digit, number) pair makes
        d, n = torch.meshgrid(torch.arange(NUM_DIGITS), torch.arange(NUM_DIGITS), indexing="ij")
        pair_to_sum = F.one_hot((d + n).flatten(), NUM_SUMS).float()
        self.register_buffer("pair_to_sum", pair_to_sum, persistent=False)

    def forward(self, digit_probs, numbers_onehot):
        joint = digit_probs.float()[:, :, None] * numbers_onehot.float()[:, None, :]
        sum_probs = joint.flatten(1) @ self.pair_to_sum
        # impossible sums have probability 0: keep their log finite so argmax and NLL stay defined
        return sum_probs.clamp_min(torch.finfo(torch.float32).tiny).log()


class SumNet(nn.Module):
    """model(images [N,1,28,28] normalised, numbers_onehot [N,10]) -> (digit [N,10], sum [N,19]) log-probs.

    Its two halves are also methods, so evaluation can read each image once and
    then add any number to it: `digit_log_probs(images)`, then
    `sum_log_probs(digit_log_probs, numbers_onehot)`.
    """

    def __init__(self, adder=TrainConfig.adder, width=TrainConfig.width, hidden=TrainConfig.hidden,
                 dropout=TrainConfig.dropout):
        super().__init__()
        if adder not in ADDERS:
            raise MnistSumError(f"adder must be one of {', '.join(ADDERS)}, got {adder!r}")
        self.config = {"adder": adder, "width": int(width), "hidden": int(hidden), "dropout": float(dropout)}
        self.digit_net = DigitCNN(width, dropout)
        self.adder = LearnedAdder(hidden) if adder == "learned" else ExactAdder()

    def digit_log_probs(self, images, tta=False):
        """The CNN's digit log-probabilities. With `tta` (test-time augmentation), the mean of its
        probabilities over the image and four copies moved one pixel: five times the work."""
        if not tta:
            return self.digit_net(images)
        probs = torch.stack([self.digit_net(shifted(images, dx, dy)).exp() for dx, dy in SHIFTS]).mean(0)
        # a probability that underflowed to 0 keeps a finite log, as log_softmax's would be
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()

    def sum_log_probs(self, digit_log_probs, numbers_onehot):
        """The adder reads the digit's probabilities, not its argmax: the sum's loss then trains the CNN too."""
        return self.adder(digit_log_probs.exp(), numbers_onehot)

    def forward(self, images, numbers_onehot):
        check_inputs(images, numbers_onehot, check_values=not self.training)
        digit_log_probs = self.digit_log_probs(images)
        return digit_log_probs, self.sum_log_probs(digit_log_probs, numbers_onehot)


def check_inputs(images, numbers_onehot, check_values=True):
    """Shapes and dtypes always; values (finite, truly one-hot) when asked.

    Value checks read the whole tensor, which on a GPU waits for it, so the
    training loop, whose batches come from verified data, skips them.
    """
    if not isinstance(images, torch.Tensor) or not isinstance(numbers_onehot, torch.Tensor):
        raise MnistSumError("images and numbers_onehot must be torch tensors")
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise MnistSumError(f"images must have shape [N, 1, 28, 28], got {list(images.shape)}")
    if numbers_onehot.dim() != 2 or numbers_onehot.shape[1] != NUM_DIGITS:
        raise MnistSumError(f"numbers_onehot must have shape [N, 10], got {list(numbers_onehot.shape)}")
    if images.shape[0] != numbers_onehot.shape[0]:
        raise MnistSumError(f"got {images.shape[0]} images but {numbers_onehot.shape[0]} numbers")
    if not images.is_floating_point():
        raise MnistSumError(f"images must be floating point and normalised, got dtype {images.dtype}")
    if check_values:
        if not torch.isfinite(images).all():
            raise MnistSumError("images contain NaN or infinite pixels")
        lo, hi = -1.0, 4.0  # normalised pixels lie in [-0.43, 2.83]; much more means unnormalised input
        if images.numel() and (images.min() < lo or images.max() > hi):
            raise MnistSumError(
                f"image values must be normalised (mean 0.1307, std 0.3081, range about -0.42..2.82), "
                f"got {images.min().item():.3g}..{images.max().item():.3g}")
        is_binary = ((numbers_onehot == 0) | (numbers_onehot == 1)).all()
        if not is_binary or not (numbers_onehot.sum(1) == 1).all():
            raise MnistSumError("numbers_onehot rows must be one-hot: a single 1 and nine 0s")


def summary(model):
    """A text table of the layers: output shape for one image and parameter count."""
    rows = []

    def record(name):
        def hook(module, inputs, output):
            shape = list(output.shape[1:]) if isinstance(output, torch.Tensor) else "-"
            rows.append((name, type(module).__name__, shape, sum(p.numel() for p in module.parameters(recurse=False))))
        return hook
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    hooks = [m.register_forward_hook(record(name)) for name, m in leaves]
    was_training = model.training
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 28, 28), one_hot(torch.tensor([3])))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    lines = [f"{'layer':<26}{'type':<12}{'output shape':<16}{'parameters':>10}"]
    lines += [f"{name:<26}{kind:<12}{str(shape):<16}{count:>10,}" for name, kind, shape, count in rows]
    lines.append(f"{'total':<54}{sum(p.numel() for p in model.parameters()):>10,}")
    return "\n".join(lines)


class ReferenceNet(nn.Module):
    """The reference network as its README describes it, for timing beside SumNet (never trained here):
    seven convolutions (1-32-64, pool, 64-128-256, pool, 256-512-1024 unpadded, 1024-10 to 1x1)
    and fully connected 20-50-100-19 over [digit probs, one-hot number]."""

    def __init__(self):
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), relu(), nn.Conv2d(32, 64, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), relu(), nn.Conv2d(128, 256, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(256, 512, 3), relu(), nn.Conv2d(512, 1024, 3), relu(), nn.Conv2d(1024, 10, 3),
        )
        self.fc = nn.Sequential(nn.Linear(20, 50), relu(), nn.Linear(50, 100), relu(), nn.Linear(100, 19))

    def forward(self, images, numbers_onehot):
        digit_log_probs = F.log_softmax(self.convs(images).flatten(1).float(), dim=1)
        features = torch.cat([digit_log_probs.exp(), numbers_onehot], dim=1)
        return digit_log_probs, F.log_softmax(self.fc(features).float(), dim=1)
