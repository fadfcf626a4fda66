"""Reading a results store into one row per run: labels, order, statuses, odd stores, the CLI.

The stores are built by hand (JSON files in a tmp dir, in the format of docs/results-store.md), so
every expected value is known; test_report.py reuses the builders below.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.store.reader import load_runs, load_study
from colorbench.store.reader import study_names as list_studies

BASE_CONFIG = {
    "generator": "unet",
    "variant": "n_down_6",
    "lr": 5e-4,
    "batch_size": 16,
    "init": "normal",
    "init_gain": 0.02,
    "epochs": 3,
    "image_size": 16,
    "lambda_l1": 100.0,
    "gan_mode": "vanilla",
    "seed": 0,
    "precision": "fp32",
    "device": "cpu",
    "eval_every": 1,
    "num_samples": 2,
    "data": "sample",
    "data_limit": 30,
    "data_val_fraction": 0.2,
    "data_seed": 123,
    "data_categories": [],
    "tensorboard": False,
}
BASE_VALUES = {
    "loss_G_GAN": 2.0,
    "loss_G_L1": 10.0,
    "loss_G": 12.0,
    "l1_ab": 0.09,
    "psnr": 24.0,
    "ssim": 0.9,
    "ciede2000": 10.0,
    "dcf": 20.0,
    "auc": 0.9,
}
GRAY = {"l1_ab": 0.1, "psnr": 25.0, "ssim": 0.92, "ciede2000": 11.0, "dcf": 36.0, "auc": 0.88}
# Settings in a deliberately scrambled order: the table's order must come from factor and level.
SETTINGS = [
    {
        "id": "layers=n_down_7",
        "factor": "layers",
        "level": "n_down_7",
        "label": "n_down = 7",
        "changes": {"variant": "n_down_7"},
    },
    {
        "id": "init=kaiming",
        "factor": "init",
        "level": "kaiming",
        "label": "He init",
        "changes": {"init": "kaiming"},
    },
    {"id": "lr=0.001", "factor": "lr", "level": 0.001, "label": "x", "changes": {"lr": 0.001}},
    {"id": "default", "factor": None, "level": None, "label": "Default", "changes": {}},
    {"id": "batch=32", "factor": "batch", "level": 32, "label": "x", "changes": {"batch_size": 32}},
    {
        "id": "init=xavier",
        "factor": "init",
        "level": "xavier",
        "label": "Glorot init",
        "changes": {"init": "xavier"},
    },
    {"id": "lr=0.0002", "factor": "lr", "level": 0.0002, "label": "x", "changes": {"lr": 0.0002}},
    {"id": "batch=8", "factor": "batch", "level": 8, "label": "x", "changes": {"batch_size": 8}},
    {
        "id": "layers=n_down_5",
        "factor": "layers",
        "level": "n_down_5",
        "label": "n_down = 5",
        "changes": {"variant": "n_down_5"},
    },
]
TABLE_ORDER = [
    "Default",
    "Lower LR",
    "Higher LR",
    "Lower batch",
    "Higher batch",
    "Glorot init",
    "He init",
    "n_down = 7",
    "n_down = 5",
]
# Relative change of every number per setting: init moves most, then batch, then depth, lr least.
CLAIM_EFFECTS = {
    "default": 0.0,
    "lr=0.0002": -0.02,
    "lr=0.001": 0.03,
    "batch=8": 0.2,
    "batch=32": -0.1,
    "init=xavier": -0.1,
    "init=kaiming": 0.4,
    "layers=n_down_7": 0.08,
    "layers=n_down_5": -0.05,
}


def write_png(path: Path, rgb: tuple[int, int, int], size: int = 16) -> None:
    rng = np.random.default_rng(sum(rgb))
    pixels = np.clip(np.array(rgb)[None, None] + rng.integers(-20, 20, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def write_run(
    root: Path,
    run_id: str,
    config: dict,
    *,
    status: str = "completed",
    values: dict | None = None,
    samples: int = 2,
    history: bool = True,
    drop: tuple[str, ...] = (),
    **extra,
) -> None:
    """A run directory as the trainer writes it; ``values`` = final losses and metrics by column key."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    values = dict(values or BASE_VALUES)
    (run_dir / "config.json").write_text(
        json.dumps(
            {
                "config": config,
                "config_hash": run_id.split("-")[-1] * 5,
                "plugin": {
                    "name": config["generator"],
                    "description": f"{config['generator']} test generator",
                    "trainable": True,
                    "manages_init": False,
                    "version": "0.1.0",
                    "variant_label": f"n_down = {config['variant'][-1]}",
                },
                "data": {
                    "key": "k" * 64,
                    "path": "/cache/k",
                    "train": 24,
                    "val": 6,
                    "spec": {"source": "sample", "root": None, "size": config["image_size"]},
                },
            }
        )
    )
    losses = {k: values[k] for k in ("loss_G_GAN", "loss_G_L1", "loss_G") if k in values}
    losses.update(loss_D=0.6, loss_D_fake=0.5, loss_D_real=0.7)
    metrics = {k: v for k, v in values.items() if not k.startswith("loss") and k not in drop}
    summary = {
        "status": status,
        "generator": config["generator"],
        "variant": config["variant"],
        "epochs": config["epochs"],
        "epochs_completed": config["epochs"],
        "device": "cpu",
        "device_name": "x86_64 (2 threads)",
        "precision": "fp32",
        "train_seconds": 3.0,
        "images_per_s": 24.0,
        "versions": {"colorbench": "0.1.0", "torch": "2.14.1", "python": "3.11.7", "plugin": "0.1.0"},
        "baseline_gray": GRAY,
    }
    if status == "completed":
        names = [f"{i:03d}_{kind}.png" for i in range(samples) for kind in ("input", "pred", "truth")]
        summary.update(final_train=losses, final_val={**metrics, "val_loss_G": 9.0}, samples=names)
        for i in range(samples):
            write_png(run_dir / "samples" / f"{i:03d}_input.png", (128, 128, 128))
            write_png(run_dir / "samples" / f"{i:03d}_pred.png", (sum(map(ord, run_id)) % 200, 120, 90))
            write_png(run_dir / "samples" / f"{i:03d}_truth.png", (200, 80, 40))
    summary.update(extra)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    if history:
        epochs = config["epochs"] if status == "completed" else max(1, config["epochs"] - 1)
        rows = [
            {
                "epoch": e,
                **{k: v * (1 + 0.3 / e) for k, v in losses.items()},
                **({k: v for k, v in metrics.items()} if e == epochs or config["eval_every"] else {}),
            }
            for e in range(1, epochs + 1)
        ]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_study(root: Path, name: str, settings: list[dict], runs: list[dict], **extra) -> None:
    record = {
        "name": name,
        "format_version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T01:00:00+00:00",
        "command": f"colorbench run --study {name}",
        "preset": "quick",
        "overrides": {"epochs": "3"},
        "plugins": sorted({r["generator"] for r in runs}),
        "factors": ["lr", "batch", "init", "layers"],
        "grid": False,
        "seeds": sorted({r["seed"] for r in runs}),
        "settings": settings,
        "runs": runs,
        **extra,
    }
    (root / "studies").mkdir(parents=True, exist_ok=True)
    (root / "studies" / f"{name}.json").write_text(json.dumps(record))


def study_store(
    root: Path,
    name: str = "full",
    seeds=(0, 1, 2),
    effects: dict[str, float] = CLAIM_EFFECTS,
    generator: str = "unet",
    noise: float = 0.001,
) -> Path:
    """Every setting of SETTINGS over ``seeds``; value = base * (1 + effect) * (1 + noise * (seed - 1))."""
    runs = []
    for setting in SETTINGS:
        for seed in seeds:
            key = f"{name}/{generator}/{setting['id']}/{seed}".encode()
            run_id = f"{generator}-{hashlib.sha256(key).hexdigest()[:12]}"
            scale = (1 + effects[setting["id"]]) * (1 + noise * (seed - 1))
            config = {**BASE_CONFIG, "generator": generator, "seed": seed, **setting["changes"]}
            write_run(root, run_id, config, values={k: v * scale for k, v in BASE_VALUES.items()})
            runs.append(
                {
                    "setting": setting["id"],
                    "generator": generator,
                    "seed": seed,
                    "run_id": run_id,
                    "status": "planned",
                    "reason": None,
                }
            )
    write_study(root, name, SETTINGS, runs)
    return root


def odd_store(root: Path) -> Path:
    """One seed; a diverged run, an infeasible setting, a run not started, a failed run, a missing
    metric, an unreadable summary, and a torn metrics.jsonl line."""
    settings = [s for s in SETTINGS if s["id"] != "layers=n_down_5"] + [
        {
            "id": "layers=n_down_9",
            "factor": "layers",
            "level": "n_down_9",
            "label": "n_down = 9",
            "changes": {"variant": "n_down_9"},
        },
    ]
    special = {
        "lr=0.001": "diverged",
        "batch=8": "not-started",
        "init=kaiming": "failed",
        "layers=n_down_9": "infeasible",
        "batch=32": "unreadable",
    }
    runs = []
    for setting in settings:
        run_id = f"unet-{setting['id'].replace('=', '').replace('.', '')[:12]:0>12}"
        config = {**BASE_CONFIG, **setting["changes"]}
        kind = special.get(setting["id"])
        entry = {
            "setting": setting["id"],
            "generator": "unet",
            "seed": 0,
            "run_id": run_id,
            "status": "planned",
            "reason": None,
        }
        if kind == "infeasible":
            entry.update(run_id=None, status="infeasible", reason="n_down 9 needs images of at least 512 px")
        elif kind == "diverged":
            write_run(
                root, run_id, config, status="diverged", diverged_epoch=2, last_finite_losses={"loss_G": 12.0}
            )
        elif kind == "failed":  # failed before training: the runner writes summary.json only
            (root / run_id).mkdir()
            failure = {"status": "failed", "error": "RuntimeError: out of memory"}
            (root / run_id / "summary.json").write_text(json.dumps(failure))
        elif kind == "unreadable":
            write_run(root, run_id, config)
            (root / run_id / "summary.json").write_text("{not json")
        elif kind is None:
            write_run(root, run_id, config, drop=("ssim",) if setting["id"] == "init=xavier" else ())
        runs.append(entry)
    with open(root / runs[0]["run_id"] / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "loss_G": ')  # torn by a kill in mid-write
    write_study(root, "odd", settings, runs)
    return root


# --------------------------------------------------------------------------- tests
def test_rows_labels_and_order_come_from_factor_and_level(tmp_path):
    runs = load_runs(study_store(tmp_path))
    assert len(runs) == len(SETTINGS) * 3
    first_seed = runs[runs["seed"] == 0]
    assert first_seed["label"].tolist() == TABLE_ORDER
    assert first_seed["order"].tolist() == list(range(len(SETTINGS)))
    assert first_seed["change"].tolist()[:3] == ["baseline", "lr = 0.0002", "lr = 0.001"]
    assert set(runs["status"]) == {"completed"}
    row = runs[(runs["setting"] == "init=kaiming") & (runs["seed"] == 2)].iloc[0]
    assert row["loss_G"] == pytest.approx(12.0 * 1.4 * 1.001)
    assert row["gray_psnr"] == GRAY["psnr"] and row["init"] == "kaiming" and row["batch_size"] == 16
    assert row["n_train"] == 24 and row["version_torch"] == "2.14.1" and row["epochs_completed"] == 3


def test_lower_and_higher_are_relative_to_the_baseline_value(tmp_path):
    # With a baseline lr of 1e-4 both levels are higher; with 2e-3 both are lower.
    study_store(tmp_path)
    for run_dir in tmp_path.glob("unet-*"):
        record = json.loads((run_dir / "config.json").read_text())
        if record["config"]["lr"] == 5e-4:
            record["config"]["lr"] = 1e-4
            (run_dir / "config.json").write_text(json.dumps(record))
    runs = load_runs(tmp_path)
    assert set(runs.loc[runs["factor"] == "lr", "label"]) == {"Higher LR"}


def test_odd_store_statuses_never_raise(tmp_path):
    runs = load_runs(odd_store(tmp_path)).set_index("setting")
    assert runs.loc["lr=0.001", "status"] == "diverged"
    assert "epoch 2" in runs.loc["lr=0.001", "reason"] and np.isnan(runs.loc["lr=0.001", "loss_G"])
    assert runs.loc["batch=8", "status"] == "not-started"
    assert (
        runs.loc["init=kaiming", "status"] == "failed"
        and "out of memory" in runs.loc["init=kaiming", "reason"]
    )
    assert runs.loc["layers=n_down_9", "status"] == "infeasible"
    assert runs.loc["layers=n_down_9", "variant"] == "n_down_9"  # from the setting's changes
    assert runs.loc["layers=n_down_9", "label"] == "n_down = 9"  # from the plugin
    assert runs.loc["batch=32", "status"] == "unreadable" and "summary.json" in runs.loc["batch=32", "reason"]
    assert np.isnan(runs.loc["init=xavier", "ssim"]) and runs.loc["init=xavier", "psnr"] == 24.0


def test_study_listing_and_errors(tmp_path):
    study_store(tmp_path, name="b", seeds=(0,))
    write_study(tmp_path, "a", SETTINGS[:1], [])
    assert list_studies(tmp_path) == ["a", "b"]
    assert load_study(tmp_path, "b").name == "b"
    assert len(load_runs(tmp_path, ["a"])) == 0
    with pytest.raises(ColorbenchError, match="no study 'c'.*studies: a, b"):
        load_study(tmp_path, "c")
    with pytest.raises(ColorbenchError, match="no results store"):
        load_runs(tmp_path / "missing")
    (tmp_path / "studies" / "bad.json").write_text("[1, 2")
    with pytest.raises(ColorbenchError, match="malformed: not valid JSON"):
        load_study(tmp_path, "bad")
    (tmp_path / "studies" / "bad.json").write_text(json.dumps({"settings": [], "runs": [{"setting": "x"}]}))
    with pytest.raises(ColorbenchError, match="runs\\[0\\] lacks generator, seed"):
        load_study(tmp_path, "bad")
    (tmp_path / "studies" / "bad.json").write_text(
        json.dumps({"format_version": 9, "settings": [], "runs": []})
    )
    with pytest.raises(ColorbenchError, match="newer"):
        load_study(tmp_path, "bad")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ColorbenchError, match="no study records"):
        load_runs(empty)


def test_results_cli_csv_parses_back(tmp_path):
    odd_store(tmp_path)
    result = CliRunner().invoke(main, ["results", "--out", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))  # stderr: one line per damaged record
    assert len(frame) == 9 and {"status", "label", "loss_G", "psnr", "gray_auc"} <= set(frame.columns)
    assert frame.loc[frame["setting"] == "default", "loss_G"].item() == pytest.approx(12.0)
    as_json = CliRunner().invoke(main, ["results", "--out", str(tmp_path), "--format", "json"])
    records = json.loads(as_json.stdout)
    assert len(records) == 9 and records[0]["label"] == "Default"


@pytest.mark.parametrize(
    "args, message",
    [
        (["results", "--out", "{missing}"], "no results store"),
        (["results", "--out", "{store}", "--study", "nope"], "no study 'nope'"),
        (["report", "--out", "{store}", "--study", "nope", "--format", "html"], "no study 'nope'"),
        (["report", "--out", "{missing}", "--format", "markdown"], "no results store"),
    ],
)
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    study_store(tmp_path / "store", seeds=(0,))
    args = [a.format(missing=tmp_path / "missing", store=tmp_path / "store") for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_grid_settings_and_record_statuses_pass_through(tmp_path):
    """A --grid cell keeps the record's label; not-applicable and running runs keep their status."""
    config = {**BASE_CONFIG, "lr": 0.001, "batch_size": 8}
    write_run(tmp_path, "unet-grid00000000", config)
    write_run(tmp_path, "unet-running000000", BASE_CONFIG, status="running")
    grid = {
        "id": "grid:lr=0.001,batch=8",
        "factor": "grid",
        "level": {"lr": 0.001, "batch": 8},
        "label": "lr 0.001, batch 8",
        "changes": {"lr": 0.001, "batch_size": 8},
    }
    settings = [SETTINGS[3], grid, SETTINGS[1]]
    runs = [
        {"setting": "default", "generator": "unet", "seed": 0, "run_id": "unet-running000000"},
        {"setting": grid["id"], "generator": "unet", "seed": 0, "run_id": "unet-grid00000000"},
        {
            "setting": "init=kaiming",
            "generator": "unet",
            "seed": 0,
            "run_id": None,
            "status": "not-applicable",
            "reason": "unet sets its own weights",
        },
    ]
    write_study(tmp_path, "grid", settings, runs)
    frame = load_runs(tmp_path).set_index("setting")
    assert frame.loc[grid["id"], "label"] == "lr 0.001, batch 8"
    assert json.loads(frame.loc[grid["id"], "level"]) == {"lr": 0.001, "batch": 8}
    # A summary that says running while no process holds the run's lock: the run was killed.
    assert frame.loc["default", "status"] == "interrupted"
    assert frame.loc["init=kaiming", "status"] == "not-applicable"
    assert frame.index.tolist() == ["default", "init=kaiming", grid["id"]]  # Default, init, the grid cell
