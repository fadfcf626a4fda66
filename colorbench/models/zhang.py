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

Differences from the original, on purpose (option ``units="normalised"``, the default):

- Output: the original multiplies by 110 to give raw a*b*; here the 313->2 projection's output
  *is* the prediction in normalised units (``ab / AB_SCALE``), so that L1 losses are comparable
  with every other generator (the study mixed the two units: its Zhang "Loss G L1" ~ 483).
  Since the softmax weights sum to 1, the output is a convex combination of that projection's
  313 columns, bounded by their largest absolute value.
- Input: L is taken in the harness's normalised units (``L/50 - 1``) rather than ``(L-50)/100``;
  the two differ by a factor 2 that the first convolution absorbs.

Option ``units="eccv16"`` reproduces the study's units instead: the network receives
``(L - 50)/100``, computed from the harness's input as ``(L/50 - 1) / 2``, and its output is
multiplied by 110 (raw a*b*), exactly as ``eccv16.py``. The harness still compares that output with
``ab/110`` targets, as the study did, so its L1 mixes units (raw a*b* against ab/110) and is
dominated by the output's raw magnitude: the likely origin of the study's Zhang "Loss G L1" of
~483 against ~7 for the U-Net. The weights are the same in both units (same parameters and
names); only these two scalings differ.

Variants remove blocks, or single layers, and adapt the rest minimally; the input channel count
of a block follows whatever precedes it. See ``docs/models.md`` for the exact contents of each
variant and which reading of the study's "removal of layers from conv3, conv4 and conv8" each is.

This module is the plugin's declaration (blocks, variants and checks as data, no torch: ``colorbench
list`` imports it); the network is :mod:`colorbench.models.networks.zhang`, imported by ``build``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from colorbench.models.contract import GeneratorPlugin, Option, Variant

if TYPE_CHECKING:
    from torch import nn

N_BINS = 313  # quantised in-gamut a*b* bins (grid 10) of Zhang et al.
UPSAMPLE = 4
# The units option's values; their scalings are in colorbench.models.networks.zhang (UNITS).
UNIT_NAMES = ("normalised", "eccv16")
DEFAULT_UNITS = "normalised"


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
    # The other reading of "removal of layers from conv3, conv4 and conv8": the default's blocks,
    # each of conv3, conv4 and conv8 one 3x3 convolution shorter. The removed layer is the block's
    # last stride-1 3x3 conv, so conv3 keeps its stride-2 conv and conv8 its deconv: same strides.
    "removal_348_layers": {
        "blocks": ["conv1", "conv2", "conv3", "conv4", "conv8"],
        "one_conv_fewer": ["conv3", "conv4", "conv8"],
    },
}
DEFAULT_VARIANT = "no_conv5_7"
LABELS = {
    "full": "full layers",
    "no_conv5_7": "conv5-7 removed",
    "removal_348": "removal 348",
    "removal_348_layers": "removal 348, one layer each",
}
# The depth axis of the study's layers factor: fewest blocks first. removal_348_layers is not a
# level of it (None): with 10 convolutions it lies between removal_348 (4) and the default (13),
# so any depth there would make it the default's shallower neighbour and displace removal_348,
# the level the study ran. It is the other reading of that same level, chosen by name.
DEPTHS = {"removal_348": 1, "no_conv5_7": 2, "full": 3, "removal_348_layers": None}


def without_one_conv(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A block with its last stride-1 3x3 convolution removed. A stride-2 conv or a deconv is never
    the one removed, so the block down- or upsamples exactly as before."""
    layers = list(spec["layers"])
    plain = [i for i, (kind, _, _, stride, _) in enumerate(layers) if kind == "conv" and stride == 1]
    if not plain or len(layers) < 2:
        raise ValueError("a block needs a stride-1 convolution and another layer to lose one")
    del layers[plain[-1]]
    return {**spec, "layers": layers}


def block_specs(blocks: Sequence[str], one_conv_fewer: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The layers of each named block, those in ``one_conv_fewer`` shortened by one convolution."""
    unknown = [b for b in (*blocks, *one_conv_fewer) if b not in BLOCKS]
    if unknown:
        raise ValueError(f"unknown Zhang blocks {unknown}; blocks: {', '.join(BLOCKS)}")
    absent = [b for b in one_conv_fewer if b not in blocks]
    if absent:
        raise ValueError(f"cannot shorten blocks {absent} that are not in the network {list(blocks)}")
    return {
        name: without_one_conv(BLOCKS[name]) if name in one_conv_fewer else dict(BLOCKS[name])
        for name in blocks
    }


def scale_factors(blocks: Sequence[str]) -> tuple[int, int]:
    """(downsampling, upsampling inside the network) of a block list, from the data above."""
    down = up = 1
    for name in blocks:
        # Shortening a block never removes a strided layer: BLOCKS' strides hold for every variant.
        for kind, _, _, stride, _ in BLOCKS[name]["layers"]:
            if kind == "deconv":
                up *= stride
            else:
                down *= stride
    return down, up


def check_size(blocks: Sequence[str], image_size: int, label: str = "this variant") -> str | None:
    down, _ = scale_factors(blocks)
    if image_size % down:
        return (
            f"{label} needs an image size divisible by {down} (got {image_size} px) "
            f"so that the x{UPSAMPLE} upsampling restores it exactly"
        )
    return None


def _units(options: Mapping[str, Any] | None) -> str:
    return (options or {}).get("units", DEFAULT_UNITS)


def _build(variant: str, image_size: int, options: Mapping[str, Any] | None = None) -> nn.Module:
    from colorbench.models.networks.zhang import create_zhang  # torch: only when a run builds one

    return create_zhang(VARIANTS[variant], units=_units(options))


def _check(variant: str, image_size: int, options: Mapping[str, Any] | None = None) -> str | None:
    # Units only scale the input and output: they never change which sizes run.
    return check_size(VARIANTS[variant]["blocks"], image_size, f"zhang {variant}")


OPTIONS = {
    "units": Option(
        default=DEFAULT_UNITS,
        choices=UNIT_NAMES,
        help="normalised: input L/50 - 1, output ab/110 like every generator; eccv16: the study's "
        "units, input (L - 50)/100 and output x110 (raw a*b*) still compared with ab/110 targets",
    )
}

PLUGIN = GeneratorPlugin(
    name="zhang",
    display_name="Zhang et al. (ECCV 2016)",
    description="Zhang et al. ECCV 2016 colorization CNN (313-bin head), output in normalised ab units "
    "(option units=eccv16: the study's raw a*b*)",
    variants={
        name: Variant(config=cfg, label=LABELS[name], depth=DEPTHS[name]) for name, cfg in VARIANTS.items()
    },
    default_variant=DEFAULT_VARIANT,
    build=_build,
    check=_check,
    options=OPTIONS,
)


def __getattr__(name: str):
    # The network's names, as before the split (``from colorbench.models.zhang import ZhangGenerator``).
    if name in ("ZhangGenerator", "create_zhang", "UNITS"):
        from colorbench.models.networks import zhang as network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
