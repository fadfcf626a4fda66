"""Per-image metrics of a batch, from the declarations: what evaluation calls for every val batch."""

from __future__ import annotations

import torch

from colorbench.measures.declaration import ImageBatch
from colorbench.measures.registry import image_measures


def _shape_check(x: object, name: str, channels: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (N, {channels}, H, W); got {tuple(x.shape)}")


@torch.no_grad()
def image_metrics(
    l_norm: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor, measures=None
) -> dict[str, torch.Tensor]:
    """Every usable per-image metric (or those of ``measures``): float32 tensors (N,) on the input device.

    ``l_norm`` (N, 1, H, W) in [-1, 1]; ``ab_pred``, ``ab_true`` (N, 2, H, W) normalised (ab / 110).
    The metrics are the registry's: colorbench's built-ins and any plugin's, in the registry's order.
    """
    _shape_check(l_norm, "l_norm", 1)
    _shape_check(ab_pred, "ab_pred", 2)
    _shape_check(ab_true, "ab_true", 2)
    if ab_pred.shape != ab_true.shape:
        raise ValueError(
            f"ab_pred and ab_true differ in shape: {tuple(ab_pred.shape)} vs {tuple(ab_true.shape)}"
        )
    if l_norm.shape[0] != ab_pred.shape[0] or l_norm.shape[-2:] != ab_pred.shape[-2:]:
        raise ValueError(f"l_norm {tuple(l_norm.shape)} does not match ab {tuple(ab_pred.shape)}")
    # Autocast may hand over bf16; every metric is defined in float32.
    batch = ImageBatch(l_norm, ab_pred, ab_true)
    out = {}
    if measures is None:  # a metric whose needs are unmet (a weights file) is left out, not failed
        measures = [m for m in image_measures() if not m.unmet_needs()]
    for measure in measures:
        values = measure.compute(batch)
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != (len(batch),):
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise ValueError(f"metric {measure.name!r} returned {shape}, not one value per image")
        out[measure.name] = values.float()
    return out
