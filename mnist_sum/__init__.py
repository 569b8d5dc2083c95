"""mnist_sum: read an MNIST digit and add a random number 0-9 to it, with one network.

The lesson, in reading order: `data` (the dataset, its batches, augmentation),
`model` (SumNet: the CNN and both adders), `training` (the loss, the step, the
loop) and `evaluation`; `config` holds every setting. `predict` reads your own
images. The figures are `plots` and `diagrams`; `cli` and `demo` are the ways in.
`machinery/` holds what a real run needs and a lesson does not: checkpoint files,
downloads, devices and precision, progress bars and signals.
"""

from .config import TrainConfig
from .data import MNISTRandomNumber
from .evaluation import evaluate
from .machinery import MnistSumError
from .machinery.checkpoint import SHIPPED, load_model, save_checkpoint
from .machinery.download import ensure_mnist
from .model import SumNet
from .predict import predict
from .training import train, train_step

__all__ = ["SHIPPED", "MNISTRandomNumber", "MnistSumError", "SumNet", "TrainConfig", "ensure_mnist", "evaluate",
           "load_model", "predict", "save_checkpoint", "train", "train_step"]
