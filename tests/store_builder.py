"""Write a results store of the current format by hand, with per-image metrics of known effects.

Every value is built from a formula, so the tests that read the store know the answers in advance:
metric(setting, seed, image) = base(image) + effect[setting] + noise (seeded), and the gray
baseline is base(image) + gray_offset. Used by test_report.py and test_precision.py.
``run_format=2`` writes the runs' records as format 2 did (the image size twice in the spec).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("l1_ab", "psnr", "ssim", "ciede2000", "colorfulness_pred", "colorfulness_true", "dcf", "auc")
BASE = {
    "l1_ab": 0.09,
    "psnr": 24.0,
    "ssim": 0.9,
    "ciede2000": 10.0,
    "colorfulness_pred": 20.0,
    "colorfulness_true": 35.0,
    "dcf": 15.0,
    "auc": 0.9,
}
SPREAD = {
    "l1_ab": 0.01,
    "psnr": 2.0,
    "ssim": 0.03,
    "ciede2000": 2.0,
    "colorfulness_pred": 4.0,
    "colorfulness_true": 0.0,
    "dcf": 3.0,
    "auc": 0.02,
}
# The study's nine settings of the U-Net (one factor at a time), as the planner records them.
SETTINGS = [
    ("default", None, None, "Default", {}),
    ("lr=0.0002", "lr", 2e-4, "Lower LR", {"lr": 2e-4}),
    ("lr=0.001", "lr", 1e-3, "Higher LR", {"lr": 1e-3}),
    ("batch=8", "batch", 8, "Lower batch", {"batch_size": 8}),
    ("batch=32", "batch", 32, "Higher batch", {"batch_size": 32}),
    ("init=xavier", "init", "xavier", "Glorot init", {"init": "xavier"}),
    ("init=kaiming", "init", "kaiming", "He init", {"init": "kaiming"}),
    ("layers=n_down_5", "layers", "n_down_5", "n_down = 5", {"variant": "n_down_5"}),
    ("layers=n_down_7", "layers", "n_down_7", "n_down = 7", {"variant": "n_down_7"}),
]
DATA_KEY = "d" * 64


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def write_store(
    root: Path,
    *,
    name: str = "built",
    effects: dict[str, float] | None = None,
    gray_offset: dict[str, float] | None = None,
    seeds=(0, 1, 2),
    n_images: int = 40,
    noise: float = 0.05,
    seed_noise: float = 0.0,
    same_as_gray: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    description: str = "pix2pix U-Net generator (test store)",
    image_prefix: str = "img",
    settings=SETTINGS,
    generator: str = "unet",
    epochs: int = 8,
    reasons: dict[str, str] | None = None,
    precisions: dict[str, str] | None = None,
    run_format: int = 3,
    display_name: str | None = None,
) -> Path:
    """A study ``name`` of ``generator`` in ``root``; ``effects[setting]`` shifts every metric by that
    many of its SPREAD units (positive: higher values); ``same_as_gray`` settings predict gray exactly;
    ``precisions[setting]``: the precision its runs resolved to (default fp32); ``display_name``: the
    generator's name in reports, recorded as the planner and trainer record it (None: not recorded)."""
    effects = effects or {}
    gray_offset = gray_offset or {m: 0.5 * SPREAD[m] for m in METRICS}
    labels = labels or {}
    reasons = reasons or {}
    precisions = precisions or {}
    rng = np.random.default_rng(0)
    image_ids = [f"{image_prefix}{i:03d}.jpg" for i in range(n_images)]
    base = {m: BASE[m] + SPREAD[m] * rng.normal(0, 1, n_images) for m in METRICS}
    gray = {m: base[m] + gray_offset.get(m, 0.0) for m in METRICS}
    gray_frame = pd.DataFrame({"image_id": image_ids, **gray})
    baseline = root / "baselines" / DATA_KEY
    baseline.mkdir(parents=True, exist_ok=True)
    gray_frame.to_parquet(baseline / "gray_per_image.parquet", index=False)
    gray_means = {m: float(np.mean(v)) for m, v in gray.items()}
    _write(
        baseline / "gray.json",
        {
            "format_version": 1,
            "data_key": DATA_KEY,
            "n_images": n_images,
            "means": gray_means,
            "image_ids": image_ids,
            "samples": [],
        },
    )
    runs, record_settings = [], []
    for setting_id, factor, level, label, changes in settings:
        shown = labels.get(setting_id, label)
        record_settings.append(
            {
                "id": setting_id,
                "generator": generator,
                "factor": factor,
                "level": level,
                "label": shown,
                "changes": changes,
            }
        )
        for seed in seeds:
            run_id = f"{generator}-" + hashlib.sha256(f"{name}{setting_id}{seed}".encode()).hexdigest()[:12]
            run_dir = root / run_id
            if setting_id in reasons:
                runs.append(
                    {
                        "setting": setting_id,
                        "generator": generator,
                        "seed": seed,
                        "run_id": None,
                        "status": "infeasible",
                        "reason": reasons[setting_id],
                        "superseded": [],
                    }
                )
                continue
            seed_shift = seed_noise * rng.normal()
            values = {}
            for m in METRICS:
                if setting_id in same_as_gray:
                    values[m] = gray[m].copy()
                else:
                    shift = effects.get(setting_id, 0.0) * SPREAD[m] + seed_shift * SPREAD[m]
                    values[m] = base[m] + shift + noise * SPREAD[m] * rng.normal(0, 1, n_images)
            per_image = pd.DataFrame({"epoch": epochs, "image_id": image_ids, **values})
            run_dir.mkdir(parents=True)
            per_image.to_parquet(run_dir / "per_image.parquet", index=False)
            final_val = {m: float(np.mean(v)) for m, v in values.items()}
            loss_g = 12.0 + effects.get(setting_id, 0.0) + 0.01 * rng.normal()
            spec = {
                "generator": generator,
                "variant": changes.get("variant", "n_down_6"),
                "lr": changes.get("lr", 5e-4),
                "batch_size": changes.get("batch_size", 16),
                "init": changes.get("init", "normal"),
                "betas": [0.5, 0.999],
                "epochs": epochs,
                "seed": seed,
                "precision": "auto",
                "generator_options": {},
                "variant_config": {},
                "plugin": {},
                "files": {},
                "data": {"source": "sample", "size": 64, "limit": None, "val_fraction": 0.2, "seed": 123},
            }
            if run_format == 2:
                spec["image_size"] = 64
            _write(
                run_dir / "config.json",
                {
                    "format_version": run_format,
                    "run_id": run_id,
                    "generator": generator,
                    "variant": spec["variant"],
                    "spec": spec,
                    "spec_hash": run_id,
                    "lineage": run_id,
                    "options": {},
                    "plugin": {
                        "name": generator,
                        "description": description,
                        "variant_label": shown,
                        **({"display_name": display_name} if display_name else {}),
                    },
                    "data": {
                        "key": DATA_KEY,
                        "train": 190,
                        "val": n_images,
                        "spec": spec["data"],
                        "format_version": 2,
                    },
                },
            )
            _write(
                run_dir / "summary.json",
                {
                    "format_version": run_format,
                    "status": "completed",
                    "run_id": run_id,
                    "generator": generator,
                    "variant": spec["variant"],
                    "epochs": epochs,
                    "epochs_completed": epochs,
                    "final_train": {"loss_G_GAN": 2.0, "loss_G_L1": loss_g - 2.0, "loss_G": loss_g},
                    "final_val": final_val,
                    "baseline_gray": gray_means,
                    "samples": [],
                    "train_seconds": 60.0,
                    "precision": precisions.get(setting_id, "fp32"),
                    "device": "cpu",
                    "generator_parameters": 29_000_000,
                },
            )
            runs.append(
                {
                    "setting": setting_id,
                    "generator": generator,
                    "seed": seed,
                    "run_id": run_id,
                    "status": "planned",
                    "reason": None,
                    "superseded": [],
                }
            )
    named = {"display_name": display_name} if display_name else {}
    record = {
        "format_version": 2,
        "name": name,
        "settings": record_settings,
        "runs": runs,
        "design": {},
        "design_hash": name,
        "preset": "quick",
        "plugins": [generator],
        "factors": ["lr", "batch", "init", "layers"],
        "seeds": list(seeds),
        "generators": {generator: {"description": description, **named}},
        "command": "colorbench run (built by tests)",
    }
    _write(root / "studies" / f"{name}.json", record)
    return root
