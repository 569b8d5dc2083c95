"""Where the network runs and in which precision.

Reading order: the device (cuda, else mps, else cpu), the precision that is
fast *and* safe on it, and the memory layout convolutions like best.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from .errors import MnistSumError

DEVICES = ("auto", "cpu", "cuda", "mps")


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


@cache
def _cpu_has_fast_bf16():
    """bf16 pays off on CPUs with AMX or AVX512-BF16; elsewhere it is slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device):
    """The reduced precision that is fast and safe on this device, or None for float32.

    - CUDA, compute capability 8.0 or newer (A100, L4, H100, RTX 30xx on): bfloat16,
      native in the tensor cores, with float32's range, so no loss scaling.
    - CUDA 7.x and 6.0 (T4 on Colab's free tier, V100, P100): float16 with a
      gradient scaler. `torch.cuda.is_bf16_supported()` says True on a T4 too,
      but only through emulation: cuDNN has no fast bfloat16 convolutions there.
    - Other GPUs (6.1 and older consumer cards have slow float16) and most CPUs: float32.
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


@dataclass(frozen=True)
class Precision:
    """The precision chosen for one device: an autocast context and a matching gradient scaler."""

    device_type: str
    dtype: torch.dtype = None  # None: plain float32

    @classmethod
    def for_device(cls, device):
        return cls(device.type, autocast_dtype(device))

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self):
        """float16 needs its loss scaled so small gradients do not round to 0; the others pass through."""
        return torch.amp.GradScaler(self.device_type, enabled=self.dtype == torch.float16)

    def __str__(self):
        return str(self.dtype or torch.float32).replace("torch.", "")


def channels_last(x):
    # convolutions run faster on NHWC on both oneDNN (CPU) and cuDNN (GPU)
    return x.contiguous(memory_format=torch.channels_last)
