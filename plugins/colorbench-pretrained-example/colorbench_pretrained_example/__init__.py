"""colorbench plugin: an inference-only colorizer whose weights come from a local file.

The way to benchmark a pretrained colorizer: the plugin is not trainable, so colorbench evaluates
it as it is (no training, no init) and reports it beside the trained settings. Each variant names
its weights file in ``Variant.files``, so the file's *content* is part of every run's identity:
replacing the weights never reuses results computed with the old ones.

The weights live in one folder: ``$COLORBENCH_PRETRAINED_EXAMPLE_WEIGHTS`` if set, else the
package's own ``weights/`` directory (where a release would ship them). Nothing is downloaded;
a missing file makes the variant infeasible with one sentence saying where to put it.

This module only describes the generator (plain data, no torch import), so ``colorbench list``
stays fast; the network and the loading are in ``model.py`` and ``weights.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from colorbench.models import GeneratorPlugin, Variant

NAME = "pretrained_example"
WEIGHTS_ENV = "COLORBENCH_PRETRAINED_EXAMPLE_WEIGHTS"
STRIDE = 4  # two stride-2 convolutions down, two transposed ones up

# Variants are data: the architecture (the weights must fit it) and the weights file's name.
VARIANTS = {
    "tiny": {"width": 8, "file": "tiny.pt"},
    "small": {"width": 16, "file": "small.pt"},
}
DEFAULT_VARIANT = "tiny"


def weights_dir() -> Path:
    """The folder holding the weights files: ``$COLORBENCH_PRETRAINED_EXAMPLE_WEIGHTS``, else the
    package's ``weights/`` directory."""
    configured = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(configured) if configured else Path(__file__).resolve().parent / "weights"


def make_plugin(directory: str | Path | None = None) -> GeneratorPlugin:
    """The plugin reading its weights from ``directory`` (default :func:`weights_dir`)."""
    folder = (Path(directory) if directory is not None else weights_dir()).resolve()
    paths = {name: folder / cfg["file"] for name, cfg in VARIANTS.items()}

    def check(variant: str, image_size: int) -> str | None:
        if image_size % STRIDE:
            return f"{NAME} {variant} needs an image size divisible by {STRIDE}, got {image_size} px"
        if not paths[variant].is_file():
            return (
                f"the weights file {paths[variant]} of {NAME} {variant} does not exist: put the "
                f"pretrained weights there or point {WEIGHTS_ENV} at the folder that holds them"
            )
        return None

    def build(variant: str, image_size: int):
        from colorbench_pretrained_example.weights import load_colorizer

        return load_colorizer(paths[variant], VARIANTS[variant]["width"], f"{NAME} {variant}")

    return GeneratorPlugin(
        name=NAME,
        description="tiny CNN colorizer with pretrained weights from a local file (inference-only example)",
        variants={
            name: Variant(
                # The config is the architecture; the weights enter the run's identity through
                # ``files`` (hashed by content), not through their path.
                config={"width": cfg["width"]},
                label=f"pretrained, width {cfg['width']}",
                files=(str(paths[name]),),
            )
            for name, cfg in VARIANTS.items()
        },
        default_variant=DEFAULT_VARIANT,
        build=build,
        check=check,
        trainable=False,  # evaluated as it is: never trained
        # Implied by trainable=False in API 1.1, said explicitly so that no harness that only
        # reads the plugin-wide flag ever overwrites the loaded weights with a fresh init.
        manages_init=True,
        api_version="1.1",
    )


PLUGIN = make_plugin()
