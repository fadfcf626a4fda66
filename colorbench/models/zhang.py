"""Zhang et al. ECCV16 colorization network ("Colorful Image Colorization", ECCV 2016), adapted as
a GAN generator whose output is in colorbench's normalised units.

Blocks as in the authors' PyTorch port (``eccv16.py``): 3x3 convolutions with bias and ReLU, and a
BatchNorm at the end of every block except conv8:

===== ============================================ =========
block layers                                       stride
===== ============================================ =========
conv1 1->64, 64->64                                 2 (last)
conv2 ->128, 128->128                               2 (last)
conv3 ->256, 256->256, 256->256                     2 (last)
conv4 ->512, 512->512, 512->512                     1
conv5 512->512 x3, dilation 2                       1
conv6 512->512 x3, dilation 2                       1
conv7 512->512 x3                                   1
conv8 ConvTranspose ->256 k4 s2, 256->256 x2        x2 (up)
===== ============================================ =========

Head: 1x1 conv to 313 colour bins (with bias; the end of conv8 in the original, kept in every
variant so the head exists whatever blocks are removed), softmax over the bins, 1x1 conv 313->2
without bias, bilinear upsampling x4 back to the input's H, W.

Differences from the original, on purpose:

- Output: the original multiplies by 110 to give raw a*b*; here the 313->2 projection's output
  *is* the prediction in normalised units (``ab / AB_SCALE``), so that L1 losses are comparable
  with every other generator (the study mixed the two units: its Zhang "Loss G L1" ~ 483).
  Since the softmax weights sum to 1, the output is a convex combination of that projection's
  313 columns, bounded by their largest absolute value.
- Input: L is taken in the harness's normalised units (``L/50 - 1``) rather than ``(L-50)/100``;
  the two differ by a factor 2 that the first convolution absorbs.
- Variants remove blocks and adapt the rest minimally; the input channel count of a block
  follows whatever precedes it. See ``docs/models.md`` for the exact contents of each variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from colorbench.models.contract import GeneratorPlugin, Variant

N_BINS = 313  # quantised in-gamut a*b* bins (grid 10) of Zhang et al.
UPSAMPLE = 4


# Each block as data: layers of (kind, out_channels, kernel, stride, dilation), and whether a
# BatchNorm ends it. "deconv" is a transposed convolution (k4 s2 p1 doubles the size).
def _conv(out: int, stride: int = 1, dilation: int = 1) -> tuple:
    return ("conv", out, 3, stride, dilation)


BLOCKS: dict[str, dict[str, Any]] = {
    "conv1": {"layers": [_conv(64), _conv(64, stride=2)], "norm": True},
    "conv2": {"layers": [_conv(128), _conv(128, stride=2)], "norm": True},
    "conv3": {"layers": [_conv(256), _conv(256), _conv(256, stride=2)], "norm": True},
    "conv4": {"layers": [_conv(512)] * 3, "norm": True},
    "conv5": {"layers": [_conv(512, dilation=2)] * 3, "norm": True},
    "conv6": {"layers": [_conv(512, dilation=2)] * 3, "norm": True},
    "conv7": {"layers": [_conv(512)] * 3, "norm": True},
    "conv8": {"layers": [("deconv", 256, 4, 2, 1), _conv(256), _conv(256)], "norm": False},
}
ALL_BLOCKS = tuple(BLOCKS)

VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"blocks": list(ALL_BLOCKS)},
    # The study's default: conv5, conv6, conv7 removed; conv4's 512 channels feed conv8 directly.
    "no_conv5_7": {"blocks": ["conv1", "conv2", "conv3", "conv4", "conv8"]},
    # The study's "removal 348": conv3, conv4, conv8 removed as well. Dropping conv3 (one /2) and
    # conv8 (one x2) keeps the strides consistent; the 313-bin head then reads conv2's 128 channels.
    "removal_348": {"blocks": ["conv1", "conv2"]},
}
DEFAULT_VARIANT = "no_conv5_7"
LABELS = {"full": "full layers", "no_conv5_7": "conv5-7 removed", "removal_348": "removal 348"}
# The depth axis of the study's layers factor: fewest blocks first.
DEPTHS = {"removal_348": 1, "no_conv5_7": 2, "full": 3}


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


def scale_factors(blocks: Sequence[str]) -> tuple[int, int]:
    """(downsampling, upsampling inside the network) of a block list, from the data above."""
    down = up = 1
    for name in blocks:
        for kind, _, _, stride, _ in BLOCKS[name]["layers"]:
            if kind == "deconv":
                up *= stride
            else:
                down *= stride
    return down, up


class ZhangGenerator(nn.Module):
    """L (N, 1, H, W) in [-1, 1] -> ab (N, 2, H, W) in normalised units (see module docstring)."""

    def __init__(self, blocks: Sequence[str] = ALL_BLOCKS, in_channels: int = 1, out_channels: int = 2):
        super().__init__()
        unknown = [b for b in blocks if b not in BLOCKS]
        if unknown:
            raise ValueError(f"unknown Zhang blocks {unknown}; blocks: {', '.join(BLOCKS)}")
        down, up = scale_factors(blocks)
        if down != up * UPSAMPLE:
            # The x4 head upsampling must exactly undo what the blocks leave downsampled.
            raise ValueError(f"blocks {list(blocks)} downsample by {down} but the network restores {up * 4}")
        self.blocks = nn.ModuleDict()
        c = in_channels
        for name in blocks:
            self.blocks[name], c = _block(c, BLOCKS[name])
        self.to_bins = nn.Conv2d(c, N_BINS, kernel_size=1)
        self.to_ab = nn.Conv2d(N_BINS, out_channels, kernel_size=1, bias=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x = L
        for block in self.blocks.values():
            x = block(x)
        ab = self.to_ab(torch.softmax(self.to_bins(x), dim=1))
        # Same as Upsample(scale_factor=4) when the size is divisible (the check ensures it), but
        # written as the input's size so the output can never be off by a pixel.
        return F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)


def create_zhang(config: Mapping[str, Any]) -> ZhangGenerator:
    """The one factory: build the network from a variant's config."""
    return ZhangGenerator(config["blocks"])


def check_size(blocks: Sequence[str], image_size: int, label: str = "this variant") -> str | None:
    down, _ = scale_factors(blocks)
    if image_size % down:
        return (
            f"{label} needs an image size divisible by {down} (got {image_size} px) "
            f"so that the x{UPSAMPLE} upsampling restores it exactly"
        )
    return None


def _build(variant: str, image_size: int) -> nn.Module:
    return create_zhang(VARIANTS[variant])


def _check(variant: str, image_size: int) -> str | None:
    return check_size(VARIANTS[variant]["blocks"], image_size, f"zhang {variant}")


PLUGIN = GeneratorPlugin(
    name="zhang",
    description="Zhang et al. ECCV 2016 colorization CNN (313-bin head), output in normalised ab units",
    variants={
        name: Variant(config=cfg, label=LABELS[name], depth=DEPTHS[name]) for name, cfg in VARIANTS.items()
    },
    default_variant=DEFAULT_VARIANT,
    build=_build,
    check=_check,
)
