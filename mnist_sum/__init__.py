"""mnist_sum: read an MNIST digit and add a random number 0-9 to it, with one network.

Reading order, each module one idea and importing only the ones before it:
errors, atomic (small utilities); config (every setting); download (MNIST onto
disk); data (the dataset); model (SumNet); reference (the network we started
from, for timing); device (device and precision); evaluation; checkpoint;
progress, stopping (around the loop); augment, averaging; training; predict;
demo (the drawing page, optional); diagrams, plots (figures); cli.
"""

from .checkpoint import load_model, save_checkpoint
from .config import TrainConfig
from .data import MNISTRandomNumber
from .download import ensure_mnist
from .errors import MnistSumError
from .evaluation import evaluate
from .model import SumNet
from .predict import predict
from .training import train

__all__ = ["MNISTRandomNumber", "MnistSumError", "SumNet", "TrainConfig", "ensure_mnist", "evaluate",
           "load_model", "predict", "save_checkpoint", "train"]
