"""The Zhang et al. ECCV16 network as torch modules; its plugin declaration (blocks as data,
variants, checks) is :mod:`colorbench.models.zhang`, whose docstring describes the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from colorbench.color import AB_SCALE
from colorbench.models.zhang import (
    ALL_BLOCKS,
    DEFAULT_UNITS,
    N_BINS,
    UNIT_NAMES,
    UPSAMPLE,
    block_specs,
    scale_factors,
)

# (input scale, output scale) per units option. eccv16.py normalises L as (L - 50)/100, i.e. half
# the harness's L/50 - 1, and multiplies its output by 110 (raw a*b*).
UNITS = {"normalised": (1.0, 1.0), "eccv16": (0.5, AB_SCALE)}
if tuple(UNITS) != UNIT_NAMES:
    raise ImportError("colorbench.models.zhang's UNIT_NAMES and the network's UNITS disagree")


def _block(c_in: int, spec: Mapping[str, Any]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for kind, c_out, k, stride, dilation in spec["layers"]:
        if kind == "deconv":
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=k, stride=stride, padding=1))
        else:
            layers.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=dilation, dilation=dilation))
        layers.append(nn.ReLU(True))
        c_in = c_out
    if spec["norm"]:
        layers.append(nn.BatchNorm2d(c_in))
    return nn.Sequential(*layers), c_in


class ZhangGenerator(nn.Module):
    """L (N, 1, H, W) in [-1, 1] -> ab (N, 2, H, W) in normalised units, or in raw a*b* with
    ``units="eccv16"`` (see module docstring). ``one_conv_fewer``: blocks that lose one 3x3 conv."""

    def __init__(
        self,
        blocks: Sequence[str] = ALL_BLOCKS,
        in_channels: int = 1,
        out_channels: int = 2,
        *,
        one_conv_fewer: Sequence[str] = (),
        units: str = DEFAULT_UNITS,
    ):
        super().__init__()
        if units not in UNITS:
            raise ValueError(f"unknown units {units!r}; units: {', '.join(UNITS)}")
        specs = block_specs(blocks, one_conv_fewer)
        down, up = scale_factors(blocks)
        if down != up * UPSAMPLE:
            # The x4 head upsampling must exactly undo what the blocks leave downsampled.
            raise ValueError(f"blocks {list(blocks)} downsample by {down} but the network restores {up * 4}")
        self.units = units
        self.input_scale, self.output_scale = UNITS[units]
        self.blocks = nn.ModuleDict()
        c = in_channels
        for name, spec in specs.items():
            self.blocks[name], c = _block(c, spec)
        self.to_bins = nn.Conv2d(c, N_BINS, kernel_size=1)
        self.to_ab = nn.Conv2d(N_BINS, out_channels, kernel_size=1, bias=False)

    def extra_repr(self) -> str:
        return f"units={self.units!r}"

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x = L * self.input_scale if self.input_scale != 1.0 else L
        for block in self.blocks.values():
            x = block(x)
        ab = self.to_ab(torch.softmax(self.to_bins(x), dim=1))
        # Same as Upsample(scale_factor=4) when the size is divisible (the check ensures it), but
        # written as the input's size so the output can never be off by a pixel.
        ab = F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
        return ab * self.output_scale if self.output_scale != 1.0 else ab


def create_zhang(config: Mapping[str, Any], units: str = DEFAULT_UNITS) -> ZhangGenerator:
    """The one factory: build the network from a variant's config and the units option."""
    return ZhangGenerator(config["blocks"], one_conv_fewer=config.get("one_conv_fewer", ()), units=units)
