"""The network: two stride-2 convolutions down, two transposed convolutions up, Tanh to ab."""

from __future__ import annotations

import torch
from torch import nn


class TinyColorizer(nn.Module):
    """L (N, 1, H, W) in [-1, 1] -> ab (N, 2, H, W) in [-1, 1], colorbench's units (ab/110)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, 2, 4, 2, 1),
            nn.Tanh(),  # normalised ab, never raw a*b* (x110)
        )

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.net(L)
