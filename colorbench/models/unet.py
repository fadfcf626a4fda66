"""pix2pix U-Net generator (Isola et al., "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017), general in its depth ``n_down``.

Layout as in the pix2pix ``UnetGenerator`` and the colorization recipe the study builds on:
every down step is a k4 s2 p1 convolution without bias (BatchNorm follows), preceded by
LeakyReLU 0.2 except on the outermost block; the innermost block has no BatchNorm on its 1x1-ish
bottleneck; every up step is ReLU, a k4 s2 p1 transposed convolution and BatchNorm, with
Dropout 0.5 on the 512-channel blocks between the fourth down step and the innermost one
(``n_down - 5`` blocks); the outermost up step has a bias and ends in Tanh. Skip connections
concatenate. Widths are 64, 128, 256, 512, 512, ... (``num_filters`` times 1, 2, 4, 8, 8, ...).

Each down step halves the image, so ``n_down`` steps need a side of at least ``2**n_down`` px
and divisible by it; the check says so before anything is built (the study's n_down 9 at 256 px
cannot run: the ninth convolution would see a 1x1 map).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from colorbench.models.contract import GeneratorPlugin, Variant

DEFAULT_CONFIG: dict[str, Any] = {"n_down": 8, "num_filters": 64, "in_channels": 1, "out_channels": 2}

# Variants are data: the study's default depth n_down 8 and one fewer / one more (7, 9), plus the
# shallower depths whose 1 px bottleneck falls at the small presets' sizes (5 at 32 px, 6 at 64 px).
VARIANTS: dict[str, dict[str, Any]] = {
    "n_down_5": {**DEFAULT_CONFIG, "n_down": 5},
    "n_down_6": {**DEFAULT_CONFIG, "n_down": 6},
    "n_down_7": {**DEFAULT_CONFIG, "n_down": 7},
    "n_down_8": {**DEFAULT_CONFIG, "n_down": 8},
    "n_down_9": {**DEFAULT_CONFIG, "n_down": 9},
}
DEFAULT_VARIANT = "n_down_8"

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


def min_image_size(n_down: int) -> int:
    """Smallest side at which every one of ``n_down`` halvings still leaves at least 1 px."""
    return 2**n_down


def check_size(n_down: int, image_size: int) -> str | None:
    """``None`` if a U-Net with ``n_down`` down steps runs at ``image_size``, else why not."""
    smallest = min_image_size(n_down)
    if image_size < smallest:
        return (
            f"n_down {n_down} needs images of at least {smallest} px: "
            f"at {image_size} px the bottleneck would fall below 1 px"
        )
    if image_size % smallest:
        return (
            f"n_down {n_down} needs an image size divisible by {smallest} (got {image_size} px), "
            "otherwise the up path cannot match the skip connections"
        )
    return None


def create_unet(config: Mapping[str, Any]) -> UnetGenerator:
    """The one factory: build a U-Net from a variant's config."""
    cfg = {**DEFAULT_CONFIG, **config}
    return UnetGenerator(cfg["n_down"], cfg["num_filters"], cfg["in_channels"], cfg["out_channels"])


def _build(variant: str, image_size: int) -> nn.Module:
    return create_unet(VARIANTS[variant])


def _check(variant: str, image_size: int) -> str | None:
    return check_size(VARIANTS[variant]["n_down"], image_size)


def _default_for_size(image_size: int) -> str | None:
    """The deepest variant up to the study's default (n_down 8) that runs at ``image_size``.

    That is the depth whose bottleneck is 1 px on a power-of-two size: 8 at 256 px, 6 at 64 px,
    5 at 32 px, so the smaller presets get the study's architecture scaled to their images.
    """
    default_depth = VARIANTS[DEFAULT_VARIANT]["n_down"]
    for name, cfg in sorted(VARIANTS.items(), key=lambda item: -item[1]["n_down"]):
        if cfg["n_down"] <= default_depth and check_size(cfg["n_down"], image_size) is None:
            return name
    return None  # nothing runs: the default's check says why


PLUGIN = GeneratorPlugin(
    name="unet",
    description="pix2pix U-Net generator (Isola et al., CVPR 2017), depth n_down, Tanh output",
    variants={
        name: Variant(config=cfg, label=f"n_down = {cfg['n_down']}", depth=cfg["n_down"])
        for name, cfg in VARIANTS.items()
    },
    default_variant=DEFAULT_VARIANT,
    default_variant_for=_default_for_size,
    build=_build,
    check=_check,
)
