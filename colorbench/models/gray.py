"""Grey baseline: predicts ab = 0 everywhere (the image left grey).

The usual lower reference of the field (Zhang et al. 2016 report AuC against it). It has no
parameters and is never trained (``trainable=False``); reports show it beside every model.
This module is its declaration (no torch); the module is :mod:`colorbench.models.networks.gray`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorbench.models.contract import GeneratorPlugin, Variant

if TYPE_CHECKING:
    from torch import nn

VARIANTS = {"zero": Variant(config={"ab": 0.0}, label="ab = 0")}


def _build(variant: str, image_size: int) -> nn.Module:
    from colorbench.models.networks.gray import GrayBaseline  # torch: only when a run builds one

    return GrayBaseline()


def _check(variant: str, image_size: int) -> str | None:
    return None  # runs at any size


PLUGIN = GeneratorPlugin(
    name="gray",
    display_name="Gray",
    description="grey baseline predicting ab = 0, the lower reference of Zhang et al. (ECCV 2016)",
    variants=VARIANTS,
    default_variant="zero",
    build=_build,
    check=_check,
    trainable=False,
)


def __getattr__(name: str):
    # The network's name, as before the split (``from colorbench.models.gray import GrayBaseline``).
    if name == "GrayBaseline":
        from colorbench.models.networks.gray import GrayBaseline

        return GrayBaseline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
