"""Checkpoint files: the weights, the settings, the metrics and the library versions in one file.

Written atomically (a temporary file, then a rename), so a crash mid-write leaves
the previous checkpoint whole. Read with `weights_only=True`, so a file that
carries pickled Python objects is refused instead of run. When no checkpoint is
named, `resolve` picks yours (`checkpoints/sumnet.pt`) if there is one, else the
trained weights that ship inside the package.
"""

import pickle
import platform
import sys
import warnings
from pathlib import Path

import torch

from ..model import SumNet
from . import MnistSumError, atomic_path

FORMAT = "mnist-sum-checkpoint/4"  # 4: the weight average is torch's AveragedModel
DEFAULT_OUT = "checkpoints/sumnet.pt"
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "sumnet.pt"  # made by scripts/make_weights.py

# ---------------------------------------------------------------- writing

def library_versions():
    import torchvision  # only its version is needed here

    return {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__)}


def save_checkpoint(path, model, metrics=None, train_config=None, training_state=None):
    """Everything needed to rebuild the model; `train_config` (the settings, a dict)
    and `training_state` add what `--resume` needs."""
    path = Path(path)
    if path.is_dir():
        raise MnistSumError(f"checkpoint path {path} is a folder; give a file name such as {path / 'sumnet.pt'}")
    checkpoint = {"format": FORMAT, "config": model.config, "state_dict": model.state_dict(),
                  "metrics": metrics or {}, "train_config": train_config, "versions": library_versions(),
                  "training_state": training_state}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(checkpoint, f)
    except OSError as e:  # unwritable folder, full disk: the previous checkpoint is untouched
        raise MnistSumError(f"cannot write checkpoint {path} ({e.strerror or e}); "
                            "choose a writable --out with free space") from None


# ---------------------------------------------------------------- reading


def read_checkpoint(path):
    """The checkpoint's dictionary, or one MnistSumError that names the problem."""
    path = Path(path)
    if not path.exists():
        raise MnistSumError(f"checkpoint {path} not found; train one with: python -m mnist_sum train --out {path}")
    if path.is_dir():
        raise MnistSumError(f"checkpoint {path} is a folder, not a file")
    if path.stat().st_size == 0:
        raise MnistSumError(f"checkpoint {path} is empty; train again or pick another file")
    try:
        with warnings.catch_warnings():  # garbage can claim an odd pickle protocol; the error below says enough
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # on random bytes the unpickler raises whatever its opcodes trip on (IndexError, ...)
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in str(e):  # torch refused a class or function
            raise MnistSumError(
                f"refusing checkpoint {path}: it carries pickled Python objects that could run code; "
                "load only checkpoints written by mnist_sum") from None
        reason = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise MnistSumError(f"checkpoint {path} is truncated or not a PyTorch file ({reason}); "
                            "train again or pick another file") from None
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if isinstance(found, str) and found.startswith("mnist-sum-checkpoint/") and found != FORMAT:
        raise MnistSumError(f"{path} was written by another version of mnist_sum (format {found}, this one reads "
                            f"{FORMAT}); train a new one with: python -m mnist_sum train --out {path}")
    if found != FORMAT:
        raise MnistSumError(f"{path} is not a mnist_sum checkpoint (expected format {FORMAT})")
    return checkpoint


def model_from_checkpoint(checkpoint, path="checkpoint"):
    """The SumNet a checkpoint describes, with its weights; a foreign architecture gets one clear error."""
    config = checkpoint.get("config")
    try:
        model = SumNet(**config)
        model.load_state_dict(checkpoint["state_dict"])
    except MnistSumError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise MnistSumError(
            f"checkpoint {path} does not match the SumNet architecture of this mnist_sum "
            f"(config {config!r}: {str(e).splitlines()[0][:120]})") from None
    return model


def resolve(path=None, say=True):
    """The checkpoint to use: `path` if given; else yours at checkpoints/sumnet.pt if it exists;
    else the weights shipped with the package. When it picks, it says which on stderr."""
    if path is not None:
        return Path(path)
    if Path(DEFAULT_OUT).is_file():
        chosen, said = Path(DEFAULT_OUT), f"{DEFAULT_OUT} (your trained model)"
    else:  # named inside the package: the install folder is the machine's business, not the reader's
        chosen, said = SHIPPED, (f"{SHIPPED.relative_to(SHIPPED.parents[2]).as_posix()}, the trained weights shipped "
                                 "with mnist_sum (train your own with: python -m mnist_sum train)")
    if say:
        print(f"mnist_sum: using {said}", file=sys.stderr)
    return chosen


def load_model_and_checkpoint(path=None, device="cpu"):
    """(model in eval mode on `device`, the checkpoint's dictionary), reading the file once."""
    path = resolve(path)
    checkpoint = read_checkpoint(path)
    # channels-last weights, as in training: the convolutions then run about twice as fast in evaluation too
    model = model_from_checkpoint(checkpoint, path).to(device, memory_format=torch.channels_last)
    return model.eval(), checkpoint


def load_model(path=None, device="cpu"):
    """A ready SumNet from a checkpoint, in eval mode, on `device`.
    With no path: yours at checkpoints/sumnet.pt if there is one, else the shipped weights."""
    return load_model_and_checkpoint(path, device)[0]
