"""Opening a run never runs its code: a crafted checkpoint is refused by every command that meets it.

The checkpoint below is what an attacker would share: ``torch.save`` of an object whose
``__reduce__`` calls ``os.system``. Unpickled with ``weights_only=False`` it would create the
marker file. Each command runs in a real subprocess, and each test asserts the marker is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from colorbench.store.checkpoint import (
    DamagedCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


class Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _colorbench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def _study_args(photo_dir: Path, out: Path) -> list[str]:
    return [
        "run", "--plugin", "unet", "--vary", "init", "--preset", "smoke", "--data", f"folder:{photo_dir}",
        "--set", "data_limit=none", "--set", "data_seed=1", "--study", "shared", "--out", str(out),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def shared_store(photo_dir, module_tmp):
    """A completed smoke study (three runs), as a colleague would share it."""
    out = module_tmp("shared") / "runs"
    result = _colorbench(*_study_args(photo_dir, out))
    assert result.returncode == 0, result.stdout + result.stderr
    run_dirs = sorted(p.parent for p in out.glob("unet-*/checkpoint.pt"))
    assert len(run_dirs) == 3
    return out, run_dirs[0]


def _plant_payload(run_dir: Path, marker: Path) -> None:
    torch.save({"generator": Payload(marker)}, run_dir / "checkpoint.pt")


def _copy_store(store: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(store, copy)
    return copy


def test_the_payload_really_runs_when_unpickled_unsafely(tmp_path):
    # Guards the other tests: if this checkpoint did nothing, their "marker absent" would prove nothing.
    marker = tmp_path / "pwned"
    _plant_payload(tmp_path, marker)
    torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert marker.exists()


def test_colorize_refuses_a_crafted_checkpoint(shared_store, photo_dir, tmp_path):
    out = _copy_store(shared_store[0], tmp_path)
    run_dir = out / shared_store[1].name
    marker = tmp_path / "pwned"
    _plant_payload(run_dir, marker)
    photo = sorted(photo_dir.iterdir())[0]
    result = _colorbench("colorize", photo, "--run", run_dir, "--output", tmp_path / "colorized")
    assert result.returncode != 0
    assert "refused" in result.stderr and "--trust-checkpoint" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert not marker.exists()
    assert not (tmp_path / "colorized").exists() or not any((tmp_path / "colorized").iterdir())


def test_report_on_a_store_with_a_crafted_checkpoint_runs_nothing(shared_store, tmp_path):
    out = _copy_store(shared_store[0], tmp_path)
    marker = tmp_path / "pwned"
    _plant_payload(out / shared_store[1].name, marker)
    report = tmp_path / "report" / "report.html"
    result = _colorbench("report", "--out", out, "--study", "shared", "--format", "html", "--output", report)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report.exists()
    assert not marker.exists()


def test_a_study_rerun_retrains_a_run_whose_checkpoint_is_crafted(shared_store, photo_dir, tmp_path):
    out = _copy_store(shared_store[0], tmp_path)
    run_dir = out / shared_store[1].name
    marker = tmp_path / "pwned"
    _plant_payload(run_dir, marker)
    # An interrupted run: the rerun resumes it, i.e. opens its checkpoint.
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = "interrupted"
    (run_dir / "summary.json").write_text(json.dumps(summary))

    result = _colorbench(*_study_args(photo_dir, out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["status"] == "completed"
    assert "refused" in after["restarted_from_scratch"]
    assert "starts again from scratch" in (run_dir / "train.log").read_text()
    load_checkpoint(run_dir / "checkpoint.pt")  # the retrained run's checkpoint is safe again


def test_trust_checkpoint_is_the_explicit_opt_in(tmp_path):
    marker = tmp_path / "pwned"
    _plant_payload(tmp_path, marker)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    assert not marker.exists()
    # With trust the pickle runs: the documented risk of the opt-in.
    load_checkpoint(tmp_path / "checkpoint.pt", trust=True)
    assert marker.exists()


def test_a_truncated_checkpoint_is_damaged_not_unsafe(shared_store, tmp_path):
    data = (shared_store[1] / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedCheckpointError):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_a_checkpoint_round_trips_weights_optimisers_and_rng_states(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimiser.step()
    state = {
        "generator": model.state_dict(),
        "opt_g": optimiser.state_dict(),
        "epoch": 3,
        "history": [{"epoch": 1, "loss_G": 1.5}],
        "rng": rng_state(),
    }
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    expected_draw = torch.rand(5)
    loaded = load_checkpoint(tmp_path / "checkpoint.pt")
    assert loaded["epoch"] == 3 and loaded["history"] == state["history"]
    for key, value in state["generator"].items():
        assert torch.equal(loaded["generator"][key], value)
    assert torch.equal(loaded["opt_g"]["state"][0]["exp_avg"], optimiser.state_dict()["state"][0]["exp_avg"])
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(5), expected_draw)
