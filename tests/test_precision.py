"""Precision as used, not as asked (issue 22): recorded with the run, never mixed within one run,
shown and flagged in reports; and the image size, held once in the run's spec.

The fault test runs real ``colorbench`` processes: a smoke run whose ``auto`` precision is forced
to bf16 is killed (-9) after its first checkpoint, then continued with ``auto`` forced to fp32.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from store_builder import write_store
from test_faults import assert_one_line_error, colorbench, run_dirs, summaries

from colorbench.errors import ColorbenchError
from colorbench.report import build_report, write_report
from colorbench.report.render import md_escape, tex_escape
from colorbench.store import RunDirectory
from colorbench.store.checkpoint import save_checkpoint
from colorbench.store.records import RUN_FORMAT, RunRecord
from colorbench.training import hardware
from colorbench.training.spec import InvalidRunError, RunRequest, RunSpec, resolve_request

SMOKE_AUTO = ("--plugin", "unet", "--preset", "smoke", "--vary", "lr", "--values", "lr=0.0005")


def _env(auto_precision: str) -> dict[str, str]:
    return {**os.environ, hardware.AUTO_PRECISION_ENV: auto_precision}


def _with_env(auto_precision: str, *args: str):
    old = os.environ.get(hardware.AUTO_PRECISION_ENV)
    os.environ[hardware.AUTO_PRECISION_ENV] = auto_precision
    try:
        return colorbench(*args)
    finally:
        if old is None:
            del os.environ[hardware.AUTO_PRECISION_ENV]
        else:
            os.environ[hardware.AUTO_PRECISION_ENV] = old


# --------------------------------------------------------------------------- what auto resolves to
def test_the_environment_forces_what_auto_resolves_to(monkeypatch):
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "0")  # hardware without native bf16
    monkeypatch.delenv(hardware.AUTO_PRECISION_ENV, raising=False)
    assert hardware.resolve_precision("auto", "cpu") == "fp32"
    assert "auto_precision" not in hardware.hardware_record("cpu")
    monkeypatch.setenv(hardware.AUTO_PRECISION_ENV, "bf16")
    assert hardware.resolve_precision("auto", "cpu") == "bf16"
    assert hardware.resolve_precision("fp32", "cpu") == "fp32"  # asked for: never overridden
    record = hardware.hardware_record("cpu")
    assert record["auto_precision"] == "bf16 (COLORBENCH_AUTO_PRECISION)" and record["native_bf16"] is False
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "1")
    monkeypatch.setenv(hardware.AUTO_PRECISION_ENV, "FP32")
    assert hardware.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setenv(hardware.AUTO_PRECISION_ENV, "fp16")
    with pytest.raises(ColorbenchError, match="COLORBENCH_AUTO_PRECISION='fp16': choose from fp32, bf16"):
        hardware.resolve_precision("auto", "cpu")


def test_a_checkpoint_in_another_precision_is_refused_or_with_restart_set_aside(tmp_path):
    from colorbench.training.resume import PrecisionChangedError, check_checkpoint_precision

    spec = resolve_request(RunRequest(image_size=32, epochs=2)).spec
    run = RunDirectory(tmp_path / spec.run_id)
    run.path.mkdir()
    assert check_checkpoint_precision(spec, run, "fp32", restart=False) is None  # no checkpoint
    save_checkpoint(run.checkpoint_path, {"epoch": 1, "generator": {}, "precision": "bf16"})
    assert run.checkpoint_precision() == "bf16" and run.state()[1] == "resume after epoch 1 (trained in bf16)"
    assert check_checkpoint_precision(spec, run, "bf16", restart=False) is None  # same: resumes
    with pytest.raises(PrecisionChangedError) as refused:
        check_checkpoint_precision(spec, run, "fp32", restart=False)
    message = str(refused.value)
    assert "\n" not in message and run.has_checkpoint()
    assert f"run {spec.run_id}: its checkpoint (after epoch 1) was trained in bf16" in message
    assert "precision auto resolves to fp32 here" in message
    assert "--restart" in message and "COLORBENCH_AUTO_PRECISION=bf16" in message
    why = check_checkpoint_precision(spec, run, "fp32", restart=True)
    assert why is not None and "bf16" in why and not run.has_checkpoint()


def test_a_checkpoint_without_its_precision_falls_back_on_the_summary(tmp_path):
    run = RunDirectory(tmp_path / "unet-000000000000")
    run.path.mkdir()
    save_checkpoint(run.checkpoint_path, {"epoch": 2, "generator": {}})  # as colorbench wrote them before
    assert run.checkpoint_precision() is None
    (run.path / "summary.json").write_text(json.dumps({"status": "running", "precision": "bf16"}))
    assert run.checkpoint_precision() == "bf16"


# --------------------------------------------------------------------------- real processes
def _kill_after_first_checkpoint(args: list[str], store: Path, auto_precision: str) -> Path:
    """Start ``colorbench ARGS``, kill -9 it once its first epoch checkpoint is on disk."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "colorbench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(auto_precision),
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("epoch 1/"):  # logged just before the checkpoint is written
                break
        deadline = time.monotonic() + 120
        while not list(store.glob("unet-*/checkpoint.pt")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    (run_dir,) = run_dirs(store)
    assert (run_dir / "checkpoint.pt").exists(), "".join(seen)
    return run_dir


def test_a_bf16_checkpoint_is_not_resumed_in_fp32_and_restart_trains_it_again(tmp_path):
    torch = pytest.importorskip("torch")
    store = tmp_path / "runs"
    epochs = 2
    args = ["run", *SMOKE_AUTO, "--set", f"epochs={epochs}", "--out", str(store)]
    run_dir = _kill_after_first_checkpoint(args, store, "bf16")
    checkpoint = run_dir / "checkpoint.pt"
    first = torch.load(checkpoint, weights_only=True)
    assert first["precision"] == "bf16"
    before = checkpoint.read_bytes(), (run_dir / "summary.json").read_text()
    assert json.loads(before[1])["precision"] == "bf16"

    plan = _with_env("fp32", *args, "--dry-run")
    assert f"resume after epoch {first['epoch']} (trained in bf16)" in plan.stdout, plan.stdout

    refused = _with_env("fp32", *args)  # the local executor: before anything trains
    line = assert_one_line_error(refused, 2, run_dir.name, "bf16", "fp32", "--restart")
    assert "precision auto resolves to fp32 here" in line, line
    assert "training" not in refused.stdout  # nothing started
    train_args = ["train", "--plugin", "unet", "--preset", "smoke", "--set", f"epochs={epochs}"]
    refused_train = _with_env("fp32", *train_args, "--out", str(store))  # the trainer's own check
    assert_one_line_error(refused_train, 2, run_dir.name, "bf16", "fp32", "--restart")
    assert (checkpoint.read_bytes(), (run_dir / "summary.json").read_text()) == before  # untouched

    resumed_log = (run_dir / "train.log").read_text()
    restarted = _with_env("fp32", *args, "--restart")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "resuming" not in restarted.stdout and "the run starts again from scratch" in restarted.stdout
    summary = summaries(store)[run_dir.name]
    assert summary["status"] == "completed" and summary["precision"] == "fp32"
    assert "trained in bf16" in summary["restarted_from_scratch"]
    assert summary["hardware"]["auto_precision"] == "fp32 (COLORBENCH_AUTO_PRECISION)"
    assert torch.load(checkpoint, weights_only=True)["precision"] == "fp32"
    epochs_logged = [json.loads(r)["epoch"] for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs_logged == list(range(1, epochs + 1))
    new_log = (run_dir / "train.log").read_text()[len(resumed_log) :]
    assert new_log.count("epoch 1/") == 1  # epoch 1 trained again, in this session
    listed = json.loads(colorbench("results", "--out", str(store), "--format", "json").stdout)
    assert [(r["precision"], r["precision_requested"]) for r in listed] == [("fp32", "auto")]
    again = _with_env("bf16", *args, "--dry-run")  # a completed run is a result: never refused
    assert "0 to run" in again.stdout, again.stdout


# --------------------------------------------------------------------------- reports
def test_a_report_over_mixed_precisions_says_so_in_every_format(tmp_path):
    mixed = {"init=xavier": "bf16", "init=kaiming": "bf16"}
    store = write_store(tmp_path / "mixed", name="mixed", seeds=(0, 1), precisions=mixed)
    report = build_report(store, "mixed", with_figures=False)
    (note,) = [n for n in report.notes if n.startswith("Mixed precision")]
    assert "fp32 (14 runs:" in note
    assert "bf16 (4 runs: unet Glorot init seed 0, unet Glorot init seed 1, unet He init seed 0" in note
    protocol = {item.name: item.value for item in report.protocol}
    assert protocol["Precision"].startswith("mixed: fp32 (14 runs), bf16 (4 runs); requested auto")
    texts = {}
    for fmt, name in (("html", "r.html"), ("latex", "r.tex"), ("markdown", "r.md"), ("csv", "r.csv")):
        texts[fmt] = write_report(report, fmt, tmp_path / name)[0].read_text()
    probe = note[:60]
    assert probe in html.unescape(texts["html"])
    assert md_escape(probe)[:50] in texts["markdown"]
    assert tex_escape(probe)[:40] in texts["latex"]
    frame = pd.read_csv(tmp_path / "r.csv")
    rows = frame[~frame["setting"].isin(["note", "verdict", "gray", "measure", "realism"])].set_index(
        "setting"
    )
    assert rows.loc["init=xavier", "precision"] == "bf16" and rows.loc["default", "precision"] == "fp32"
    assert rows.loc["init=xavier", "note"] == "precision bf16"  # the table itself marks each row
    assert frame["note"].str.startswith("Mixed precision").sum() == 1

    one = write_store(tmp_path / "one", name="one", seeds=(0,))
    plain = build_report(one, "one", with_figures=False)
    assert not [n for n in plain.notes if "Mixed precision" in n]
    assert {item.name: item.value for item in plain.protocol}["Precision"].startswith("fp32; requested auto")
    write_report(plain, "csv", tmp_path / "one.csv")
    table = pd.read_csv(tmp_path / "one.csv")
    table = table[~table["setting"].isin(["note", "verdict", "gray", "measure", "realism"])]
    assert set(table["precision"]) == {"fp32"} and table["note"].isna().all()


# --------------------------------------------------------------------------- image size, held once
def test_the_image_size_is_held_once_in_the_spec():
    spec = resolve_request(RunRequest(image_size=32, epochs=1)).spec
    stored = spec.to_dict()
    assert "image_size" not in stored and stored["data"]["size"] == 32 and spec.image_size == 32
    assert RunSpec.from_dict(stored) == spec
    # A format 2 spec (both fields) still reads, as the same run; two different sizes do not.
    assert RunSpec.from_dict({**stored, "image_size": 32}) == spec
    with pytest.raises(InvalidRunError, match="data spec is 32 px but image_size is 64"):
        RunSpec.from_dict({**stored, "image_size": 64})
    # The size is part of the identity through the data spec.
    assert resolve_request(RunRequest(image_size=64, epochs=1)).spec.run_id != spec.run_id


def test_set_image_size_and_image_size_options_work_as_before(tmp_path):
    from click.testing import CliRunner

    from colorbench.cli import main

    result = CliRunner().invoke(
        main,
        ["run", *SMOKE_AUTO, "--set", "image_size=64", "--out", str(tmp_path / "r"), "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    assert "64 px" in result.output
    bad = CliRunner().invoke(main, ["train", "--set", "image_size=100000", "--out", str(tmp_path / "r")])
    assert bad.exit_code == 2 and "image_size=100000" in bad.output
    info = CliRunner().invoke(main, ["data", "info", "--data", "sample", "--image-size", "48"])
    assert info.exit_code in (0, 1) and "48" in info.output  # 1: not prepared in this cache yet


def test_records_of_both_formats_give_the_image_size():
    spec = resolve_request(RunRequest(image_size=32, epochs=1)).spec.to_dict()
    new = RunRecord(run_id="unet-x", generator="unet", variant="n_down_5", spec=spec, spec_hash="x")
    assert new.format_version == RUN_FORMAT == 3 and new.image_size == 32
    old = RunRecord.from_dict({**new.to_dict(), "format_version": 2, "spec": {**spec, "image_size": 32}})
    assert old.image_size == 32 and old.format_version == 2
    assert list(new.table_fields()) == list(old.table_fields())  # the same columns, in the same order
    assert new.table_fields()["image_size"] == 32 == new.table_fields()["data_size"]


def test_a_format_2_store_still_renders_in_every_format(tmp_path):
    store = write_store(tmp_path / "old", name="old", seeds=(0,), run_format=2)
    report = build_report(store, "old", with_figures=False)
    assert {item.name: item.value for item in report.protocol}["Image size"] == "64 px"
    for fmt, name in (("html", "r.html"), ("latex", "r.tex"), ("markdown", "r.md"), ("csv", "r.csv")):
        text = write_report(report, fmt, tmp_path / name)[0].read_text()
        assert "Glorot init" in text
    assert "64 px" in (tmp_path / "r.md").read_text()
