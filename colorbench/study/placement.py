"""Where the local executor's workers train: devices, runs packed per device, threads per worker.

Placement is how a run executes, never what identifies it: the run id hashes the run's spec, not
its options (docs/architecture.md), and a worker only changes the task's ``device`` option (and
which GPU that process sees). A run gives the same numbers on any slot.

The rules (``colorbench run --devices D --runs-per-device N --workers W``):

- ``D``: a comma list of ``cpu``, ``mps``, ``cuda:K`` (an index among the GPUs this process sees),
  or ``cuda`` for every visible GPU; all of one kind, none twice. Default: every visible GPU when the
  runs' device is (or resolves to) ``cuda``, else that one device (the CPU).
- ``N`` runs share each device at once (default 1); ``W`` workers in all, default ``len(D) * N``.
- ``W`` alone spreads ``W`` workers over ``D`` (``--workers 2`` on the CPU: two runs on the CPU);
  with ``N`` too, ``W`` may not exceed ``len(D) * N``.
- Worker ``i`` trains on ``D[i % len(D)]`` (round-robin: devices fill evenly before any is packed
  deeper); each worker gets ``cores // W`` torch threads, at least 1.

Nothing here imports torch: the caller says how many GPUs there are.
"""

from __future__ import annotations

import math
import re

from colorbench.errors import ColorbenchError

_CUDA_INDEX = re.compile(r"cuda:(\d+)")
KINDS = ("cpu", "mps", "cuda")


def parse_devices(text: str, gpu_count: int | None = None) -> list[str]:
    """``"cuda:0,cuda:1"`` -> ``["cuda:0", "cuda:1"]``; one-line errors for anything else.

    ``gpu_count``: the GPUs visible here, to expand ``cuda`` and check ``cuda:K`` (None: not
    checked, and ``cuda`` is left for :func:`default_devices`).
    """
    devices: list[str] = []
    for part in str(text).split(","):
        name = part.strip().lower()
        if name == "cuda" and gpu_count is not None:
            devices.extend(f"cuda:{k}" for k in range(gpu_count))
            if gpu_count == 0:
                raise ColorbenchError("--devices cuda: torch sees no CUDA GPU on this machine")
            continue
        match = _CUDA_INDEX.fullmatch(name)
        if name not in ("cpu", "mps", "cuda") and match is None:
            raise ColorbenchError(
                f"--devices: unknown device {part.strip()!r}; use cpu, mps, cuda or cuda:K (comma list)"
            )
        if match is not None and gpu_count is not None and int(match.group(1)) >= gpu_count:
            seen = f"{gpu_count} (cuda:0 to cuda:{gpu_count - 1})" if gpu_count else "no"
            raise ColorbenchError(f"--devices {name}: torch sees {seen} CUDA GPU on this machine")
        devices.append(f"cuda:{int(match.group(1))}" if match else name)
    if len(set(devices)) != len(devices):
        raise ColorbenchError(
            f"--devices {text}: a device is named twice; pack runs onto one with --runs-per-device N"
        )
    kinds = {device_kind(d) for d in devices}
    if len(kinds) > 1:
        mixed = " and ".join(sorted(kinds))
        raise ColorbenchError(f"--devices {text}: mixes {mixed}; use devices of one kind")
    return devices


def device_kind(device: str) -> str:
    """``cuda:1`` -> ``cuda``: the run's ``device`` option in a worker that sees only that GPU."""
    return device.split(":", 1)[0]


def default_devices(resolved_device: str, gpu_count: int) -> list[str]:
    """Every visible GPU when runs resolve to ``cuda``; else the one device they resolve to."""
    if resolved_device == "cuda":
        return [f"cuda:{k}" for k in range(gpu_count)] or ["cuda:0"]
    return [resolved_device]


def check_run_device(devices: list[str], requested: set[str]) -> None:
    """The runs' ``device`` option (``--set device=``) must agree with ``--devices``."""
    kind = device_kind(devices[0])
    clash = sorted(d for d in requested if d not in ("auto", kind))
    if clash:
        raise ColorbenchError(
            f"--devices {','.join(devices)} but the runs ask for device={clash[0]} (--set device=...); "
            "drop one of the two or make them agree"
        )


def worker_count(n_devices: int, runs_per_device: int | None, workers: int | None) -> int:
    """How many workers train at once (the rules in the module docstring)."""
    if runs_per_device is not None and runs_per_device < 1:
        raise ColorbenchError(f"--runs-per-device must be at least 1, got {runs_per_device}")
    if workers is not None and workers < 1:
        raise ColorbenchError(f"--workers must be at least 1, got {workers}")
    if workers is None:
        return n_devices * (runs_per_device or 1)
    if runs_per_device is not None and workers > n_devices * runs_per_device:
        raise ColorbenchError(
            f"--workers {workers} is more than {n_devices} device(s) x --runs-per-device "
            f"{runs_per_device} = {n_devices * runs_per_device}; raise --runs-per-device or drop --workers"
        )
    return workers


def place_workers(devices: list[str], runs_per_device: int | None, workers: int | None) -> list[str]:
    """The device of each worker: round-robin over ``devices``, ``runs_per_device`` deep at most."""
    if not devices:
        raise ColorbenchError("--devices: no device to train on")
    count = worker_count(len(devices), runs_per_device, workers)
    return [devices[i % len(devices)] for i in range(count)]


def threads_per_worker(cores: int, workers: int) -> int:
    """Host threads are divided between the workers: ``cores // workers``, at least 1."""
    return max(1, cores // max(1, workers))


def packing_depth(placement: list[str]) -> int:
    """The most workers sharing one device."""
    return max(placement.count(d) for d in set(placement)) if placement else 0


def visible_gpu(device: str, parent_visible: str | None) -> str | None:
    """What ``CUDA_VISIBLE_DEVICES`` a worker on ``device`` gets: its one GPU, named as the study's
    process names it (``cuda:1`` under ``CUDA_VISIBLE_DEVICES=4,5`` is GPU ``5``). None: not a GPU."""
    match = _CUDA_INDEX.fullmatch(device)
    if match is None:
        return None
    index = int(match.group(1))
    if parent_visible is None:
        return str(index)
    entries = [e.strip() for e in parent_visible.split(",") if e.strip()]
    if index >= len(entries):
        raise ColorbenchError(f"--devices {device}: CUDA_VISIBLE_DEVICES={parent_visible} has no such GPU")
    return entries[index]


def ray_task_resources(
    nodes: list[dict[str, float]], runs_per_device: int | None, cpus_per_run: int | None
) -> dict[str, float]:
    """What one Ray task (one run) asks for, from the alive nodes' resources.

    With GPUs: ``num_gpus = 1/N`` (N runs share a GPU) and the CPUs that come with one GPU on the
    GPU node with the fewest per GPU, split the same way (``cpus_per_run`` overrides). Without: as
    many CPUs as ``cpus_per_run`` says, else the smallest node's CPUs split N ways when N is given,
    else 1 (one run per CPU, as before packing existed).
    """
    depth = 1 if runs_per_device is None else runs_per_device
    if depth < 1:
        raise ColorbenchError(f"--runs-per-device must be at least 1, got {depth}")
    gpu_nodes = [n for n in nodes if n.get("GPU", 0) > 0]
    if gpu_nodes:
        per_gpu = min(n.get("CPU", 0) / n["GPU"] for n in gpu_nodes)
        return {"num_gpus": 1.0 / depth, "num_cpus": cpus_per_run or _cpu_share(per_gpu, depth)}
    if cpus_per_run:
        return {"num_cpus": cpus_per_run}
    if runs_per_device is None or not nodes:
        return {"num_cpus": 1}
    return {"num_cpus": _cpu_share(min(n.get("CPU", 0) for n in nodes), depth)}


def _cpu_share(cpus: float, ways: int) -> float:
    """``cpus`` split ``ways`` ways: whole CPUs where there is at least one each (Ray gives a task
    that many threads), else the fraction (Ray counts to 1e-4), so the devices still fill."""
    share = cpus / ways
    if share >= 1:
        return math.floor(share)
    return max(1e-4, math.floor(share * 1e4) / 1e4)


def describe_placement(placement: list[str]) -> str:
    """``["cuda:0", "cuda:1", "cuda:0"]`` -> ``"3 workers: cuda:0 x2, cuda:1 x1"``."""
    counts = {d: placement.count(d) for d in dict.fromkeys(placement)}
    listed = ", ".join(f"{d} x{n}" for d, n in counts.items())
    return f"{len(placement)} worker{'s' if len(placement) != 1 else ''}: {listed}"
