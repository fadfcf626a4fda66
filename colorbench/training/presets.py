"""Presets: named starting points for a run configuration, as data.

``paper`` is the study's protocol exactly; ``quick`` is sized for a laptop (built-in photos, 64 px);
``smoke`` takes seconds and exists for tests. Per-generator entries set the default depth variant
where the preset's image size needs another one than the plugin's own default (a U-Net with
n_down 8 needs 256 px; at 64 px the 1 px bottleneck is reached at n_down 6).
"""

from __future__ import annotations

from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.training.config import RunConfig

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "fields": {
            "image_size": 32,
            "epochs": 1,
            "batch_size": 4,
            "num_samples": 2,
            "data": "sample",
            "data_limit": 24,
        },
        "variants": {"unet": "n_down_5"},
    },
    "quick": {
        "fields": {"image_size": 64, "epochs": 8, "batch_size": 16, "data": "sample"},
        "variants": {"unet": "n_down_6"},
    },
    "paper": {
        "fields": {
            "image_size": 256,
            "epochs": 100,
            "batch_size": 16,
            "lr": 5e-4,
            "init": "normal",
            "lambda_l1": 100.0,
            "data_limit": 10_000,
            "data_val_fraction": 0.2,
            "data_seed": 123,
        },
        "variants": {},
        "requires_data": "coco",
    },
}


def preset_config(name: str, generator: str, **overrides: Any) -> RunConfig:
    """The run configuration a preset gives ``generator`` before ``--set`` overrides."""
    if name not in PRESETS:
        raise ColorbenchError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    fields = dict(preset["fields"])
    fields["variant"] = preset["variants"].get(generator)
    fields.update(overrides)
    return RunConfig(generator=generator, **fields)


def build_config(
    preset: str,
    generator: str,
    *,
    variant: str | None = None,
    data: str | None = None,
    overrides: dict[str, str] | None = None,
) -> RunConfig:
    """The configuration a command line asks for: preset, then --variant/--data, then --set."""
    config = preset_config(preset, generator)
    if variant:
        config = config.replace(variant=variant)
    if data:
        config = config.replace(data=data)
    config = config.with_overrides(overrides or {})
    check_preset_data(preset, config)
    return config


def check_preset_data(name: str, config: RunConfig) -> None:
    required = PRESETS[name].get("requires_data")
    if required and not config.data.startswith(required + ":"):
        raise ColorbenchError(
            f"preset {name!r} follows the study's protocol and needs --data {required}:IMAGES_DIR:ANNOTATIONS"
        )
