"""Every training setting and its default, in one place.

`train()` takes a `TrainConfig` (or its fields as keywords), the command line
builds one option per field from it, with the help text and default below,
and each checkpoint stores it, so `--resume` can tell whether a run is being
continued with the settings it started with.
"""

import math
from dataclasses import asdict, dataclass, field, fields, replace

from .machinery import MnistSumError

ADDERS = ("learned", "exact")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# What each kind of setting accepts, worded for "X must be ..." messages.
KINDS = {
    "a positive integer": (int, lambda v: _is_int(v) and v >= 1),
    "a non-negative integer": (int, lambda v: _is_int(v) and v >= 0),
    "a positive number": (float, lambda v: _is_number(v) and v > 0),
    "a non-negative number": (float, lambda v: _is_number(v) and v >= 0),
    "a number from 0 to 1": (float, lambda v: _is_number(v) and 0 <= v < 1),
    "one of " + ", ".join(ADDERS): (str, lambda v: v in ADDERS),
}


def _setting(default, kind, help):
    return field(default=default, metadata={"kind": kind, "help": help})


@dataclass(frozen=True)
class TrainConfig:
    # the model
    adder: str = _setting("learned", "one of learned, exact", "learned: fully connected layers that must discover "
                          "addition; exact: P(sum=s) = P(digit=s-n), no weights")
    width: int = _setting(16, "a positive integer", "channels of the first convolution; later stages use 2x, 4x, 8x")
    hidden: int = _setting(128, "a positive integer", "width of the learned adder's two hidden layers")
    dropout: float = _setting(0.0, "a number from 0 to 1", "dropout before the CNN's last layer (0: none; "
                              "0.3 ties it on validation, see benchmarks/recipe.py)")
    # the data
    seed: int = _setting(0, "a non-negative integer", "fixes data order, random numbers, augmentation and weights")
    limit: int = _setting(None, "a positive integer", "train on the first N training images only (default: all)")
    validation: int = _setting(0, "a non-negative integer", "hold out the last N training images and score each "
                               "epoch on them; the test set is scored once, at the end (0: score epochs on test)")
    score_limit: int = _setting(None, "a positive integer", "score each epoch on the first N scoring images only "
                                "(default: all); the tests use it, so a tiny run is scored on a few hundred")
    held_out_pairs: tuple = field(default=(), metadata={
        "help": "(digit, number) pairs never shown in training, e.g. 0+1,1+4 (default: none)"})
    # the optimiser and its schedule
    epochs: int = _setting(18, "a positive integer", "passes over the training images")
    batch_size: int = _setting(256, "a positive integer", "images per optimiser step")
    lr: float = _setting(0.1, "a positive number", "peak learning rate of the one-cycle schedule")
    warmup_fraction: float = _setting(0.15, "a number from 0 to 1", "share of all steps spent rising to the peak rate")
    momentum_max: float = _setting(0.95, "a number from 0 to 1", "Nesterov momentum at the start and end of the cycle")
    momentum_min: float = _setting(0.85, "a number from 0 to 1", "momentum at the peak rate (one-cycle lowers it)")
    weight_decay: float = _setting(1e-3, "a non-negative number", "L2 penalty on every weight")
    adder_lr_scale: float = _setting(1.0, "a positive number", "the learned adder's rate as a multiple of the "
                                     "CNN's (3x scored lower on validation: benchmarks/README.md)")
    average_decay: float = _setting(0.0, "a number from 0 to 1", "decay of an exponential moving average of the "
                                    "weights, evaluated and saved instead of them (0: none; 0.99 did no better "
                                    "on validation: benchmarks/README.md)")
    # augmentation, per image, uniformly at random within these bounds
    rotate_degrees: float = _setting(10.0, "a non-negative number", "largest rotation, either way")
    zoom: float = _setting(0.1, "a number from 0 to 1", "largest zoom in or out, as a fraction")
    shift_px: float = _setting(2.0, "a non-negative number", "largest shift, in pixels, along each axis")

    def __post_init__(self):
        for f in fields(self):
            kind = f.metadata.get("kind")
            value = getattr(self, f.name)
            if kind and not (value is None and f.default is None) and not KINDS[kind][1](value):
                raise MnistSumError(f"{f.name} must be {kind}, got {value!r}")
        object.__setattr__(self, "held_out_pairs", _pairs(self.held_out_pairs))

    def model_options(self):
        """The settings SumNet is built from."""
        return {"adder": self.adder, "width": self.width, "hidden": self.hidden, "dropout": self.dropout}

    def to_dict(self):
        return asdict(self)

    def differences(self, other):
        """'name was A (now B)' for every setting in which `other` differs from this one."""
        return [f"{name} was {value!r} (now {getattr(other, name)!r})"
                for name, value in asdict(self).items() if getattr(other, name) != value]


def _pairs(pairs):
    """(digit, number) pairs as a tuple of int tuples, each value 0-9."""
    try:
        result = tuple((int(d), int(n)) for d, n in pairs)
    except (TypeError, ValueError):
        raise MnistSumError(f"held_out_pairs must be (digit, number) pairs, got {pairs!r}") from None
    if not all(0 <= v <= 9 for pair in result for v in pair):
        raise MnistSumError(f"held_out_pairs values must be from 0 to 9, got {pairs!r}")
    return result


def make_config(config=None, **settings):
    """`config` (default: the defaults) with some settings replaced; unknown names are refused."""
    if config is not None and not isinstance(config, TrainConfig):
        raise MnistSumError(f"config must be a TrainConfig, got {config!r}; pass settings as keywords, "
                            "e.g. train(epochs=5)")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise MnistSumError(f"unknown setting {unknown[0]!r}; the settings are: {', '.join(sorted(known))}")
    return replace(config or TrainConfig(), **settings)


def config_from_dict(saved):
    """The TrainConfig a checkpoint stored; settings this version does not know are refused."""
    return make_config(**saved)


# Named starting points for `python -m mnist_sum train --preset NAME`; any option given overrides them.
PRESETS = {
    "default": TrainConfig(),
    # 99% on both heads in seconds, for the impatient, the quick notebook and the tests: a network half as wide
    # (a quarter of the work per image), two epochs, no augmentation, smaller batches (more steps), and the adder
    # at 10x the CNN's rate, without which it learns to add too late. Chosen on validation over seeds 0-4, with a
    # margin for the test set (benchmarks/README.md, "The fast preset")
    "fast": TrainConfig(epochs=2, width=8, batch_size=128, adder_lr_scale=10.0,
                        rotate_degrees=0.0, zoom=0.0, shift_px=0.0),
}
