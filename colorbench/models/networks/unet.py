"""The pix2pix U-Net as torch modules; its plugin declaration (variants, checks) is
:mod:`colorbench.models.unet`, whose docstring describes the layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from colorbench.models.unet import DEFAULT_CONFIG

DROPOUT = 0.5
LEAKY_SLOPE = 0.2
MAX_WIDTH_MULT = 8  # widths stop growing at 8 * num_filters = 512


class UnetBlock(nn.Module):
    """One level of the U-Net: down step, the inner submodule, up step, then concat with the input.

    ``outer`` is the channel count this block receives and returns (before the concat), ``inner``
    the channel count of its down convolution, as in pix2pix's ``UnetSkipConnectionBlock``.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        submodule: nn.Module | None = None,
        *,
        in_channels: int | None = None,
        outermost: bool = False,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        innermost = submodule is None
        in_channels = outer if in_channels is None else in_channels
        # No bias before BatchNorm: it would be cancelled by the norm's mean subtraction.
        down_conv = nn.Conv2d(in_channels, inner, kernel_size=4, stride=2, padding=1, bias=False)
        # The innermost block's output is not concatenated with anything, so its up-conv sees
        # ``inner`` channels; every other up-conv sees its submodule's output concatenated (2x).
        up_in = inner if innermost else inner * 2
        if outermost:
            down = [down_conv]
            up = [
                nn.ReLU(True),
                nn.ConvTranspose2d(up_in, outer, kernel_size=4, stride=2, padding=1),
                nn.Tanh(),
            ]
        elif innermost:
            down = [nn.LeakyReLU(LEAKY_SLOPE, True), down_conv]
            up = [
                nn.ReLU(True),
                nn.ConvTranspose2d(up_in, outer, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(outer),
            ]
        else:
            down = [nn.LeakyReLU(LEAKY_SLOPE, True), down_conv, nn.BatchNorm2d(inner)]
            up = [
                nn.ReLU(True),
                nn.ConvTranspose2d(up_in, outer, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(outer),
            ]
            if dropout:
                up.append(nn.Dropout(DROPOUT))
        middle = [] if submodule is None else [submodule]
        self.model = nn.Sequential(*down, *middle, *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


class UnetGenerator(nn.Module):
    """L (N, in_channels, H, W) in [-1, 1] -> ab (N, out_channels, H, W) in [-1, 1] (Tanh)."""

    def __init__(self, n_down: int = 8, num_filters: int = 64, in_channels: int = 1, out_channels: int = 2):
        super().__init__()
        if n_down < 2:
            raise ValueError(f"n_down must be at least 2 (an outermost and an innermost block), got {n_down}")
        self.n_down = n_down
        widths = [num_filters * min(2**i, MAX_WIDTH_MULT) for i in range(n_down)]
        # Built from the bottleneck outwards, as pix2pix does; block i has inner width widths[i].
        block = UnetBlock(widths[-2], widths[-1])
        for i in range(n_down - 2, 0, -1):
            # pix2pix puts dropout on the innermost-but-one 512-channel blocks: levels 4 .. n_down-2.
            block = UnetBlock(widths[i - 1], widths[i], block, dropout=i >= 4)
        self.model = UnetBlock(out_channels, widths[0], block, in_channels=in_channels, outermost=True)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.model(L)


def create_unet(config: Mapping[str, Any]) -> UnetGenerator:
    """The one factory: build a U-Net from a variant's config."""
    cfg = {**DEFAULT_CONFIG, **config}
    return UnetGenerator(cfg["n_down"], cfg["num_filters"], cfg["in_channels"], cfg["out_channels"])
