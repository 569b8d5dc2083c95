"""Predict from your own image: make it look like an MNIST digit first.

MNIST digits are light ink on black, fitted into a 20x20 box that keeps their
aspect ratio, then placed in a 28x28 frame with their centre of mass at its
centre. A network trained on them works on inputs made the same way, so
`to_mnist` repeats those steps for a scan, a photo or a drawing.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .data import normalise, one_hot
from .evaluation import eval_mode

Image.MAX_IMAGE_PIXELS = 40_000_000  # a bigger file is refused before it is decoded
INK = 0.2  # ink differs from the paper by at least this much (pixels in [0, 1])
NOISE = 0.08  # smaller differences are paper texture or JPEG noise


def pixels(image):
    """An 8-bit grayscale PIL image as a float tensor [H, W] in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)


def open_image(path):
    """An image file as 8-bit grayscale; transparent areas become the paper, whatever its colour."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"image {path} not found")
    try:
        image = Image.open(path)
        image.draft("L", (512, 512))  # a JPEG decodes straight to a smaller size
        image = ImageOps.exif_transpose(image)  # a phone's photo, upright
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image {path} ({e})") from None
    return to_grayscale(image)


def to_grayscale(image):
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        gray, opaque = rgba.convert("L"), pixels(rgba.getchannel("A")) > 0.5
        if opaque.any() and not opaque.all():
            dark_ink = pixels(gray)[opaque].mean() < 0.5
            paper = Image.new("L", gray.size, 255 if dark_ink else 0)
            return Image.composite(gray, paper, rgba.getchannel("A"))
        return gray
    return image.convert("L")


def to_mnist(image):
    """Grayscale PIL image -> float tensor [28, 28] in [0, 1], light ink on black, MNIST-style."""
    image = image.copy()
    image.thumbnail((512, 512))
    page = pixels(image)
    paper = torch.cat([page[0], page[-1], page[:, 0], page[:, -1]]).median()  # the border is paper
    ink = (page - paper).abs()  # dark ink on light paper or light on dark: ink is what differs
    if ink.max() < INK:
        raise ValueError("no digit found in the image: it is blank or has too little contrast")
    ink = ((ink - NOISE) / (ink.max() - NOISE)).clamp(0, 1)  # soft edges stay soft, as in MNIST

    rows, cols = torch.nonzero(ink >= INK, as_tuple=True)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(crop.shape)
    width, height = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    small = Image.fromarray((crop * 255).round().byte().numpy()).resize((width, height), Image.LANCZOS)
    fitted = pixels(small)

    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    mass = fitted.sum().clamp_min(1e-6)
    top = min(max(round(14 - ((ys * fitted).sum() / mass).item()), 0), 28 - height)
    left = min(max(round(14 - ((xs * fitted).sum() / mass).item()), 0), 28 - width)
    frame = torch.zeros(28, 28)
    frame[top:top + height, left:left + width] = fitted
    return frame


def read_digit(image):
    """A path or a PIL image -> the 28x28 digit in [0, 1] that the network receives."""
    return to_mnist(open_image(image) if isinstance(image, (str, Path)) else to_grayscale(image))


@torch.no_grad()
def predict(model, image, number):
    """The digit in `image` (a path, a PIL image, or a 28x28 tensor in [0, 1]) and its sum with
    `number`, with the probabilities of both answers."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 9:
        raise ValueError(f"number must be an integer from 0 to 9, got {number!r}")
    digit_image = image if isinstance(image, torch.Tensor) else read_digit(image)
    with eval_mode(model) as device:
        images = normalise((digit_image * 255).round().byte()[None]).to(device)
        digit_log_probs, sum_log_probs = model(images, one_hot(torch.tensor([number], device=device)))
    digit_probs, sum_probs = digit_log_probs[0].exp().cpu(), sum_log_probs[0].exp().cpu()
    digit, total = int(digit_probs.argmax()), int(sum_probs.argmax())
    return {"digit": digit, "digit_probability": float(digit_probs[digit]), "number": number,
            "sum": total, "sum_probability": float(sum_probs[total]),
            "digit_probabilities": digit_probs.tolist(), "sum_probabilities": sum_probs.tolist()}
