"""Several devices and packed runs (issue 23): placement rules, where workers train, and that where
a run trains never changes what it is (its id) or what it measures (its numbers).

The placement itself is a pure function, tested with fake device names; the workers and the Ray
executor are tested with real processes and a real local Ray head (its GPU declared, not present:
Ray hands out fractions of it all the same, and each run falls back to this machine's CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from colorbench.errors import ColorbenchError
from colorbench.study.executor_plugins import make_executor
from colorbench.study.placement import (
    default_devices,
    describe_placement,
    packing_depth,
    parse_devices,
    place_workers,
    ray_task_resources,
    threads_per_worker,
    visible_gpu,
)

METRICS_KEYS = ("loss_G", "loss_G_GAN", "loss_G_L1", "loss_D", "loss_D_real", "loss_D_fake")
# Two runs (baseline and Glorot init), one epoch each: enough for two packed workers.
STUDY = (
    "--plugin", "unet", "--preset", "smoke", "--set", "epochs=1", "--set", "precision=fp32",
    "--vary", "init", "--values", "init=xavier",
)  # fmt: skip


# --------------------------------------------------------------------------- the pure placement
def test_workers_go_round_robin_over_the_devices_before_any_is_packed_deeper():
    gpus = ["gpuA", "gpuB", "gpuC"]
    assert place_workers(gpus, None, None) == gpus  # one run per device by default
    assert place_workers(gpus, 2, None) == ["gpuA", "gpuB", "gpuC"] * 2
    assert packing_depth(place_workers(gpus, 2, None)) == 2
    # Fewer workers than slots: spread first, so no device holds two while another holds none.
    assert place_workers(gpus, 4, 4) == ["gpuA", "gpuB", "gpuC", "gpuA"]
    assert place_workers(gpus, None, 2) == ["gpuA", "gpuB"]
    # --workers alone packs as deep as it needs (--workers 2 on the CPU: two runs on the CPU).
    assert place_workers(["cpu"], None, 2) == ["cpu", "cpu"]
    assert place_workers(["gpuA", "gpuB"], None, 5) == ["gpuA", "gpuB"] * 2 + ["gpuA"]
    assert describe_placement(place_workers(["gpuA", "gpuB"], 2, 3)) == "3 workers: gpuA x2, gpuB x1"


@pytest.mark.parametrize(
    "devices, runs_per_device, workers, message",
    [
        (["gpuA"], 0, None, "--runs-per-device must be at least 1, got 0"),
        (["gpuA"], -1, 2, "--runs-per-device must be at least 1, got -1"),
        (["gpuA"], None, 0, "--workers must be at least 1, got 0"),
        (["gpuA", "gpuB"], 2, 5, r"--workers 5 is more than 2 device\(s\) x --runs-per-device 2 = 4"),
        ([], None, None, "no device to train on"),
    ],
)
def test_nonsense_placements_are_one_line_errors(devices, runs_per_device, workers, message):
    with pytest.raises(ColorbenchError, match=message):
        place_workers(devices, runs_per_device, workers)


def test_devices_are_parsed_and_checked_against_the_gpus_this_machine_has():
    assert parse_devices("cuda:0, CUDA:1") == ["cuda:0", "cuda:1"]
    assert parse_devices("cuda", gpu_count=3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert parse_devices("cpu") == ["cpu"]
    for text, message in [
        ("gpu0", "unknown device 'gpu0'"),
        ("cuda:x", "unknown device 'cuda:x'"),
        ("cuda:0,cuda:0", "named twice; pack runs onto one with --runs-per-device"),
        ("cpu,cuda:0", "mixes cpu and cuda"),
        ("", "unknown device ''"),
    ]:
        with pytest.raises(ColorbenchError, match=message):
            parse_devices(text)
    with pytest.raises(ColorbenchError, match="cuda:2: torch sees 2 .cuda:0 to cuda:1. CUDA GPU"):
        parse_devices("cuda:0,cuda:2", gpu_count=2)
    with pytest.raises(ColorbenchError, match="cuda:0: torch sees no CUDA GPU on this machine"):
        parse_devices("cuda:0", gpu_count=0)


def test_by_default_every_visible_gpu_else_the_device_runs_resolve_to():
    assert default_devices("cuda", 2) == ["cuda:0", "cuda:1"]
    assert default_devices("cpu", 0) == ["cpu"]
    assert default_devices("mps", 0) == ["mps"]


def test_a_worker_sees_its_gpu_named_as_the_study_names_it():
    assert visible_gpu("cuda:1", None) == "1"
    assert visible_gpu("cuda:1", "4,5") == "5"
    assert visible_gpu("cuda:0", "GPU-1a2b, GPU-3c4d") == "GPU-1a2b"
    assert visible_gpu("cpu", "4,5") is None
    with pytest.raises(ColorbenchError, match="CUDA_VISIBLE_DEVICES=4 has no such GPU"):
        visible_gpu("cuda:1", "4")


def test_host_threads_are_divided_between_workers():
    assert threads_per_worker(16, 4) == 4
    assert threads_per_worker(16, 3) == 5
    assert threads_per_worker(2, 4) == 1


def test_packed_runs_keep_the_data_on_a_gpu_only_within_their_share_of_it():
    from colorbench.data.loader import DEVICE_DATA_FRACTION, data_placement

    gib = 2**30
    free = int(gib / DEVICE_DATA_FRACTION)  # room for one run's 1 GiB data set
    assert data_placement(gib, "cuda", free_device_bytes=free) == "device"
    assert data_placement(gib, "cuda", free_device_bytes=free, sharing=2) == "pinned"
    assert data_placement(gib // 2, "cuda", free_device_bytes=free, sharing=2) == "device"
    assert data_placement(10 * gib, "cpu", sharing=4) == "host"


def test_ray_asks_for_a_share_of_a_gpu_and_of_its_cpus():
    gpu_nodes = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 64.0, "GPU": 8.0}, {"CPU": 32.0}]  # 8 CPUs per GPU
    assert ray_task_resources(gpu_nodes, None, None) == {"num_gpus": 1.0, "num_cpus": 8}
    assert ray_task_resources(gpu_nodes, 4, None) == {"num_gpus": 0.25, "num_cpus": 2}
    assert ray_task_resources(gpu_nodes, 16, None) == {"num_gpus": 1 / 16, "num_cpus": 0.5}
    assert ray_task_resources(gpu_nodes, 4, 3) == {"num_gpus": 0.25, "num_cpus": 3}
    cpu_nodes = [{"CPU": 8.0}, {"CPU": 4.0}]
    assert ray_task_resources(cpu_nodes, None, None) == {"num_cpus": 1}  # one run per CPU, as before
    assert ray_task_resources(cpu_nodes, 2, None) == {"num_cpus": 2}  # the smallest node, split 2 ways
    assert ray_task_resources(cpu_nodes, None, 3) == {"num_cpus": 3}
    with pytest.raises(ColorbenchError, match="--runs-per-device must be at least 1"):
        ray_task_resources(cpu_nodes, 0, None)


# --------------------------------------------------------------------------- the local executor
def test_the_local_executor_checks_its_options_when_built():
    assert make_executor("local").workers is None  # devices x runs per device, decided at run time
    executor = make_executor("local", {"devices": "cpu", "runs_per_device": "2"})
    assert executor.devices == ["cpu"] and executor.runs_per_device == 2
    for options, message in [
        ({"runs_per_device": "0"}, "--runs-per-device must be at least 1"),
        ({"devices": "tpu:0"}, "unknown device 'tpu:0'"),
        ({"devices": "cpu", "runs_per_device": "1", "workers": "2"}, "--workers 2 is more than"),
    ]:
        with pytest.raises(ColorbenchError, match=message):
            make_executor("local", options)


def _colorbench(store: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", "run", *STUDY, *extra, "--out", str(store)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (("--runs-per-device", "0"), "error: --runs-per-device must be at least 1, got 0"),
        (("--devices", "gpu0"), "error: --devices: unknown device 'gpu0'"),
        (("--devices", "cpu", "--workers", "3", "--runs-per-device", "2"), "error: --workers 3 is more than"),
        (("--executor", "ray", "--devices", "cpu"), "error: executor 'ray' has no option 'devices'"),
    ],
)
def test_bad_placement_options_are_one_line_usage_errors(tmp_path, args, message):
    result = _colorbench(tmp_path / "runs", "--dry-run", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]]
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_cuda_devices_on_a_machine_without_them_are_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA GPUs")
    result = _colorbench(tmp_path / "runs", "--dry-run", "--devices", "cuda:0,cuda:1")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --devices cuda:0: torch sees no CUDA GPU on this machine"
    clash = _colorbench(tmp_path / "runs", "--devices", "cpu", "--set", "device=cuda")
    assert clash.returncode == 2, clash.stdout + clash.stderr
    assert "--devices cpu but the runs ask for device=cuda" in clash.stderr
    assert not list((tmp_path / "runs").glob("unet-*/metrics.jsonl"))  # nothing trained


def test_a_worker_on_a_gpu_sees_that_gpu_alone(tmp_path, capfd, monkeypatch):
    """A real worker placed on cuda:1 under CUDA_VISIBLE_DEVICES=7,9 sees GPU 9 as its only one,
    and runs its task as plain ``cuda`` (here a machine without CUDA: the run fails saying so)."""
    import torch

    from colorbench.study.executors import RunTask
    from colorbench.study.local_workers import run_in_workers
    from colorbench.training.spec import RunOptions

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA GPUs: the run would train")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,9")
    spec = {"generator": "unet"}  # never read: the device fails first
    task = RunTask("unet-000000000000", spec, RunOptions().to_dict(), str(tmp_path), None, "a run")
    outcomes = []
    run_in_workers([task], ["cuda:1"], 1, outcomes.append)
    printed = capfd.readouterr().out
    assert "on cuda:1 (CUDA_VISIBLE_DEVICES=9), 1 thread(s)" in printed, printed
    assert len(outcomes) == 1 and outcomes[0]["status"] == "failed"


def _numbers(store: Path) -> dict[str, dict]:
    """Every run's measured numbers: per-epoch losses and its final val metrics (not its timings)."""
    numbers = {}
    for path in store.glob("unet-*/summary.json"):
        summary = json.loads(path.read_text())
        rows = [json.loads(line) for line in (path.parent / "metrics.jsonl").read_text().splitlines()]
        numbers[path.parent.name] = {
            "losses": [[row[k] for k in METRICS_KEYS] for row in rows],
            "final_val": summary["final_val"],
        }
    return numbers


def test_packed_runs_give_the_numbers_of_unpacked_ones(tmp_path):
    """Two runs packed onto the CPU at once (two workers of half the threads each) against the same
    two trained one after the other in the study's process with as many threads: the same run ids,
    the same numbers, bit for bit. (The thread count is held equal because it changes the order of
    the CPU's float reductions, and so the last bits of the logged losses: measured ~1e-8.)"""
    from colorbench.training.performance import usable_cores

    threads = threads_per_worker(usable_cores(), 2)
    unpacked = _colorbench(tmp_path / "unpacked", env={"OMP_NUM_THREADS": str(threads)})
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    packed = _colorbench(tmp_path / "packed", "--runs-per-device", "2")
    assert packed.returncode == 0, packed.stdout + packed.stderr
    assert "local executor: 2 workers: cpu x2" in packed.stdout, packed.stdout
    assert "local executor:" not in unpacked.stdout  # one run at a time, in the study's process

    expected = _numbers(tmp_path / "unpacked")
    assert len(expected) == 2
    assert _numbers(tmp_path / "packed") == expected  # same run ids, same numbers, bit for bit
    for path in (tmp_path / "packed").glob("unet-*/summary.json"):
        summary = json.loads(path.read_text())
        assert summary["device"] == "cpu"
        assert summary["hardware"]["threads"] == threads
        assert json.loads((path.parent / "config.json").read_text())["options"]["runs_on_device"] == 2


@pytest.mark.slow  # about 40 s on 2 cores: a Ray head and two runs
def test_ray_packs_runs_onto_a_gpu_with_a_share_of_it(photo_dir, tmp_path):
    """A real local Ray head that declares one GPU: each run asks for half of it and the study runs
    (the GPU is declared, not present: each run trains on the CPU)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'colorbench[ray]')")
    from colorbench.study.executors import RayExecutor
    from colorbench.study.plan import build_plan
    from colorbench.study.runner import run_study

    out, cache = tmp_path / "runs", tmp_path / "cache"
    plan = build_plan(
        name="ray-packed",
        plugins=["unet"],
        factors=["init"],
        preset="smoke",
        overrides={"data_limit": "none", "data_seed": "1", "num_samples": "1", "epochs": "1"},
        seeds=1,
        values={"init": ("xavier",)},
        data=f"folder:{photo_dir}",
        cache_dir=str(cache),
    )
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        executor = RayExecutor(runs_per_device=2)
        result = run_study(plan, out, executor, command="test", cache_dir=str(cache))
    finally:
        ray.shutdown()
    assert executor.resources == {"num_gpus": 0.5, "num_cpus": 1}  # 2 CPUs per GPU, split 2 ways
    assert {o["status"] for o in result.outcomes} == {"completed"} and len(result.outcomes) == 2
