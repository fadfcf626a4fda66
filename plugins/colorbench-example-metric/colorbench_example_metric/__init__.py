"""A colorbench metric plugin: the mean hue error of the pixels that carry colour in the truth.

One declaration (:class:`colorbench.measures.Measure`) is the whole plugin: colorbench reads its
name, labels, unit and direction for every table, CSV column, verdict and plot, and calls
``compute`` on every val batch (an :class:`~colorbench.measures.ImageBatch` in normalised units)
for one value per image.
"""

from __future__ import annotations

import math

import torch

from colorbench.measures import LOWER, ImageBatch, Measure

CHROMA_FLOOR = 5.0  # a*b* units: below this the truth has no meaningful hue


def hue_error(batch: ImageBatch) -> torch.Tensor:
    """Mean absolute hue difference in degrees over the truth's chromatic pixels, per image; (N,).

    Hue angles of a*b* (atan2), the short way round the circle. A pixel whose truth has chroma below
    ``CHROMA_FLOOR`` is left out; an image without such pixels scores 0. A predicted pixel without
    chroma (gray) has hue 0 degrees, so a gray prediction is not rewarded.
    """
    ab_pred, ab_true = batch.lab_pred[:, 1:], batch.lab_true[:, 1:]
    hue_pred = torch.atan2(ab_pred[:, 1], ab_pred[:, 0])
    hue_true = torch.atan2(ab_true[:, 1], ab_true[:, 0])
    diff = torch.remainder(hue_pred - hue_true + math.pi, 2 * math.pi) - math.pi
    chromatic = torch.linalg.vector_norm(ab_true, dim=1) >= CHROMA_FLOOR
    total = (diff.abs() * chromatic).flatten(1).sum(dim=1)
    count = chromatic.flatten(1).sum(dim=1).clamp(min=1)
    return torch.rad2deg(total / count)


HUE_ERROR = Measure(
    name="hue_error",  # equals the entry point's name; the column in every frame and file
    label="Hue err",  # table header
    short="Δh",  # image-grid caption
    unit="degrees",
    direction=LOWER,
    description="mean |hue(pred) - hue(true)| over the truth's chromatic pixels",
    variant=f"a*b* hue angle, short way round, pixels with true chroma >= {CHROMA_FLOOR:g}",
    compute=hue_error,
)
