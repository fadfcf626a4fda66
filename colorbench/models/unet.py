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

This module is the plugin's declaration (variants and checks as data, no torch: ``colorbench
list`` imports it); the network is :mod:`colorbench.models.networks.unet`, imported by ``build``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from colorbench.models.contract import GeneratorPlugin, Variant

if TYPE_CHECKING:
    from torch import nn

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


def _build(variant: str, image_size: int) -> nn.Module:
    from colorbench.models.networks.unet import create_unet  # torch: only when a run builds one

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
    display_name="U-Net",
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


def __getattr__(name: str):
    # The network's names, as before the split (``from colorbench.models.unet import UnetGenerator``).
    if name in ("UnetBlock", "UnetGenerator", "create_unet", "DROPOUT", "LEAKY_SLOPE", "MAX_WIDTH_MULT"):
        from colorbench.models.networks import unet as network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
