"""Presets: named starting points for a run request, as data.

``paper`` is the study's protocol with colorbench's corrections; ``paper-faithful`` is the study as
it ran (the tutorial's data handling, Zhang's eccv16 units, init and val D as the tutorial had
them: docs/paper-faithful.md has the table, switch by switch); ``quick`` is sized for a laptop
(built-in photos, 64 px); ``smoke`` takes seconds and exists for tests. The default depth variant
at a preset's image size is the plugin's own choice (``GeneratorPlugin.default_variant_for``: the
U-Net takes the depth whose bottleneck is 1 px, n_down 6 at 64 px).

A preset is ``fields`` (RunRequest fields for every generator), optionally ``generators``
(``{name: {"fields": {...}, "options": {...}}}``: fields and generator options for one generator
only, applied after ``fields``) and ``requires_data`` (the data sources it accepts).
"""

from __future__ import annotations

from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.training.spec import RunRequest

# The study's protocol; both paper presets start from it.
PAPER_FIELDS: dict[str, Any] = {
    "image_size": 256,
    "epochs": 100,
    "batch_size": 16,
    "lr": 5e-4,
    "init": "normal",
    "lambda_l1": 100.0,
    "data_limit": 10_000,
    "data_val_fraction": 0.2,
    "data_seed": 123,
    # The study ran fp32; bf16 autocast moved val L1 and CIEDE2000 by more than a seed does.
    "precision": "fp32",
}
# The tutorial took a plain folder (fastai's COCO sample); a COCO subset with annotations is the same
# kind of photos, so both paper presets take either.
PAPER_DATA = ("coco", "folder")
DATA_FORMS = {"coco": "coco:IMAGES_DIR:ANNOTATIONS", "folder": "folder:DIR", "sample": "sample"}

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
    },
    "quick": {
        # eval_every 2: a val curve of four points; evaluating 47 val images costs a few percent
        # of an epoch (measured in benchmarks/RESULTS.md).
        "fields": {"image_size": 64, "epochs": 8, "batch_size": 16, "data": "sample", "eval_every": 2},
    },
    "paper": {"fields": PAPER_FIELDS, "requires_data": PAPER_DATA},
    # Every switch of docs/paper-faithful.md set to what the study ran (tests check the two agree).
    "paper-faithful": {
        "fields": {
            **PAPER_FIELDS,
            "data_resize": "squash",  # the tutorial: Resize((256, 256)), no crop
            "data_keep_gray": True,  # the tutorial converts every image to RGB and skips none
            "train_order": "fixed",  # the tutorial's DataLoader has no shuffle
            "val_discriminator": "train",  # the tutorial never puts D in eval mode
            # The tutorial initialises D, and G only when it builds G itself (its U-Net); a
            # generator passed in (the study's Zhang) keeps PyTorch's default init.
            "init_targets": "discriminator",
        },
        "generators": {
            "unet": {"fields": {"init_targets": "both"}},
            "zhang": {"options": {"units": "eccv16"}},  # the study's units: raw a*b* out, L/100 in
        },
        "requires_data": PAPER_DATA,
    },
}


def preset_request(name: str, generator: str, **overrides: Any) -> RunRequest:
    """The run request a preset gives ``generator`` before ``--set`` overrides."""
    if name not in PRESETS:
        raise ColorbenchError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    own = preset.get("generators", {}).get(generator, {})
    fields = {**preset["fields"], **own.get("fields", {}), **overrides}
    if own.get("options"):
        fields["generator_options"] = {**own["options"], **fields.get("generator_options", {})}
    return RunRequest(generator=generator, **fields)


def build_request(
    preset: str,
    generator: str,
    *,
    variant: str | None = None,
    data: str | None = None,
    overrides: dict[str, str] | None = None,
) -> RunRequest:
    """The request a command line makes: preset, then --variant/--data, then --set."""
    request = preset_request(preset, generator)
    if variant:
        request = request.replace(variant=variant)
    if data:
        request = request.replace(data=data)
    request = request.with_overrides(overrides or {})
    check_preset_data(preset, request)
    return request


def check_preset_data(name: str, request: RunRequest) -> None:
    required = PRESETS[name].get("requires_data")
    if required and not any(request.data.startswith(kind + ":") for kind in required):
        forms = " or ".join(DATA_FORMS[kind] for kind in required)
        raise ColorbenchError(f"preset {name!r} follows the study's protocol and needs --data {forms}")
