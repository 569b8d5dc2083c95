"""Where the network runs, in which precision, and how a long run reports and stops.

Reading order: the device (cuda, else mps, else cpu); the precision that is fast
and safe on it; progress bars that leave one line per epoch in a notebook; a
clean stop on Ctrl-C or SIGTERM at a step boundary; and whether the demo's port is free.
"""

import signal
import socket
import sys
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path

import torch
from tqdm import tqdm

from . import MnistSumError

DEVICES = ("auto", "cpu", "cuda", "mps")

# ---------------------------------------------------------------- the device


def _mps_available():
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name="auto"):
    """cuda, else mps, else cpu; or exactly the device asked for."""
    if isinstance(name, torch.device):
        return name
    if name not in DEVICES:
        raise MnistSumError(f"device must be auto, cpu, cuda or mps, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MnistSumError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if name == "mps" and not _mps_available():
        raise MnistSumError("--device mps was asked for but MPS is not available; use --device auto or cpu")
    return torch.device(name)


def model_device(model):
    """The device a model's weights live on: evaluation and prediction follow it."""
    return next(model.parameters()).device


# ---------------------------------------------------------------- the precision of training


@cache
def _cpu_has_fast_bf16():
    """bf16 pays off on CPUs with AMX or AVX512-BF16; elsewhere it is slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device):
    """The reduced precision that is fast and safe for training on this device, or None for float32.

    - CUDA, compute capability 8.0 or newer (A100, L4, H100): bfloat16, native in
      the tensor cores, with float32's range, so no loss scaling.
    - CUDA 7.x and 6.0 (Colab's free T4, V100, P100): float16 with a gradient
      scaler. `torch.cuda.is_bf16_supported()` says True on a T4 too, but only
      through emulation: cuDNN has no fast bfloat16 convolutions there.
    - Other GPUs (6.1 and older consumer cards have slow float16) and most CPUs: float32.
    Evaluation always runs in float32, so the reported accuracy is the model's own.
    """
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        if capability >= (8, 0):
            return torch.bfloat16
        if capability >= (7, 0) or capability == (6, 0):
            return torch.float16
        return None
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return torch.bfloat16
    return None


class Precision:
    """Mixed precision for a training step: an autocast context, and a gradient
    scaler that matters only under float16, where small gradients would round to 0."""

    def __init__(self, device_type, dtype=None):
        self.device_type, self.dtype = device_type, dtype  # dtype None: plain float32
        self.scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)

    @classmethod
    def for_device(cls, device):
        return cls(device.type, autocast_dtype(device))

    def autocast(self):
        return nullcontext() if self.dtype is None else torch.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss, optimizer):
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def __str__(self):
        return str(self.dtype or torch.float32).replace("torch.", "")


def channels_last(x):
    # convolutions run faster on NHWC on both oneDNN (CPU) and cuDNN (GPU)
    return x.contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- progress


def _in_notebook():
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules


class _DisplayLine:
    """A file-like object for tqdm: each frame replaces the previous one in a single notebook display.
    tqdm's own text bar would store every frame in the saved notebook, and its widget stores widget state."""

    def __init__(self):
        from IPython.display import display

        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text):
        self._handle.update({"text/plain": text.strip("\r\n ")}, raw=True)

    def flush(self):
        pass


def bar_output():
    """Where a run's progress bars go: one self-updating display in a notebook, else stderr."""
    return _DisplayLine() if _in_notebook() else sys.stderr


def progress_bar(iterable, total, desc, output):
    """tqdm over `iterable`, drawn into `output` (from `bar_output`); no bar where `output` is None."""
    return tqdm(iterable, total=total, desc=desc, disable=output is None, leave=False, mininterval=0.5, file=output)


# ---------------------------------------------------------------- stopping cleanly


class TrainingInterrupted(MnistSumError):
    """Ctrl-C or SIGTERM: the last finished epoch is saved and can be resumed."""


class StopRequest:
    """The first signal only asks: training stops at the next step boundary, so no
    step or checkpoint is cut in half. A second signal stops at once."""

    def __init__(self):
        self.requested = False

    def _on_signal(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def stop_on_signals():
    """A StopRequest that SIGINT and SIGTERM (a closed Colab tab, `kill`) set for the length of the block."""
    stop = StopRequest()
    try:
        previous = {signum: signal.signal(signum, stop._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals cannot be caught here, Ctrl-C acts as usual
        yield stop
        return
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ---------------------------------------------------------------- the demo's port


def check_port_free(host, port):
    """One line naming the port, before a server (or the seconds of importing Gradio) starts."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise MnistSumError(f"port {port} on {host} is in use; pick another with --port") from None
