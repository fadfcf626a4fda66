"""The training protocol on tiny real data: losses, repeatability, resume after kill -9, divergence."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from colorbench.cli import main
from colorbench.data import DataSpec, prepare
from colorbench.errors import ColorbenchError
from colorbench.metrics import MeanAccumulator
from colorbench.training import RunRequest, resolve_request, train_run
from colorbench.training import trainer as trainer_module
from colorbench.training.objective import LOSS_NAMES, GANLoss, pix2pix_train_step

TINY = dict(
    generator="unet",
    variant="n_down_5",
    image_size=32,
    epochs=2,
    batch_size=4,
    num_samples=2,
    device="cpu",
    precision="fp32",
)


@pytest.fixture(scope="module")
def tiny_data(photo_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return prepare(
        DataSpec(source="folder", root=str(photo_dir), size=32, val_fraction=0.2, seed=1), cache_dir=cache
    )


def _request(photo_dir: Path, **changes) -> RunRequest:
    return RunRequest(data=f"folder:{photo_dir}", data_seed=1, **{**TINY, **changes})


def _train(photo_dir: Path, run_dir: Path, data, **changes):
    resolved = resolve_request(_request(photo_dir, **changes))
    return train_run(resolved.spec, resolved.options, run_dir, data=data, verbose=False)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- the objective
def test_six_losses_follow_the_pix2pix_definitions():
    torch.manual_seed(0)
    from colorbench.models import PatchDiscriminator, get_generator

    g = get_generator("unet").build_module("n_down_5", 32)
    d = PatchDiscriminator(in_channels=3)
    l_norm, ab = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 2, 32, 32) * 0.4 - 0.2
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.999))
    # n_down 5 has no dropout, so G(L) before the step is what the step's L1 term sees.
    g.train()
    with torch.no_grad():
        expected_l1 = (g(l_norm) - ab).abs().mean().item() * 100.0
    losses = pix2pix_train_step(g, d, GANLoss("vanilla"), opt_g, opt_d, l_norm, ab, 100.0, nullcontext)
    assert set(losses) == set(LOSS_NAMES)
    assert losses["loss_D"].item() == pytest.approx(
        0.5 * (losses["loss_D_fake"] + losses["loss_D_real"]).item()
    )
    assert losses["loss_G"].item() == pytest.approx((losses["loss_G_GAN"] + losses["loss_G_L1"]).item())
    assert losses["loss_G_L1"].item() == pytest.approx(expected_l1, rel=1e-5)


def test_gan_modes():
    pred = torch.tensor([[0.0, 2.0]])
    assert GANLoss("vanilla")(pred, True).item() == pytest.approx(
        float(np.mean([np.log(2), np.log(1 + np.exp(-2.0))])), rel=1e-6
    )
    assert GANLoss("lsgan")(pred, True).item() == pytest.approx((1 + 1) / 2)
    assert GANLoss("lsgan")(pred, False).item() == pytest.approx((0 + 4) / 2)


def test_epoch_means_are_weighted_by_batch_size():
    means = MeanAccumulator()
    means.update({"loss_G": torch.tensor(1.0)}, 4)
    means.update({"loss_G": torch.tensor(4.0)}, 2)
    assert means.compute()["loss_G"] == pytest.approx((4 * 1.0 + 2 * 4.0) / 6)


def test_logged_epoch_losses_are_the_weighted_means_of_the_steps(photo_dir, tiny_data, tmp_path, monkeypatch):
    seen: list[tuple[dict, int]] = []
    real_step = trainer_module.pix2pix_train_step

    def recording_step(*args, **kwargs):
        losses = real_step(*args, **kwargs)
        seen.append(({k: v.item() for k, v in losses.items()}, args[5].shape[0]))
        return losses

    monkeypatch.setattr(trainer_module, "pix2pix_train_step", recording_step)
    _train(photo_dir, tmp_path / "run", tiny_data, epochs=1)
    row = _read_jsonl(tmp_path / "run" / "metrics.jsonl")[0]
    n = sum(bs for _, bs in seen)
    assert row["train_images"] == n
    for name in LOSS_NAMES:
        assert row[name] == pytest.approx(sum(v[name] * bs for v, bs in seen) / n, rel=1e-5)


# --------------------------------------------------------------------------- a run end to end
def test_run_writes_its_directory_and_is_repeatable(photo_dir, tiny_data, tmp_path):
    a = _train(photo_dir, tmp_path / "a", tiny_data, eval_every=1)
    b = _train(photo_dir, tmp_path / "b", tiny_data, eval_every=1)
    run = tmp_path / "a"
    for name in (
        "config.json",
        "metrics.jsonl",
        "summary.json",
        "checkpoint.pt",
        "train.log",
        "per_image.parquet",
    ):
        assert (run / name).exists(), name
    assert a.status.value == "completed" and a.epochs_completed == 2
    rows_a, rows_b = _read_jsonl(run / "metrics.jsonl"), _read_jsonl(tmp_path / "b" / "metrics.jsonl")
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for name in LOSS_NAMES + ("l1_ab", "psnr", "auc"):
            assert ra[name] == rb[name], name  # to the last digit
    assert rows_a[0]["val_loss_G"] > 0 and "psnr" in rows_a[0]  # eval_every=1: val on every epoch
    assert a.final_val == b.final_val
    for key in ("l1_ab", "psnr", "ssim", "ciede2000", "dcf", "auc"):
        assert key in a.final_val and key in a.baseline_gray
    assert sorted(os.listdir(run / "samples")) == sorted(a.samples) == ["000_pred.png", "001_pred.png"]
    config = json.loads((run / "config.json").read_text())
    assert config["spec"]["precision"] == "fp32" and config["spec"]["variant"] == "n_down_5"
    assert config["run_id"] == a.run_id and a.precision == "fp32" and a.device == "cpu"
    # pandas reads a study's runs without custom parsing
    import pandas as pd

    frame = pd.read_json(run / "metrics.jsonl", lines=True)
    assert list(frame["epoch"]) == [1, 2]
    # The per-image table's means are the summary's and each evaluation's values.
    per_image = pd.read_parquet(run / "per_image.parquet")
    assert sorted(per_image["epoch"].unique()) == [1, 2]
    assert per_image.groupby("epoch")["image_id"].nunique().tolist() == [len(tiny_data.val_l)] * 2
    for epoch, row in zip((1, 2), rows_a, strict=True):
        means = per_image[per_image["epoch"] == epoch].mean(numeric_only=True)
        for key in ("l1_ab", "psnr", "ssim", "ciede2000"):
            assert means[key] == pytest.approx(row[key], rel=1e-9, abs=1e-9), (epoch, key)
            if epoch == 2:
                assert means[key] == pytest.approx(a.final_val[key], rel=1e-9, abs=1e-9), key
    # Each evaluation is timed and logged, so its cost can be read off the store.
    assert all(r["eval_wall_time_s"] > 0 for r in rows_a)
    assert (run / "train.log").read_text().count("val CIEDE2000=") == 2
    # Asking again for a completed run trains nothing.
    assert _train(photo_dir, run, tiny_data, eval_every=1) == a


def test_gray_generator_is_evaluated_without_training(photo_dir, tiny_data, tmp_path):
    summary = _train(photo_dir, tmp_path / "g", tiny_data, generator="gray", variant=None)
    assert summary.status.value == "completed" and summary.epochs_completed == 0
    assert summary.final_train is None
    # The gray generator and the gray baseline are one notion: the same numbers, to the last digit.
    for key, value in summary.baseline_gray.items():
        assert summary.final_val[key] == value, key


# --------------------------------------------------------------------------- kill -9 and resume
_CHILD = textwrap.dedent("""
    import json, sys
    from colorbench.training import RunOptions, RunSpec, train_run
    spec, options = RunSpec.from_dict(json.loads(sys.argv[1])), RunOptions.from_dict(json.loads(sys.argv[2]))
    train_run(spec, options, sys.argv[3], cache_dir=sys.argv[4], verbose=False)
""")


def test_kill_9_then_resume_gives_identical_final_metrics(photo_dir, tiny_data, tmp_path):
    # Checkpoints at every epoch (checkpoint_every=0); on a time budget: the test after this one.
    resolved = resolve_request(_request(photo_dir, epochs=4, eval_every=2, checkpoint_every=0))
    cache = tiny_data.path.parent
    store = tmp_path / "store"
    reference = train_run(
        resolved.spec, resolved.options, store / "uninterrupted", data=tiny_data, verbose=False
    )

    killed = store / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps(resolved.spec.to_dict()),
            json.dumps(resolved.options.to_dict()),
            str(killed),
            str(cache),
        ],
        env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        lines = (
            (killed / "metrics.jsonl").read_text().splitlines() if (killed / "metrics.jsonl").exists() else []
        )
        if len(lines) >= 1 or child.poll() is not None:
            break
        time.sleep(0.01)
    assert child.poll() is None, "the run finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    done_before = len(_read_jsonl(killed / "metrics.jsonl"))
    assert 1 <= done_before < 4
    assert json.loads((killed / "summary.json").read_text())["status"] == "running"

    resumed = train_run(resolved.spec, resolved.options, killed, data=tiny_data, verbose=False)
    assert "resuming" in (killed / "train.log").read_text()
    assert resumed.final_val == reference.final_val
    assert resumed.final_train == reference.final_train
    rows = _read_jsonl(killed / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    import pandas as pd

    per_image = pd.read_parquet(killed / "per_image.parquet")
    expected = pd.read_parquet(store / "uninterrupted" / "per_image.parquet")
    pd.testing.assert_frame_equal(per_image, expected)


def _spawn_run(resolved, run_dir: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps(resolved.spec.to_dict()),
            json.dumps(resolved.options.to_dict()),
            str(run_dir),
            str(cache),
        ],
        env=env,
        # Like a terminal's foreground job (a background shell would leave SIGINT ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _epochs_logged(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_when(child: subprocess.Popen, read, ready) -> None:
    """SIGKILL ``child`` once ``ready(read())`` holds, checked while it is stopped (SIGSTOP)."""
    deadline = time.time() + 1200  # generous: a loaded machine trains 10x slower
    while time.time() < deadline and child.poll() is None:
        child.send_signal(signal.SIGSTOP)  # frozen: what is on disk is what the kill leaves
        if ready(read()):
            child.send_signal(signal.SIGKILL)
            break
        child.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def test_kill_9_between_checkpoints_on_a_time_budget_resumes_to_identical_numbers(
    photo_dir, tiny_data, tmp_path
):
    from colorbench.store.checkpoint_peek import checkpoint_epoch

    epochs = 8
    every_epoch = resolve_request(_request(photo_dir, epochs=epochs, eval_every=2, checkpoint_every=0))
    store = tmp_path / "store"
    reference = train_run(
        every_epoch.spec, every_epoch.options, store / "uninterrupted", data=tiny_data, verbose=False
    )
    # Deterministic whatever the machine's speed: first with a checkpoint at every epoch, killed
    # after epoch 2 or later; then resumed with a budget no epoch reaches (so the epochs it trains
    # have no checkpoint) and killed again once it has trained past the checkpoint.
    budget = every_epoch.options.replace(checkpoint_every=1000.0)
    assert every_epoch.spec == resolve_request(_request(photo_dir, epochs=epochs, eval_every=2)).spec

    killed = store / "killed"
    cache = tiny_data.path.parent
    first = _spawn_run(every_epoch, killed, cache)
    _kill_when(
        first,
        lambda: (killed / "checkpoint.pt").exists() and checkpoint_epoch(killed / "checkpoint.pt") or 0,
        lambda saved: saved >= 2,
    )
    saved = checkpoint_epoch(killed / "checkpoint.pt")
    second = _spawn_run(dataclasses.replace(every_epoch, options=budget), killed, cache)
    _kill_when(second, lambda: _epochs_logged(killed), lambda logged: logged > saved + 1)
    logged = _epochs_logged(killed)
    assert checkpoint_epoch(killed / "checkpoint.pt") == saved  # no checkpoint since
    assert 2 <= saved < logged < epochs  # killed after epochs that no checkpoint holds

    resumed = train_run(every_epoch.spec, budget, killed, data=tiny_data, verbose=False)
    assert f"resuming killed after epoch {saved}" in (killed / "train.log").read_text()
    assert resumed.final_val == reference.final_val
    assert resumed.final_train == reference.final_train
    assert [r["epoch"] for r in _read_jsonl(killed / "metrics.jsonl")] == list(range(1, epochs + 1))
    import pandas as pd

    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "per_image.parquet"),
        pd.read_parquet(store / "uninterrupted" / "per_image.parquet"),
    )
    assert checkpoint_epoch(killed / "checkpoint.pt") == epochs  # always saved at the end


def test_ctrl_c_finishes_the_epoch_checkpoints_it_and_resumes_identically(photo_dir, tiny_data, tmp_path):
    from colorbench.store.checkpoint_peek import checkpoint_epoch

    resolved = resolve_request(_request(photo_dir, epochs=4))  # default budget: no checkpoint before the end
    assert resolved.options.checkpoint_every is None
    reference = train_run(
        resolved.spec, resolved.options, tmp_path / "reference", data=tiny_data, verbose=False
    )

    run = tmp_path / "interrupted"
    child = _spawn_run(resolved, run, tiny_data.path.parent)
    deadline = time.time() + 600
    while time.time() < deadline and child.poll() is None and _epochs_logged(run) < 1:
        time.sleep(0.005)
    assert child.poll() is None, "the run finished before it could be interrupted"
    child.send_signal(signal.SIGINT)
    child.wait(timeout=600)  # it finishes the epoch first
    assert child.returncode != 0
    saved = checkpoint_epoch(run / "checkpoint.pt")
    assert saved is not None and 1 <= saved == _epochs_logged(run) < 4, saved
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == saved

    resumed = train_run(resolved.spec, resolved.options, run, data=tiny_data, verbose=False)
    assert f"resuming interrupted after epoch {saved}" in (run / "train.log").read_text()
    assert resumed.final_val == reference.final_val
    assert resumed.final_train == reference.final_train


def test_checkpoint_every_is_an_option_in_minutes():
    request = RunRequest(generator="unet", epochs=1)
    assert request.with_overrides({"checkpoint_every": "2.5"}).checkpoint_every == 2.5
    assert request.with_overrides({"checkpoint_every": "auto"}).checkpoint_every is None
    with pytest.raises(ColorbenchError, match="checkpoint_every='soon': expected a number of minutes"):
        request.with_overrides({"checkpoint_every": "soon"})
    with pytest.raises(ColorbenchError, match="checkpoint_every=-1.0"):
        resolve_request(request.with_overrides({"checkpoint_every": "-1"}))
    a, b = (resolve_request(request.with_overrides({"checkpoint_every": v})) for v in ("0", "30"))
    assert a.spec.run_id == b.spec.run_id and a.options != b.options


def test_a_stop_check_stops_after_an_epoch_and_the_run_resumes_to_identical_metrics(
    photo_dir, tiny_data, tmp_path
):
    """The trainer's hook between epochs (a worker whose study's process has gone uses it)."""
    resolved = resolve_request(_request(photo_dir, epochs=3))
    reference = train_run(resolved.spec, resolved.options, tmp_path / "whole", data=tiny_data, verbose=False)
    run_dir, asked = tmp_path / "stopped", []

    def stop_after_epoch_1() -> str | None:
        asked.append(len(_read_jsonl(run_dir / "metrics.jsonl")))
        return "the study's process has gone" if asked[-1] == 1 else None

    with pytest.raises(KeyboardInterrupt):
        train_run(
            resolved.spec,
            resolved.options,
            run_dir,
            data=tiny_data,
            verbose=False,
            stop_check=stop_after_epoch_1,
        )
    assert asked == [1]  # asked after the epoch's records were written
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 1
    assert "stopping after epoch 1: the study's process has gone" in (run_dir / "train.log").read_text()
    resumed = train_run(resolved.spec, resolved.options, run_dir, data=tiny_data, verbose=False)
    assert resumed.final_val == reference.final_val and resumed.final_train == reference.final_train


# --------------------------------------------------------------------------- divergence
def test_nan_loss_marks_run_diverged_and_keeps_logs(photo_dir, tiny_data, tmp_path, monkeypatch):
    real_step = trainer_module.pix2pix_train_step
    calls = {"n": 0}
    steps_per_epoch = tiny_data.train_l.shape[0] // 4

    def nan_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        losses = real_step(*args, **kwargs)
        if calls["n"] > steps_per_epoch:
            losses = {k: v * float("nan") for k, v in losses.items()}
        return losses

    monkeypatch.setattr(trainer_module, "pix2pix_train_step", nan_in_second_epoch)
    summary = _train(photo_dir, tmp_path / "nan", tiny_data, epochs=3)
    assert summary.status.value == "diverged"
    assert summary.diverged_epoch == 2
    first = _read_jsonl(tmp_path / "nan" / "metrics.jsonl")[0]
    assert summary.last_finite_losses == {k: first[k] for k in LOSS_NAMES}
    assert "diverged" in (tmp_path / "nan" / "train.log").read_text()
    on_disk = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert on_disk["status"] == "diverged"


def test_absurd_learning_rate_diverges_without_crashing(photo_dir, tiny_data, tmp_path):
    summary = _train(photo_dir, tmp_path / "lr", tiny_data, epochs=2, lr=1e30, lambda_l1=1e30)
    assert summary.status.value == "diverged"


# --------------------------------------------------------------------------- rejected configurations
@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(variant="n_down_7"), "infeasible"),
        (dict(batch_size=64), "larger than the train split"),
        (dict(lr=-1e-3), "lr=-0.001: expected a finite number > 0"),
        (dict(lr=float("nan")), "lr=nan"),
        (dict(lambda_l1=float("inf")), "lambda_l1=inf"),
        (dict(init_gain=float("nan")), "init_gain=nan"),
        (dict(seed=-1), "seed=-1"),
        (dict(seed=2**63), "seed="),
        (dict(init="uniform"), "init='uniform': choose from"),
        (dict(gan_mode="wgan"), "gan_mode='wgan'"),
        (dict(variant="n_down_99"), "no variant"),
        (dict(generator="nope"), "nope"),
        (dict(image_size=100000), "image_size=100000"),
        (dict(data_limit=1), "data_limit=1"),
        (dict(data_resize="stretch"), "data_resize='stretch'"),
    ],
)
def test_configurations_that_cannot_run_are_rejected_before_any_work(
    photo_dir, tiny_data, tmp_path, changes, message
):
    with pytest.raises(ColorbenchError, match=message) as info:
        _train(photo_dir, tmp_path / "bad", tiny_data, **changes)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "bad").exists()


def test_cli_rejects_bad_configuration_with_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["train", "--plugin", "unet", "--set", "lr=-1", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "lr=-1" in result.output
    result = CliRunner().invoke(main, ["train", "--set", "bogus=1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown setting 'bogus'" in result.output


def test_cli_trains_one_run_end_to_end(photo_dir, tiny_data, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--plugin",
            "unet",
            "--preset",
            "smoke",
            "--data",
            f"folder:{photo_dir}",
            "--set",
            "data_seed=1",
            "--set",
            "data_limit=none",
            "--set",
            "device=cpu",
            "--out",
            str(tmp_path / "runs"),
            "--cache-dir",
            str(tiny_data.path.parent),
        ],
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = (p for p in (tmp_path / "runs").iterdir() if p.name != "baselines")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert "psnr" in result.output and "gray" in result.output
    assert f"run directory: {run_dir}" in result.output and "epoch 1/1" in result.output


def test_tensorboard_gets_losses_metrics_and_the_sample_grid(photo_dir, tiny_data, tmp_path):
    pytest.importorskip(
        "tensorboard", reason="tensorboard is not installed (pip install 'colorbench[tensorboard]')"
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(photo_dir, tmp_path / "tb", tiny_data, epochs=1, tensorboard=True)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"loss_G", "loss_D", "images_per_s", "final/psnr", "final/auc"} <= scalars
    assert events.Tags()["images"] == ["samples (prediction)"]


def test_tensorboard_without_the_package_is_a_clear_error(photo_dir, tiny_data, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ColorbenchError, match=r"colorbench\[tensorboard\]"):
        _train(photo_dir, tmp_path / "x", tiny_data, epochs=1, tensorboard=True)


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch, native, expected):
    from colorbench.training import hardware

    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "1" if native else "0")
    assert hardware.resolve_precision("auto", "cpu") == expected
    assert hardware.resolve_precision("fp32", "cpu") == "fp32"
    assert hardware.resolve_precision("bf16", "cpu") == "bf16"  # asked for: honoured, even emulated
    with pytest.raises(ColorbenchError, match="precision='fp8'"):
        resolve_request(RunRequest(precision="fp8"))
