"""Studies: the plan as data, the results store's skip/resume/force, locks, Ctrl-C, colorize."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.store import Status
from colorbench.study.design import parse_factors, parse_values, study_settings
from colorbench.study.plan import build_plan

BASELINE = {"lr": 5e-4, "batch_size": 16, "init": "normal", "variant": "n_down_6"}
UNET_VARIANTS = ["n_down_5", "n_down_6", "n_down_7", "n_down_8", "n_down_9"]


def _settings(factors, **kw):
    return study_settings(
        factors, BASELINE, variants=UNET_VARIANTS, depth_order=UNET_VARIANTS, default_variant="n_down_6", **kw
    )


# --------------------------------------------------------------------------- the design
@pytest.mark.parametrize(
    "factor, levels",
    [
        ("lr", [2e-4, 1e-3]),
        ("batch", [8, 32]),
        ("init", ["xavier", "kaiming"]),
        ("layers", ["n_down_5", "n_down_7"]),
    ],
)
def test_each_factor_is_baseline_plus_its_two_levels(factor, levels):
    settings = _settings([factor])
    assert settings[0].id == "default" and settings[0].changes == {}
    assert [s.level for s in settings[1:]] == levels
    assert all(s.factor == factor for s in settings[1:])


def test_vary_all_is_the_studys_nine_setting_table_with_one_shared_baseline():
    settings = _settings(parse_factors("all"), variant_label=lambda v: v.replace("n_down_", "n_down = "))
    assert len(settings) == 9
    assert sum(1 for s in settings if s.changes == {}) == 1
    labels = [s.label for s in settings]
    assert labels[0] == "Default" and "Glorot init" in labels and "He init" in labels
    assert "n_down = 5" in labels and "n_down = 7" in labels


def test_values_override_levels_and_never_duplicate_the_baseline():
    settings = _settings(["lr"], values=parse_values(("lr=1e-4,2e-4,5e-4",)))
    assert [s.level for s in settings] == [None, 1e-4, 2e-4]


def test_grid_is_the_full_product():
    settings = _settings(["lr", "init"], grid=True)
    assert len(settings) == 3 * 3
    assert len({tuple(sorted(s.changes.items())) for s in settings}) == 9
    assert any(s.changes == {"lr": 1e-3, "init": "kaiming"} for s in settings)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: parse_factors("lr,momentum"), "unknown factor momentum"),
        (lambda: parse_values(("lr=abc",)), "must be float"),
        (lambda: parse_values(("depth=1",)), "--values expects"),
        (lambda: _settings(["lr"], values={"batch": (4,)}), "not varied"),
        (lambda: _settings(["layers"], values={"layers": ("n_down_99",)}), "unknown depth variant"),
    ],
)
def test_design_errors_are_one_line(call, message):
    with pytest.raises(ColorbenchError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_plan_counts_seeds_and_infeasible_settings():
    plan = build_plan(
        name="t", plugins=["unet"], factors=["init", "layers"], preset="quick", overrides={}, seeds=3
    )
    assert plan.seeds == [0, 1, 2]
    assert len(plan.runs) == 5 * 3
    infeasible = [r for r in plan.runs if r.status is Status.INFEASIBLE]
    assert len(infeasible) == 3 and "128 px" in infeasible[0].reason  # n_down 7 at 64 px
    planned = [r for r in plan.runs if r.status is Status.PLANNED]
    assert len(planned) == 12 and all(r.record()["status"] == "planned" for r in planned)
    assert len({r.run_id for r in planned}) == len(planned)  # distinct settings -> distinct runs


def test_gray_baseline_plugin_gets_no_factors():
    plan = build_plan(
        name="t", plugins=["gray"], factors=["lr", "init"], preset="quick", overrides={}, seeds=2
    )
    assert [r.setting.id for r in plan.runs] == ["default", "default"]


def test_paper_preset_requires_coco_data():
    with pytest.raises(ColorbenchError, match="coco"):
        build_plan(name="t", plugins=["unet"], factors=["init"], preset="paper", overrides={}, seeds=1)


def test_cli_usage_errors_exit_2_with_one_line(tmp_path):
    runner = CliRunner()
    for args, text in [
        (["run", "--plugin", "nope", "--vary", "init"], "nope"),
        (["run", "--plugin", "unet", "--vary", "speed"], "unknown factor"),
        (["run", "--plugin", "unet", "--seeds", "0"], "--seeds"),
        (["run", "--plugin", "unet", "--set", "epochs=x"], "epochs"),
        (["run", "--vary", "init"], "--plugin"),
    ]:
        result = runner.invoke(main, [*args, "--out", str(tmp_path), "--dry-run"])
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output and result.output.strip().count("\n") == 0


# --------------------------------------------------------------------------- running studies
def _study_args(photo_dir: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--plugin",
        "unet",
        "--vary",
        "init",
        "--preset",
        "smoke",
        "--data",
        f"folder:{photo_dir}",
        "--set",
        "data_limit=none",
        "--set",
        "data_seed=1",
        "--set",
        "num_samples=1",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *extra,
    ]


def _smoke_plan(name: str, photo_dir: Path, cache: Path):
    return build_plan(
        name=name,
        plugins=["unet"],
        factors=["init"],
        preset="smoke",
        overrides={"data_limit": "none", "data_seed": "1", "num_samples": "1"},
        seeds=1,
        data=f"folder:{photo_dir}",
        cache_dir=str(cache),
    )


def _summaries(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/summary.json")}


def _epoch_lines(out: Path) -> dict[str, int]:
    return {p.parent.name: p.read_text().count("epoch 1/") for p in out.glob("*/train.log")}


def test_study_runs_skips_when_done_and_force_reruns(photo_dir, tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    runner = CliRunner()
    first = runner.invoke(main, _study_args(photo_dir, out, cache))
    assert first.exit_code == 0, first.output
    summaries = _summaries(out)
    assert len(summaries) == 3 and {s["status"] for s in summaries.values()} == {"completed"}
    record = json.loads((out / "studies" / "unet-init.json").read_text())
    assert [s["id"] for s in record["settings"]] == ["default", "init=xavier", "init=kaiming"]
    assert {r["run_id"] for r in record["runs"]} == set(summaries)

    again = runner.invoke(main, _study_args(photo_dir, out, cache))
    assert again.exit_code == 0 and "3 done, 0 to run" in again.output
    assert _epoch_lines(out) == {k: 1 for k in summaries}  # nothing trained twice

    forced = runner.invoke(main, _study_args(photo_dir, out, cache, "--force"))
    assert forced.exit_code == 0 and "[3/3]" in forced.output
    # a study naming a subset shares the runs: nothing new to train
    subset = runner.invoke(
        main, _study_args(photo_dir, out, cache, "--study", "other", "--values", "init=xavier")
    )
    assert "2 done, 0 to run" in subset.output


def test_dry_run_prints_the_plan_and_writes_nothing(photo_dir, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main, _study_args(photo_dir, out, tmp_path / "cache", "--dry-run", "--seeds", "2")
    )
    assert result.exit_code == 0
    assert "6 runs: 0 done, 6 to run" in result.output
    assert not out.exists()


def _spawn_study(photo_dir: Path, out: Path, cache: Path, *extra: str) -> subprocess.Popen:
    code = "import sys; from colorbench.cli import main; sys.argv[0] = 'colorbench'; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *_study_args(photo_dir, out, cache, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Like a terminal's foreground job: a shell starting pytest in the background sets SIGINT
        # to "ignore", which children inherit and Python then keeps (no KeyboardInterrupt).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.slow
def test_two_processes_on_one_study_train_each_run_once(photo_dir, tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    a = _spawn_study(photo_dir, out, cache, "--set", "epochs=2")
    b = _spawn_study(photo_dir, out, cache, "--set", "epochs=2")
    out_a, _ = a.communicate(timeout=600)
    out_b, _ = b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, out_a + out_b
    summaries = _summaries(out)
    assert len(summaries) == 3 and {s["status"] for s in summaries.values()} == {"completed"}
    for log in out.glob("*/train.log"):
        text = log.read_text()
        assert text.count("epoch 1/2") == 1 and text.count("epoch 2/2") == 1, text


def test_run_lock_is_exclusive_and_freed_when_the_holder_is_killed(tmp_path):
    from colorbench.store import RunBusy, run_lock

    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path; from colorbench.store import run_lock\n"
                f"with run_lock(Path({str(run_dir)!r})):\n"
                "    print('held', flush=True); time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunBusy, match="pid"):
        with run_lock(run_dir):
            pass
    holder.kill()
    holder.wait()
    with run_lock(run_dir) as previous:  # the stale lock is taken over at once
        assert "pid" in previous


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_the_epoch_and_the_next_run_continues(photo_dir, tmp_path, signum):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    proc = _spawn_study(photo_dir, out, cache, "--set", "epochs=4")
    deadline = time.time() + 300
    while time.time() < deadline and not any(
        len(p.read_text().splitlines()) >= 1 for p in out.glob("*/metrics.jsonl")
    ):
        time.sleep(0.05)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "Traceback" not in output and "run the same command again" in output
    record = json.loads((out / "studies" / "unet-init.json").read_text())  # consistent JSON
    assert len(record["runs"]) == 3
    statuses = [s["status"] for s in _summaries(out).values()]
    assert "interrupted" in statuses
    if signum == signal.SIGTERM:
        return  # the same path as Ctrl-C from here on

    result = CliRunner().invoke(main, _study_args(photo_dir, out, cache, "--set", "epochs=4"))
    assert result.exit_code == 0, result.output
    assert "resume after epoch" in result.output
    assert {s["status"] for s in _summaries(out).values()} == {"completed"}
    assert any("resuming" in p.read_text() for p in out.glob("*/train.log"))


def test_ray_executor_against_a_real_local_head(photo_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'colorbench[ray]')")
    from colorbench.study.executors import RayExecutor
    from colorbench.study.runner import run_study

    out, cache = tmp_path / "runs", tmp_path / "cache"
    plan = _smoke_plan("ray-smoke", photo_dir, cache)  # the workers share one prepared cache (locked)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        started = time.perf_counter()
        result = run_study(plan, out, RayExecutor(), command="test", cache_dir=str(cache))
        seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
    assert len(result.outcomes) == 3
    assert {o["status"] for o in result.outcomes} == {"completed"}
    assert {s["status"] for s in _summaries(out).values()} == {"completed"}
    assert (out / "studies" / "ray-smoke.json").exists()
    print(f"ray smoke study of 3 runs: {seconds:.1f}s")


def test_a_failing_run_is_recorded_and_the_study_goes_on(photo_dir, tmp_path, monkeypatch):
    from colorbench.study.executors import LocalExecutor
    from colorbench.study.runner import run_study
    from colorbench.training import trainer

    real = trainer.train_run

    def flaky(spec, options, run_dir, **kw):
        if spec.init == "xavier":
            raise RuntimeError("simulated out-of-memory")
        return real(spec, options, run_dir, **kw)

    monkeypatch.setattr(trainer, "train_run", flaky)
    plan = _smoke_plan("f", photo_dir, tmp_path / "c")
    result = run_study(plan, tmp_path / "runs", LocalExecutor(), command="t", cache_dir=str(tmp_path / "c"))
    statuses = sorted(o["status"] for o in result.outcomes)
    assert statuses == ["completed", "completed", "failed"]
    failed = [s for s in _summaries(tmp_path / "runs").values() if s["status"] == "failed"]
    assert failed[0]["error"] == "RuntimeError: simulated out-of-memory"


# --------------------------------------------------------------------------- colorize
def test_colorize_odd_sizes_and_modes_at_full_resolution(photo_dir, tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    args = _study_args(photo_dir, out, cache, "--values", "init=xavier", "--plugin", "gray")
    assert CliRunner().invoke(main, args).exit_code == 0
    unet_run = next(p.parent for p in out.glob("unet-*/checkpoint.pt"))
    gray_run = next(out.glob("gray-*"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    colour = (rng.random((53, 37, 3)) * 255).astype(np.uint8)
    Image.fromarray(colour).save(inputs / "odd.png")
    Image.fromarray(colour[..., 0]).save(inputs / "grey.png")
    Image.fromarray(colour).convert("RGBA").save(inputs / "alpha.png")
    Image.fromarray(colour).convert("CMYK").save(inputs / "cmyk.jpg")
    Image.fromarray(colour[..., 0].astype(np.uint16) * 257).save(inputs / "grey16.png")
    (inputs / "broken.jpg").write_bytes(b"not an image")
    result = CliRunner().invoke(
        main, ["colorize", str(inputs), "--run", str(unet_run), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "5 colorized" in result.output and "1 skipped" in result.output and "broken.jpg" in result.output
    for name in ("odd", "grey", "alpha", "cmyk", "grey16"):
        image = Image.open(tmp_path / "o" / f"{name}.png")
        assert image.size == (37, 53) and image.mode == "RGB"
    # Through the gray generator (ab = 0) the output is exactly the input's full-resolution L.
    from skimage.color import rgb2lab

    result = CliRunner().invoke(
        main, ["colorize", str(inputs / "odd.png"), "--run", str(gray_run), "--output", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    got = rgb2lab(np.asarray(Image.open(tmp_path / "g" / "odd.png")) / 255.0)
    want = rgb2lab(colour / 255.0)[..., 0]
    assert np.abs(got[..., 0] - want).max() < 0.5  # 8-bit rounding of the PNG
    assert np.abs(got[..., 1:]).max() < 1.0


def test_colorize_rejects_a_directory_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(main, ["colorize", str(tmp_path), "--run", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_workers_run_in_spawned_processes_sharing_the_cores(photo_dir, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, _study_args(photo_dir, out, tmp_path / "cache", "--workers", "2"))
    assert result.exit_code == 0, result.output
    summaries = _summaries(out)
    assert {s["status"] for s in summaries.values()} == {"completed"} and len(summaries) == 3
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert all(s["device_name"].endswith(f"({threads} threads)") for s in summaries.values())
