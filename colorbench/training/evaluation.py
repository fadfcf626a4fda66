"""Evaluation on the whole val split: the study's losses (no gradient) and colorization metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from colorbench.color import normalized_to_rgb
from colorbench.metrics import MetricAccumulator, image_metrics
from colorbench.training.objective import GANLoss, pix2pix_losses


class WeightedMeans:
    """Running means of scalar tensors weighted by batch size, kept on device until read.

    The study logs each loss as the mean over an epoch's batches weighted by batch size; keeping the
    sums on the device avoids a host synchronisation per step.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def update(self, values: dict[str, torch.Tensor], n: int) -> None:
        for name, value in values.items():
            weighted = value.detach().float() * n
            self.sums[name] = self.sums[name] + weighted if name in self.sums else weighted
        self.count += n

    def all_finite(self) -> bool:
        if not self.sums:
            return True
        return bool(torch.isfinite(torch.stack(list(self.sums.values()))).all())

    def means(self) -> dict[str, float]:
        if not self.count:
            return {}
        stacked = torch.stack(list(self.sums.values())).cpu() / self.count  # one transfer
        return {name: float(v) for name, v in zip(self.sums, stacked, strict=True)}


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
) -> dict[str, float]:
    """Val losses (when a discriminator is given) and metrics, averaged over every val image."""
    generator.eval()
    if discriminator is not None:
        discriminator.eval()
    gan_loss = GANLoss(gan_mode)
    losses = WeightedMeans()
    metrics = MetricAccumulator()
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
        metrics.update(image_metrics(l_norm.float(), fake_ab.float(), ab_true.float()))
    out = {f"val_{k}": v for k, v in losses.means().items()}
    out.update(metrics.compute())
    return out


@torch.no_grad()
def gray_baseline(batches: Iterable, device: str) -> dict[str, float]:
    """Metrics of predicting ab = 0 on the same split: the floor every report shows."""
    metrics = MetricAccumulator()
    for batch in batches:
        l_norm, ab_true = _to_device(batch, device)
        metrics.update(image_metrics(l_norm.float(), torch.zeros_like(ab_true).float(), ab_true.float()))
    return metrics.compute()


@torch.no_grad()
def save_samples(
    generator: nn.Module,
    l_norm: torch.Tensor,
    ab_true: torch.Tensor,
    out_dir: Path,
    *,
    device: str,
    autocast: Callable[[], AbstractContextManager],
) -> tuple[list[str], torch.Tensor]:
    """Colorize the fixed val images; write grey input, prediction and truth PNGs for the grids.

    Returns the file names and the same images as one grid tensor (3, H', W').
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    generator.eval()
    l_dev = l_norm.to(device)
    with autocast():
        fake_ab = generator(l_dev).float().cpu()
    rgb = {
        "input": normalized_to_rgb(l_norm, torch.zeros_like(ab_true)),
        "pred": normalized_to_rgb(l_norm, fake_ab),
        "truth": normalized_to_rgb(l_norm, ab_true),
    }
    names, rows = [], []
    for i in range(l_norm.shape[0]):
        for kind, images in rgb.items():
            name = f"{i:03d}_{kind}.png"
            save_image(images[i], out_dir / name)
            names.append(name)
            rows.append(images[i])
    # One row per image: grey input, prediction, truth (for TensorBoard; reports build their own).
    return names, make_grid(torch.stack(rows), nrow=len(rgb), padding=2, pad_value=1.0)
