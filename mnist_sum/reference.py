"""The reference network this exercise started from, rebuilt from its README,
so that the notebook and `benchmarks/speed.py` can time it beside SumNet on
the same machine. It is never trained here.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReferenceNet(nn.Module):
    """The reference network as its README describes it: seven convolutions
    (1-32-64, pool, 64-128-256, pool, 256-512-1024 unpadded, 1024-10 to 1x1)
    and fully connected 20-50-100-19 over [digit probs, one-hot number]."""

    def __init__(self):
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), relu(), nn.Conv2d(32, 64, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), relu(), nn.Conv2d(128, 256, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(256, 512, 3), relu(), nn.Conv2d(512, 1024, 3), relu(), nn.Conv2d(1024, 10, 3),
        )
        self.fc = nn.Sequential(nn.Linear(20, 50), relu(), nn.Linear(50, 100), relu(), nn.Linear(100, 19))

    def forward(self, images, numbers_onehot):
        digit_log_probs = F.log_softmax(self.convs(images).flatten(1).float(), dim=1)
        features = torch.cat([digit_log_probs.exp(), numbers_onehot], dim=1)
        return digit_log_probs, F.log_softmax(self.fc(features).float(), dim=1)
