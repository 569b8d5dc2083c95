"""mnist_sum: read an MNIST digit and add a random number 0-9 to it, with one network."""

from .checkpoint import load_model, save_checkpoint
from .data import MNISTRandomNumber, ensure_mnist
from .errors import MnistSumError
from .model import SumNet
from .predict import predict
from .training import evaluate, train

__all__ = ["MNISTRandomNumber", "MnistSumError", "SumNet", "ensure_mnist", "evaluate",
           "load_model", "predict", "save_checkpoint", "train"]
