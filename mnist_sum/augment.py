"""Augmentation: every training image slightly rotated, zoomed and shifted, at random.

Handwriting varies like this while its label stays the same, so the network
learns to ignore such changes instead of memorising pixels.
"""

import math

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import BACKGROUND


def augment(images, generator, degrees=TrainConfig.rotate_degrees, zoom=TrainConfig.zoom,
            shift_px=TrainConfig.shift_px):
    """Random small rotation, zoom and shift per image, for the whole batch at
    once with one affine grid (handwriting varies like this; labels do not).

    torchvision.transforms.v2.RandomAffine does the same, but draws one set of
    parameters per call, so per image it means a Python loop: about 30x slower here.
    """
    n = images.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator).mul(2).sub(1)  # noqa: E731 uniform in [-1, 1]
    angle = rand(n) * math.radians(degrees)
    scale = 1 + rand(n) * zoom
    shift = rand(n, 2) * (shift_px / 14)  # grid coordinates run from -1 to 1 over 28 pixels
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with 0, so shift the background to 0 and back
    return F.grid_sample(images - BACKGROUND, grid, align_corners=False) + BACKGROUND
