"""The grey baseline as a torch module; its plugin declaration is :mod:`colorbench.models.gray`."""

from __future__ import annotations

import torch
from torch import nn


class GrayBaseline(nn.Module):
    """L (N, 1, H, W) -> ab (N, 2, H, W) of zeros, same dtype and device as the input."""

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        n, _, h, w = L.shape
        return L.new_zeros((n, 2, h, w))
