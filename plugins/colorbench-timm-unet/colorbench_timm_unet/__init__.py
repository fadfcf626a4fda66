"""colorbench plugin: a U-Net decoder on a timm ``features_only`` encoder.

Variants choose the encoder (resnet18 by default, resnet34, efficientnet_b0); the encoder takes the
single L channel (``in_chans=1``). Weights are random unless the user asks for pretrained ones by
setting ``COLORBENCH_TIMM_UNET_PRETRAINED=1`` *and* they are already in the local Hugging Face or
torch hub cache: nothing is ever downloaded. When pretrained weights are asked for but missing,
the check says so in one sentence and ``build`` raises :class:`ColorbenchError`; the plugin never
falls back to random weights silently, because the study's init factor would then be misreported.
The weights file a pretrained run loads is named by ``files_for``, so colorbench hashes its content
into the run's identity: other weights in the cache never reuse results computed with these.

This module only describes the generator (plain data); timm is imported when a model is built,
so ``colorbench list`` stays fast.
"""

from __future__ import annotations

import os
from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.models import GeneratorPlugin, Option, Variant

PRETRAINED_ENV = "COLORBENCH_TIMM_UNET_PRETRAINED"
DECODER_CHANNELS = (256, 128, 64, 32, 16)

# Variants are data. ``reduction`` is the encoder's total downsampling (timm's
# feature_info.reduction()[-1]), kept here so the size check needs no timm import.
VARIANTS: dict[str, dict[str, Any]] = {
    "resnet18": {"encoder": "resnet18", "reduction": 32, "decoder_channels": DECODER_CHANNELS},
    "resnet34": {"encoder": "resnet34", "reduction": 32, "decoder_channels": DECODER_CHANNELS},
    "efficientnet_b0": {"encoder": "efficientnet_b0", "reduction": 32, "decoder_channels": DECODER_CHANNELS},
}
DEFAULT_VARIANT = "resnet18"
# The study's depth factor moves along the ResNet family only (efficientnet is another family).
DEPTHS = {"resnet18": 18, "resnet34": 34}


def pretrained_requested() -> bool:
    """Whether the user asked for pretrained encoder weights (``COLORBENCH_TIMM_UNET_PRETRAINED``)."""
    return os.environ.get(PRETRAINED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def make_plugin(pretrained: bool = False) -> GeneratorPlugin:
    """The plugin object; ``pretrained`` is the default of its ``pretrained`` option.

    The option is part of every run's identity, so a pretrained run never reuses a random-weights
    one; with it on, the encoder brings its own weights and the study's init factor does not apply.
    """

    def check(variant: str, image_size: int, options) -> str | None:
        reduction = VARIANTS[variant]["reduction"]
        if image_size % reduction:
            return (
                f"timm_unet {variant} needs an image size divisible by {reduction} (got {image_size} px): "
                f"the encoder downsamples by {reduction} and the decoder must meet every skip"
            )
        if options["pretrained"]:
            from colorbench_timm_unet.weights import missing_weights_reason

            return missing_weights_reason(VARIANTS[variant]["encoder"])
        return None

    def build(variant: str, image_size: int, options):
        from colorbench_timm_unet.model import TimmUnet
        from colorbench_timm_unet.weights import find_local_weights, missing_weights_reason

        config = VARIANTS[variant]
        weights = None
        if options["pretrained"]:
            weights = find_local_weights(config["encoder"])
            if weights is None:
                raise ColorbenchError(missing_weights_reason(config["encoder"]))
        return TimmUnet(config["encoder"], config["decoder_channels"], weights_file=weights)

    def files_for(variant: str, options) -> tuple[str, ...]:
        # Only a pretrained run reads a weights file: random-weights runs hash none.
        if not options["pretrained"]:
            return ()
        from colorbench_timm_unet.weights import find_local_weights

        weights = find_local_weights(VARIANTS[variant]["encoder"])
        return (weights,) if weights else ()

    source = "ImageNet weights from the local cache" if pretrained else "random weights"
    return GeneratorPlugin(
        name="timm_unet",
        description=f"U-Net decoder (Ronneberger et al., MICCAI 2015) on a timm encoder, {source} by default",
        variants={
            name: Variant(config=cfg, label=f"encoder {cfg['encoder']}", depth=DEPTHS.get(name))
            for name, cfg in VARIANTS.items()
        },
        default_variant=DEFAULT_VARIANT,
        build=build,
        check=check,
        files_for=files_for,
        options={
            "pretrained": Option(
                default=pretrained,
                choices=(False, True),
                help=f"ImageNet encoder weights from the local cache (default from {PRETRAINED_ENV})",
                # Pretrained encoder weights must not be overwritten by the study's init factor.
                own_weights=True,
            )
        },
        api_version="1.2",
    )


PLUGIN = make_plugin(pretrained=pretrained_requested())
