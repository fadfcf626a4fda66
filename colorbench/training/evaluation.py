"""Evaluation on the whole val split: the study's losses (no gradient) and metrics, per image and mean.

:func:`evaluate` is the one evaluation of the harness: a trained generator at the end of a run
(or every ``eval_every`` epochs), a non-trainable one, and the gray baseline (the ``gray``
generator, ab = 0) all go through it, so their numbers are computed the same way. It returns the
split means and the per-image values; the means are the per-image values' means (float64), so
a run's summary equals the mean of its per-image file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import nn

from colorbench.measures import MeasureSet, SetValue, image_measures, image_metrics
from colorbench.metrics import MeanAccumulator
from colorbench.training.objective import GANLoss, pix2pix_losses


@dataclass
class Evaluation:
    means: dict[str, float]  # val losses (``val_loss_*``, when a discriminator was given) and metrics
    per_image: dict[str, list[float]]  # metric -> one value per val image, in val order
    not_computed: dict[str, str] = field(default_factory=dict)  # metric -> why (an unmet need)


def computable(measures) -> tuple[list, dict[str, str]]:
    """(the measures whose needs are met here, {name: why not} for the others)."""
    usable, missing = [], {}
    for measure in measures:
        unmet = measure.unmet_needs()
        if unmet:
            missing[measure.name] = "; ".join(unmet)
        else:
            usable.append(measure)
    return usable, missing


def _to_device(batch, device: str):
    l_norm, ab = batch
    return l_norm.to(device, non_blocking=True), ab.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(
    generator: nn.Module,
    discriminator: nn.Module | None,
    batches: Iterable,
    *,
    device: str,
    gan_mode: str,
    lambda_l1: float,
    autocast: Callable[[], AbstractContextManager],
    discriminator_mode: str = "eval",
) -> Evaluation:
    """Val losses (when a discriminator is given) and metrics over every val image.

    ``discriminator_mode``: ``eval`` (D's running BatchNorm statistics, colorbench's default) or
    ``train`` (batch statistics, as D sees batches while training; computed on a copy so that
    D's running statistics are not touched). The generator is always in eval mode.
    """
    generator.eval()
    if discriminator is not None:
        if discriminator_mode == "train":
            discriminator = copy.deepcopy(discriminator).train()
        else:
            discriminator.eval()
    gan_loss = GANLoss(gan_mode)
    measures, not_computed = computable(image_measures())
    losses = MeanAccumulator()
    per_image: dict[str, list[torch.Tensor]] = {}
    for batch in batches:
        l_norm, ab_true = _to_device(batch, device)
        if discriminator is not None:
            fake_ab, batch_losses = pix2pix_losses(
                generator, discriminator, gan_loss, l_norm, ab_true, lambda_l1, autocast
            )
            losses.update(batch_losses, l_norm.shape[0])
        else:
            with autocast():
                fake_ab = generator(l_norm)
        for name, values in image_metrics(l_norm.float(), fake_ab.float(), ab_true.float(), measures).items():
            per_image.setdefault(name, []).append(values.double())
    stacked = {name: torch.cat(parts).cpu() for name, parts in per_image.items()}  # one transfer each
    means = {f"val_{k}": v for k, v in losses.compute().items()} if losses.count else {}
    means.update({name: float(values.mean()) for name, values in stacked.items()})
    return Evaluation(means, {name: values.tolist() for name, values in stacked.items()}, not_computed)


def evaluate_sets(
    measures, image_ids: Sequence[str], real: torch.Tensor, predicted: torch.Tensor, seed: int
) -> tuple[dict[str, SetValue], dict[str, str]]:
    """Per-set metrics over a whole val split: ({name: value}, {name: why not computed}).

    ``real`` and ``predicted`` are sRGB (N, 3, H, W) in [0, 1]. A metric whose needs are unmet, or
    whose computation fails, is reported as not computed (with why), never as a number.
    """
    usable, not_computed = computable(measures)
    values: dict[str, SetValue] = {}
    data = MeasureSet(tuple(image_ids), real, predicted, seed)
    for measure in usable:
        try:
            result = measure.compute(data)
        except Exception as exc:  # a metric plugin's failure must not lose the run
            not_computed[measure.name] = f"its computation failed: {type(exc).__name__}: {exc}"
            continue
        if not isinstance(result, SetValue):
            not_computed[measure.name] = f"it returned a {type(result).__name__}, not a SetValue"
            continue
        values[measure.name] = result
    return values, not_computed


@torch.no_grad()
def predict_rgb(
    generator: nn.Module,
    l_norm: torch.Tensor,
    *,
    device: str,
    autocast: Callable[[], AbstractContextManager],
) -> torch.Tensor:
    """sRGB images (N, 3, H, W) in [0, 1] of the generator's prediction for ``l_norm``."""
    from colorbench.color import normalized_to_rgb

    generator.eval()
    with autocast():
        fake_ab = generator(l_norm.to(device)).float().cpu()
    return normalized_to_rgb(l_norm, fake_ab)


def truth_rgb(l_norm: torch.Tensor, ab_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(grey input, ground truth) as sRGB images in [0, 1]."""
    from colorbench.color import normalized_to_rgb

    return normalized_to_rgb(l_norm, torch.zeros_like(ab_true)), normalized_to_rgb(l_norm, ab_true)


def per_image_rows(epoch: int, image_ids: Sequence[str], per_image: dict[str, list[float]]) -> list[dict]:
    """Rows of the per-image table for one evaluation (``epoch``, ``image_id``, metrics)."""
    names = list(per_image)
    return [
        {"epoch": epoch, "image_id": image_id, **{n: per_image[n][i] for n in names}}
        for i, image_id in enumerate(image_ids)
    ]
