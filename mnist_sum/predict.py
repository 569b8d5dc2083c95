"""Predict from a photo or scan: turn any image into an MNIST-like digit first.

MNIST digits are light ink on black, the ink fitted into a 20x20 box that
keeps its aspect ratio, then placed in a 28x28 frame so that its centre of
mass is the frame's centre. A network trained on them only works on inputs
made the same way, so `to_mnist` repeats those steps.
"""

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import check_number, normalise, one_hot
from .evaluation import eval_mode
from .machinery import MnistSumError
from .machinery.runtime import model_device

MAX_PIXELS = 40_000_000  # larger images are refused before decoding: 40 MP is a big photo already
WORK_SIZE = 512  # big images are shrunk to this first; a digit needs no more detail
INK_THRESHOLD = 0.2  # ink differs from the paper by at least 20% of full scale
NOISE_FLOOR = 0.08  # smaller differences are paper texture or JPEG noise


def open_image(path):
    """Open an image file as 8-bit grayscale, with clear errors for everything that is not one."""
    path = Path(path)
    if not path.exists():
        raise MnistSumError(f"image {path} not found")
    if path.is_dir():
        raise MnistSumError(f"image {path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise MnistSumError(f"image {path} is an empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise MnistSumError(
                    f"image {path} is {image.width}x{image.height} pixels, more than {MAX_PIXELS:,}; "
                    "crop or shrink it to the digit")
            image.draft("L", (WORK_SIZE, WORK_SIZE))  # JPEGs decode straight to a smaller size
            image.load()
    except MnistSumError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MnistSumError(
            f"image {path} is too large: more than {MAX_PIXELS:,} pixels; crop or shrink it to the digit") from None
    except UnidentifiedImageError:
        raise MnistSumError(f"{path} is not an image PIL can read (use PNG or JPEG)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MnistSumError(f"image {path} is damaged or truncated ({e})") from None
    return to_grayscale(image)


def to_grayscale(image):
    """8-bit grayscale; transparent areas become the background, whatever its colour."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        gray = rgba.convert("L")
        opaque = _pixels(alpha) > 0.5
        if opaque.any() and not opaque.all():
            ink_is_dark = _pixels(gray)[opaque].mean() < 0.5
            background = Image.new("L", gray.size, 255 if ink_is_dark else 0)
            return Image.composite(gray, background, alpha)
        return gray
    return image.convert("L")


def _pixels(image):
    """An 8-bit PIL image as a float tensor [H, W] in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)


def to_mnist(image):
    """Grayscale PIL image -> float tensor [28, 28] in [0, 1], light ink on black, MNIST-style."""
    image = image.copy()
    image.thumbnail((WORK_SIZE, WORK_SIZE))
    pixels = _pixels(image)
    border = torch.cat([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = border.median()
    ink = (pixels - background).abs()  # polarity no longer matters: ink is what differs from the paper
    if ink.max() < INK_THRESHOLD:
        raise MnistSumError("no ink found in the image: it is blank or has too little contrast")
    # soft edges stay soft, as in MNIST's anti-aliased strokes; only the noise goes
    ink = ((ink - NOISE_FLOOR) / (ink.max() - NOISE_FLOOR)).clamp(0, 1)

    rows, cols = torch.nonzero(ink >= INK_THRESHOLD, as_tuple=True)
    crop = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    height, width = crop.shape
    scale = 20 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    crop_image = Image.fromarray((crop * 255).round().to(torch.uint8).numpy())
    fitted = _pixels(crop_image.resize(size, Image.LANCZOS))

    frame = torch.zeros(28, 28)
    total = fitted.sum().clamp_min(1e-6)
    ys, xs = torch.meshgrid(torch.arange(size[1]), torch.arange(size[0]), indexing="ij")
    centre_y, centre_x = (ys * fitted).sum() / total, (xs * fitted).sum() / total
    top = int(round(14 - centre_y.item()))
    left = int(round(14 - centre_x.item()))
    top, left = min(max(top, 0), 28 - size[1]), min(max(left, 0), 28 - size[0])
    frame[top: top + size[1], left: left + size[0]] = fitted
    return frame


def read_digit(image):
    """Any image (a path or a PIL image) as the 28x28 digit the network receives, in [0, 1].
    `predict` and the demo both call this: one preprocessing for every way in."""
    gray = open_image(image) if isinstance(image, (str, Path)) else to_grayscale(image)
    return to_mnist(gray)


@torch.no_grad()
def predict(model, image, number, device=None):
    """The digit in `image` (a path, a PIL image, or a 28x28 tensor from `read_digit`) and its sum
    with `number`, with probabilities. Runs on the model's device unless told otherwise, and
    leaves the model in the mode it was in."""
    check_number(number)
    digit_image = image if isinstance(image, torch.Tensor) else read_digit(image)
    if digit_image.shape != (28, 28) or not 0 <= digit_image.min() <= digit_image.max() <= 1:
        raise MnistSumError("a digit tensor must be 28x28 with values from 0 to 1, as read_digit returns")
    device = model_device(model) if device is None else device
    images = normalise((digit_image * 255).round().to(torch.uint8)[None]).to(device)
    numbers = one_hot(torch.tensor([number], device=device))
    with eval_mode(model):
        digit_log_probs, sum_log_probs = model(images, numbers)
    digit_probs, sum_probs = digit_log_probs[0].exp().cpu(), sum_log_probs[0].exp().cpu()
    digit, total = int(digit_probs.argmax()), int(sum_probs.argmax())
    return {
        "digit": digit, "digit_probability": float(digit_probs[digit]),
        "number": number,
        "sum": total, "sum_probability": float(sum_probs[total]),
        "digit_probabilities": digit_probs.tolist(),
        "sum_probabilities": sum_probs.tolist(),
    }
