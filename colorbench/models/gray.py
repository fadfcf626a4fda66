"""Grey baseline: predicts ab = 0 everywhere (the image left grey).

The usual lower reference of the field (Zhang et al. 2016 report AuC against it). It has no
parameters and is never trained (``trainable=False``); reports show it beside every model.
"""

from __future__ import annotations

import torch
from torch import nn

from colorbench.models.contract import GeneratorPlugin, Variant

VARIANTS = {"zero": Variant(config={"ab": 0.0}, label="ab = 0")}


class GrayBaseline(nn.Module):
    """L (N, 1, H, W) -> ab (N, 2, H, W) of zeros, same dtype and device as the input."""

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        n, _, h, w = L.shape
        return L.new_zeros((n, 2, h, w))


def _build(variant: str, image_size: int) -> nn.Module:
    return GrayBaseline()


def _check(variant: str, image_size: int) -> str | None:
    return None  # runs at any size


PLUGIN = GeneratorPlugin(
    name="gray",
    description="grey baseline predicting ab = 0, the lower reference of Zhang et al. (ECCV 2016)",
    variants=VARIANTS,
    default_variant="zero",
    build=_build,
    check=_check,
    trainable=False,
)
