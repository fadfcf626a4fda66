"""The dry run's wall-time estimate: its arithmetic on given costs, and the dry run that prints it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from colorbench.study.estimate import (
    Costs,
    RunShape,
    checkpoint_saves,
    describe_estimate,
    estimate_run,
    estimate_study,
    evaluations,
    makespan,
    packed_slowdown,
    train_images_per_epoch,
)

COSTS = Costs(
    train_s_per_image=0.5,
    eval_s_per_image=0.1,
    checkpoint_s=12.0,
    warmup_s=3.0,
    run_start_s=2.0,
    source="given",
)


def shape(label="unet Default seed 0", generator="unet", epochs=8, **changes) -> RunShape:
    fields = {
        "label": label,
        "generator": generator,
        "epochs": epochs,
        "total_epochs": epochs,
        "train_images_per_epoch": train_images_per_epoch(190, 16),
        "val_images": 47,
        "eval_every": 2,
    }
    return RunShape(**{**fields, **changes})


def test_images_per_epoch_and_evaluations_follow_the_trainer():
    assert train_images_per_epoch(190, 16) == 176  # drop_last: 11 whole batches
    assert train_images_per_epoch(19, 8) == 16
    assert evaluations(1, 8, 2) == 4  # epochs 2, 4, 6 and the final evaluation
    assert evaluations(1, 8, 0) == 1  # the final one only
    assert evaluations(5, 8, 2) == 2  # resuming after epoch 4: 6 and the final one


def test_checkpoint_saves_follow_the_policy():
    assert checkpoint_saves(60.0, 10.0, 8, None) == 1  # 8 minutes of training: only the last epoch
    assert checkpoint_saves(60.0, 10.0, 8, 0) == 8  # every epoch
    assert checkpoint_saves(300.0, 10.0, 8, None) == 4  # every 10 minutes: epochs 2, 4, 6, 8
    assert (
        checkpoint_saves(300.0, 20.0, 8, None) == 3
    )  # then 50 x 20 s = 1000 s apart: epochs 2, 6 and the last
    assert checkpoint_saves(60.0, 10.0, 0, None) == 0


def test_one_run_is_its_training_evaluation_saves_and_start():
    run = estimate_run(shape(), COSTS)
    assert run.train_s == pytest.approx(8 * 176 * 0.5 + 3.0)
    assert run.eval_s == pytest.approx(4 * 47 * 0.1)
    # 88-s epochs: the 10-minute budget is spent at epoch 7; the last epoch is always saved.
    assert (run.saves, run.checkpoint_s) == (2, 24.0)
    assert run.total_s == pytest.approx(704 + 3 + 18.8 + 24 + 2)
    # Record writes: config, history reset, summary twice, history per epoch and at the end,
    # per-image rows per evaluation.
    writing = estimate_run(shape(), replace(COSTS, record_write_s=0.1))
    assert writing.start_s == pytest.approx(2.0 + (5 + 8 + 4) * 0.1)
    resumed = estimate_run(shape(epochs=3, total_epochs=8), COSTS)  # after epoch 5: 6, 7, 8
    assert resumed.train_s == pytest.approx(3 * 176 * 0.5 + 3.0)
    assert resumed.eval_s == pytest.approx(2 * 47 * 0.1)  # epoch 6 and the final one


def test_workers_take_runs_in_order_and_packing_slows_each_run():
    assert makespan([3, 1, 1, 1], 1) == 6
    assert makespan([3, 1, 1, 1], 2) == 3  # the second slot takes the three short runs
    assert makespan([3, 1, 1, 1], 2, worker_start_s=5) == 8
    assert makespan([], 4) == 0
    assert packed_slowdown(1) == 1.0
    assert packed_slowdown(2) == 2.0  # no gain from packing: two runs share the device's throughput
    assert packed_slowdown(4, speedup=2.0) == 2.0
    with pytest.raises(ValueError):
        packed_slowdown(2, speedup=3.0)


def test_study_estimate_adds_start_up_and_schedules_both_generators():
    runs = [(shape(f"unet {i}"), COSTS) for i in range(3)] + [(shape("zhang 0", "zhang", epochs=4), COSTS)]
    alone = estimate_study(runs, startup_s=10.0)
    one = estimate_run(shape(), COSTS).total_s
    four = estimate_run(shape(epochs=4), COSTS).total_s
    assert alone.wall_s == pytest.approx(10 + 3 * one + four)
    assert alone.per_generator_s == pytest.approx({"unet": 3 * one, "zhang": four})
    # Two workers on a CPU share it (runs_per_device = workers): each run takes twice as long to
    # train and evaluate; saves and starts do not slow down.
    shared = estimate_study(runs, workers=2, runs_per_device=2, startup_s=10.0, worker_start_s=4.0)
    slowed = estimate_run(shape(), COSTS, slowdown=2.0)
    assert slowed.train_s == pytest.approx(2 * (8 * 176 * 0.5 + 3.0))
    assert slowed.eval_s == pytest.approx(2 * 4 * 47 * 0.1) and slowed.start_s == 2.0
    assert slowed.saves == 2  # 176-s epochs: the 10-minute budget is spent at epochs 4 and 8
    slow, slow_four = slowed.total_s, estimate_run(shape(epochs=4), COSTS, slowdown=2.0).total_s
    assert shared.wall_s == pytest.approx(10 + 4 + max(2 * slow, slow + slow_four))
    # A measured packing gain shortens it.
    gained = estimate_study(runs, workers=2, runs_per_device=2, packing_speedup=1.6, startup_s=10.0)
    assert gained.wall_s < shared.wall_s
    text = describe_estimate(shared, "cpu test")
    assert "unet: 3 run(s)" in text and "zhang: 1 run(s)" in text and "from given" in text
    assert "2 runs per device (packing assumed to add no throughput)" in text


def _dry_run(tmp_path, *extra, probe: bool):
    env = {**os.environ, "COLORBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("COLORBENCH_NO_PROBE", None)
    out = tmp_path / "runs"
    args = [
        "--plugin",
        "unet",
        "--preset",
        "smoke",
        "--vary",
        "lr",
        "--values",
        "lr=0.001",
        "--out",
        str(out),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "colorbench", "run", *args, "--dry-run", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, **({} if probe else {"COLORBENCH_NO_PROBE": "1"})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, out


def test_dry_run_prints_a_probed_estimate_and_trains_nothing(tmp_path):
    stdout, out = _dry_run(tmp_path, probe=True)
    assert "estimate on this machine (cpu " in stdout
    assert "from probe: unet n_down_5 32 px batch 4, " in stdout and "measured now" in stdout
    assert "unet: 2 run(s), " in stdout and "study: " in stdout
    # Nothing trained, nothing written: no store, no probe file left beside it.
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".colorbench-probe")]


def test_dry_run_without_probe_says_what_it_cannot_estimate(tmp_path):
    stdout, out = _dry_run(tmp_path, "--no-probe", probe=True)
    assert "2 run(s) left out: no comparable run in the store and --no-probe" in stdout
    assert "probe:" not in stdout and not out.exists()


def test_store_timings_of_this_machine_are_used_before_a_probe(tmp_path):
    """A completed run of the same kind on this hardware gives the costs; its history is read back."""
    from colorbench.store import Store
    from colorbench.store.records import RUN_FORMAT
    from colorbench.study.throughput import from_store, kind_of, this_machine
    from colorbench.training import build_request, resolve_request

    machine = this_machine("cpu")
    spec = resolve_request(build_request("smoke", "unet")).spec
    run = tmp_path / "runs" / spec.run_id
    run.mkdir(parents=True)
    record = {
        "run_id": spec.run_id,
        "generator": "unet",
        "variant": spec.variant,
        "spec": spec.to_dict(),
        "spec_hash": spec.spec_hash,
        "data": {"train": 19, "val": 5},
        "format_version": RUN_FORMAT,
    }
    (run / "config.json").write_text(json.dumps(record))
    hardware = {"cpu": machine.model, "threads": machine.threads}
    summary = {
        "status": "completed",
        "device": "cpu",
        "precision": machine.precision_of[spec.precision],
        "hardware": hardware,
        "wall_seconds_this_session": 30.0,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    rows = [  # 16 images an epoch; the first epoch 2 s slower; evaluations of 5 images
        {"epoch": 1, "train_images": 16, "wall_time_s": 10.0},
        {"epoch": 2, "train_images": 16, "wall_time_s": 8.0, "eval_wall_time_s": 1.0},
        {"epoch": 3, "train_images": 16, "wall_time_s": 8.0, "eval_wall_time_s": 1.5},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    costs = from_store(Store(tmp_path / "runs"), kind_of(spec), machine)
    assert costs is not None and costs.source.startswith("store: timings of 1 earlier run(s)")
    assert costs.train_s_per_image == pytest.approx(0.5)
    assert costs.warmup_s == pytest.approx(2.0)
    assert costs.eval_s_per_image == pytest.approx(1.0 / 5)  # the evaluation between epochs
    assert costs.run_start_s == pytest.approx(30.0 - 26.0 - 2.5)
    # Another machine's runs are not this machine's timings.
    hardware["cpu"] = "another CPU"
    (run / "summary.json").write_text(json.dumps(summary))
    assert from_store(Store(tmp_path / "runs"), kind_of(spec), machine) is None


def test_dry_run_for_a_device_this_machine_lacks_says_so_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    stdout, out = _dry_run(tmp_path, "--set", "device=cuda", probe=False)
    assert "no estimate on this machine: device 'cuda' was asked for" in stdout
    assert "Traceback" not in stdout and not out.exists()
