"""The model: a CNN reads the digit, an adder turns (digit, number) into the sum.

    image  --CNN-->  digit log-probs --exp--> digit probs --+
                                                           +--> adder --> sum log-probs
    number ---------------------------------> one-hot -----+

Two adders share that interface:
- "learned": fully connected layers over [digit probs, one-hot number] that
  must discover addition from examples;
- "exact": no weights; P(sum = s) = sum over n of P(digit = s - n) P(number = n).

Reading order: `DigitCNN`, the two adders, `SumNet`; then `PairSumNet`, which
adds two images; then saving and loading.
"""

import os
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import NUM_DIGITS, NUM_SUMS

DEFAULT_CHECKPOINT = "checkpoints/sumnet.pt"
SHIPPED = Path(__file__).parent / "weights" / "sumnet.pt"  # made by scripts/make_weights.py


def conv_bn_relu(c_in, c_out, pool=False):
    """3x3 convolution, then (optionally) a 2x2 max-pool, batch norm and ReLU.

    Pooling first lets batch norm and ReLU work on a quarter of the pixels. The
    convolution has no bias: batch norm subtracts the mean right after.
    """
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class DigitCNN(nn.Module):
    """28x28 image -> 10 digit log-probabilities.

    Five convolutions in three stages, each ending in a 2x2 max-pool
    (28 -> 14 -> 7 -> 3). The big 28x28 map gets one thin convolution and the
    small maps the rest: moving feature maps through memory is the slow part.
    """

    def __init__(self, width=16):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(1, width, pool=True),               # 28 -> 14
            conv_bn_relu(width, 2 * width),
            conv_bn_relu(2 * width, 2 * width, pool=True),   # 14 -> 7
            conv_bn_relu(2 * width, 4 * width),
            conv_bn_relu(4 * width, 8 * width, pool=True),   # 7 -> 3
        )
        self.classifier = nn.Linear(8 * width * 3 * 3, NUM_DIGITS)

    def forward(self, images):
        return F.log_softmax(self.classifier(self.features(images).flatten(1)).float(), dim=1)


class LearnedAdder(nn.Module):
    """[digit probs, one-hot number] (20 wide) -> two hidden layers -> 19 sum log-probs.

    Leaky ReLUs: a ReLU unit pushed negative for all 100 (digit, number) inputs
    gets no gradient again, and the adder has few units to lose.
    """

    def __init__(self, hidden=128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(2 * NUM_DIGITS, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, NUM_SUMS),
        )

    def forward(self, digit_probs, number_probs):
        x = torch.cat([digit_probs, number_probs], dim=1).float()
        return F.log_softmax(self.layers(x).float(), dim=1)  # float32: under autocast the layers give bfloat16


class ExactAdder(nn.Module):
    """P(sum = s) = sum over pairs (d, n) with d + n = s of P(digit = d) P(number = n); no weights.

    The number may be one-hot, or the probabilities of a second digit.
    """

    def __init__(self):
        super().__init__()
        d, n = torch.meshgrid(torch.arange(NUM_DIGITS), torch.arange(NUM_DIGITS), indexing="ij")
        # pair_to_sum[10 d + n, d + n] = 1: the sum each (digit, number) pair makes
        self.register_buffer("pair_to_sum", F.one_hot((d + n).flatten(), NUM_SUMS).float(), persistent=False)

    def forward(self, digit_probs, number_probs):
        joint = digit_probs.float()[:, :, None] * number_probs.float()[:, None, :]  # [N, 10, 10]
        sum_probs = joint.flatten(1) @ self.pair_to_sum
        # an impossible sum has probability 0: keep its log finite, so the loss stays defined
        return sum_probs.clamp_min(torch.finfo(torch.float32).tiny).log()


class SumNet(nn.Module):
    """model(images [N, 1, 28, 28], numbers_onehot [N, 10]) -> (digit [N, 10], sum [N, 19]) log-probs."""

    def __init__(self, adder="learned", width=16, hidden=128):
        super().__init__()
        if adder not in ("learned", "exact"):
            raise ValueError(f"adder must be 'learned' or 'exact', got {adder!r}")
        self.config = {"adder": adder, "width": width, "hidden": hidden}
        self.digit_net = DigitCNN(width)
        self.adder = LearnedAdder(hidden) if adder == "learned" else ExactAdder()

    def forward(self, images, numbers_onehot):
        digit_log_probs = self.digit_net(images)
        # the adder reads probabilities, not the argmax: the sum's loss then trains the CNN too
        return digit_log_probs, self.adder(digit_log_probs.exp(), numbers_onehot)


class PairSumNet(SumNet):
    """model(images_a, images_b) -> (digit_a, digit_b, sum) log-probs: one CNN reads both images."""

    def forward(self, images_a, images_b):
        digit_a, digit_b = self.digit_net(torch.cat([images_a, images_b])).chunk(2)
        return digit_a, digit_b, self.adder(digit_a.exp(), digit_b.exp())


def save_model(model, path, **extra):
    """One torch.save dict: the model's settings, its weights and `extra` (the history, say).
    Written beside `path` and then renamed, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        torch.save({"config": getattr(model, "config", None), "state_dict": model.state_dict(), **extra}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path=None):
    """The checkpoint's dict. With no path: yours at checkpoints/sumnet.pt, else the shipped weights."""
    if path is None:
        path = DEFAULT_CHECKPOINT if Path(DEFAULT_CHECKPOINT).is_file() else SHIPPED
        print(f"mnist_sum: using {'your ' + str(path) if path != SHIPPED else 'the shipped weights'}",
              file=sys.stderr)
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with: python -m mnist_sum train --out {path}")
    try:
        # weights_only: a file that carries pickled code is refused, not run
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # random bytes fail in whatever way the unpickler trips
        if "GLOBAL" in str(e):
            raise ValueError(f"refusing checkpoint {path}: it carries pickled Python code") from None
        raise ValueError(f"{path} is not a checkpoint ({(str(e) or type(e).__name__).splitlines()[0][:200]})") \
            from None


def load_model(path=None, device="cpu"):
    """The SumNet a checkpoint holds, in eval mode, on `device`."""
    checkpoint = load_checkpoint(path)
    try:
        model = SumNet(**checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise ValueError(f"checkpoint {path} does not hold a SumNet ({str(e).splitlines()[0][:200]})") from None
    return model.to(device).eval()
