"""mnist_sum: read an MNIST digit and add a number 0-9 to it, with one network.

The lesson, in reading order: `data`, `model`, `training`, `evaluation`.
`predict` reads your own images; `plots` draws; `cli` and `demo` are the ways in.
"""

from .data import MNISTPairs, MNISTRandomNumber
from .evaluation import evaluate
from .model import SHIPPED, PairSumNet, SumNet, load_model, save_model
from .predict import predict
from .training import Config, train, train_step

__all__ = ["SHIPPED", "Config", "MNISTPairs", "MNISTRandomNumber", "PairSumNet", "SumNet", "evaluate", "load_model",
           "predict", "save_model", "train", "train_step"]
