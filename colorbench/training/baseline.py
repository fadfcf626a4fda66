"""The gray baseline of a data split: computed once per split by the first run that needs it.

It is the ``gray`` generator (ab = 0) put through the same :func:`evaluate` as every run, so
there is one notion of the gray baseline; the store keeps it under ``baselines/<data key>/``
with the grey inputs and ground truths of the first val images, which image grids show once.
"""

from __future__ import annotations

import contextlib
import io

import torch

from colorbench.data import BatchLoader, PreparedData
from colorbench.store import Store
from colorbench.training.evaluation import evaluate, truth_rgb

GRAY_GENERATOR = "gray"


def ensure_gray_baseline(
    store: Store,
    data: PreparedData,
    val_loader: BatchLoader,
    image_ids: list[str],
    device: str,
    num_samples: int,
) -> dict[str, float]:
    """The split's gray metrics (means), computed and written if the store lacks them."""
    baseline = store.baseline(data.key)
    record = baseline.read_record()
    n = min(num_samples, int(data.val_l.shape[0]))
    if _complete(record, n):
        return record["means"]
    with baseline.lock():
        record = baseline.read_record()
        if _complete(record, n):
            return record["means"]
        from colorbench.models import get_generator

        gray = get_generator(GRAY_GENERATOR)
        module = gray.build_module(gray.default_variant, data.size).to(device)
        result = evaluate(
            module,
            None,
            val_loader,
            device=device,
            gan_mode="vanilla",
            lambda_l1=0.0,
            autocast=contextlib.nullcontext,
        )
        # The per-set metrics of gray against truth (C2ST: ~1.0), seeded 0: the reports' gray line.
        means = {**result.means, **_gray_set_values(val_loader, image_ids)}
        import pandas as pd

        frame = pd.DataFrame({"image_id": image_ids, **result.per_image})
        baseline.write(means, frame, image_ids, _sample_pngs(data, n))
        return means


def _complete(record: dict | None, n: int) -> bool:
    """The stored baseline has the samples asked for and every per-image metric computable here
    (a metric plugin installed since it was computed makes it compute again)."""
    from colorbench.measures import image_measures, set_measures
    from colorbench.training.evaluation import computable

    if record is None or len(record.get("samples", [])) < 2 * n:
        return False
    measures, _ = computable((*image_measures(), *set_measures()))
    return all(m.name in (record.get("means") or {}) for m in measures)


def _gray_set_values(val_loader: BatchLoader, image_ids: list[str]) -> dict[str, float]:
    from colorbench.measures import set_measures
    from colorbench.training.evaluation import evaluate_sets

    measures = set_measures()
    if not measures:
        return {}
    pairs = [truth_rgb(l_norm.float().cpu(), ab.float().cpu()) for l_norm, ab in val_loader]
    grey, real = (torch.cat([p[i] for p in pairs]) for i in (0, 1))
    values, _ = evaluate_sets(measures, image_ids, real, grey, seed=0)
    return {name: v.value for name, v in values.items()}


def _sample_pngs(data: PreparedData, n: int) -> dict[tuple[int, str], bytes]:
    from torchvision.utils import save_image

    if not n:
        return {}
    l_norm = torch.from_numpy(data.val_l[:n].astype("float32"))
    ab = torch.from_numpy(data.val_ab[:n].astype("float32"))
    grey, truth = truth_rgb(l_norm, ab)
    out = {}
    for i in range(n):
        for kind, images in (("input", grey), ("truth", truth)):
            buffer = io.BytesIO()
            save_image(images[i], buffer, format="png")
            out[i, kind] = buffer.getvalue()
    return out
