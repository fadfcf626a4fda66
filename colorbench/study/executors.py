"""Executors: how a study's runs are carried out. The study code only sees :class:`Executor`.

A task is plain data (picklable for spawned processes and Ray); :func:`execute_task` is the one
function every executor runs for it: take the run's lock, train (or resume) the run, report.
Executors are plugins (:mod:`colorbench.study.executor_plugins`, group ``colorbench.executors``):
another one (SLURM through submitit, say) is a class with ``name`` and ``run`` in any package,
registered by an entry point; nothing here changes.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from colorbench.errors import ColorbenchError
from colorbench.store.status import Status


@dataclass(frozen=True)
class RunTask:
    run_id: str
    spec: dict[str, Any]  # RunSpec.to_dict()
    options: dict[str, Any]  # RunOptions.to_dict()
    out_dir: str
    cache_dir: str | None
    label: str


@dataclass
class RunOutcome:
    """What an executor reports for one task, as a dict (``asdict``) so it crosses process and Ray
    boundaries. ``status`` is a :class:`Status` (a ``str``, so it pickles and compares either way):
    COMPLETED, DIVERGED, INTERRUPTED, FAILED, or BUSY (another process holds the run's lock)."""

    run_id: str
    status: Status
    seconds: float = 0.0
    error: str | None = None
    host: str = ""


def execute_task(
    task: RunTask, verbose: bool = True, stop_check: Callable[[], str | None] | None = None
) -> dict[str, Any]:
    """Train one run under its lock; never raises for a failure of the run itself.

    ``stop_check``: asked between epochs; a reason stops the run there (interrupted, resumable).
    """
    import socket
    import time

    from colorbench.store import RunBusy, Store
    from colorbench.training.spec import RunOptions, RunSpec
    from colorbench.training.trainer import train_run

    run = Store(task.out_dir).run(task.run_id)
    started = time.perf_counter()
    host = socket.gethostname()
    try:
        with run.lock() as previous_owner:
            if previous_owner and verbose:
                print(f"{task.run_id}: took over a stale lock ({previous_owner})", flush=True)
            summary = train_run(
                RunSpec.from_dict(task.spec),
                RunOptions.from_dict(task.options),
                run,
                cache_dir=task.cache_dir,
                verbose=verbose,
                stop_check=stop_check,
            )
        status, error = summary.status, None
    except RunBusy as busy:
        return asdict(RunOutcome(task.run_id, Status.BUSY, 0.0, str(busy), host))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failing run must not stop the study: record it on the run
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        run.write_failure(error, traceback.format_exc())
        status = Status.FAILED
    return asdict(RunOutcome(task.run_id, status, time.perf_counter() - started, error, host))


class Executor(Protocol):
    name: str

    def run(self, tasks: list[RunTask], on_outcome: Callable[[dict[str, Any]], None]) -> None:
        """Carry out every task, calling ``on_outcome`` as each finishes."""


class LocalExecutor:
    """This machine: one run after another in this process, or workers, each a spawned process on
    one device (``devices``, default every visible GPU or the CPU), ``runs_per_device`` of them
    per device, sharing the CPU threads (the rules: :mod:`colorbench.study.placement`).

    Workers never outlive the study and stop as a run in this process does on Ctrl-C or SIGTERM
    (:mod:`colorbench.study.local_workers`).
    """

    name = "local"

    def __init__(
        self, workers: int | None = None, devices: str | None = None, runs_per_device: int | None = None
    ) -> None:
        from colorbench.study.placement import parse_devices, place_workers, worker_count

        worker_count(1, runs_per_device, workers)  # nonsense numbers: one line now, before planning
        self.workers, self.runs_per_device = workers, runs_per_device
        self.devices: list[str] | None = None
        if devices is not None:
            parsed = parse_devices(devices)
            if any(d.startswith("cuda") for d in parsed):  # only then is torch asked (and imported)
                import torch

                parsed = parse_devices(devices, torch.cuda.device_count())
            self.devices = parsed
            place_workers(parsed, runs_per_device, workers)

    def placement(self, tasks: list[RunTask]) -> list[str]:
        """The device of each worker for ``tasks`` (defaults resolved on this machine)."""
        from colorbench.study.placement import check_run_device, default_devices, place_workers

        requested = {str(t.options.get("device", "auto")) for t in tasks}
        devices = self.devices
        if devices is None:
            from colorbench.training.hardware import resolve_device

            resolved = sorted({resolve_device(d) for d in requested})
            if len(resolved) > 1:
                raise ColorbenchError(f"the runs ask for different devices ({', '.join(resolved)})")
            gpus = 0
            if resolved[0] == "cuda":
                import torch

                gpus = torch.cuda.device_count()
            devices = default_devices(resolved[0], gpus)
        check_run_device(devices, requested)
        return place_workers(devices, self.runs_per_device, self.workers)

    def run(self, tasks: list[RunTask], on_outcome: Callable[[dict[str, Any]], None]) -> None:
        if not tasks:
            return
        placement = self.placement(tasks)[: len(tasks)]  # no idle workers
        if len(placement) == 1 and self.devices is None:  # the run's own device, one at a time
            for task in tasks:
                on_outcome(execute_task(task))
            return
        from colorbench.study.local_workers import run_in_workers
        from colorbench.study.placement import describe_placement, threads_per_worker
        from colorbench.training.performance import usable_cores

        threads = threads_per_worker(usable_cores(), len(placement))
        print(f"local executor: {describe_placement(placement)}, {threads} thread(s) each", flush=True)
        run_in_workers(tasks, placement, threads, on_outcome)


class RayExecutor:
    """Each run is a Ray task: ``1/runs_per_device`` of a GPU per run where the cluster has GPUs
    (with the CPUs that come with it, split likewise), else CPUs
    (:func:`colorbench.study.placement.ray_task_resources`; ``resources`` is the last request).

    ``address``: ``auto`` or an address joins an existing cluster; None starts a local one for the
    study. The results store must be a path every node sees (a shared filesystem). The driver
    never resolves a device: each task resolves ``auto`` device and precision on its own node.
    ``env``: environment variables for the tasks (Ray's ``runtime_env``).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_run: int | None = None,
        env: dict[str, str] | None = None,
        runs_per_device: int | None = None,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ColorbenchError("the ray executor needs Ray: pip install 'colorbench[ray]'") from None
        if runs_per_device is not None and runs_per_device < 1:
            raise ColorbenchError(f"--runs-per-device must be at least 1, got {runs_per_device}")
        if cpus_per_run is not None and cpus_per_run < 1:
            raise ColorbenchError(f"cpus_per_run must be at least 1, got {cpus_per_run}")
        self.address, self.num_cpus, self.cpus_per_run = address, num_cpus, cpus_per_run
        self.runs_per_device = runs_per_device
        self.resources: dict[str, float] = {}
        self.env = dict(env or {})

    def _init(self) -> None:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs.update(num_cpus=self.num_cpus, _node_ip_address="127.0.0.1")
            if self.env:
                kwargs["runtime_env"] = {"env_vars": self.env}
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ColorbenchError(
                    f"could not reach a Ray cluster at {self.address or 'local'}: {exc}"
                ) from None

    def run(self, tasks: list[RunTask], on_outcome: Callable[[dict[str, Any]], None]) -> None:
        import ray

        from colorbench.study.placement import ray_task_resources

        self._init()
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        self.resources = ray_task_resources(nodes, self.runs_per_device, self.cpus_per_run)
        remote = ray.remote(max_retries=0, **self.resources)(execute_task)
        refs = {remote.remote(task): task for task in tasks}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                task = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the worker died or Ray failed: record it on the run
                    from colorbench.store import Store

                    first_line = str(exc).splitlines()[0] if str(exc) else ""
                    error = f"ray task failed: {type(exc).__name__}: {first_line}"
                    Store(task.out_dir).run(task.run_id).write_failure(error)
                    outcome = asdict(RunOutcome(task.run_id, Status.FAILED, 0.0, error))
                on_outcome(outcome)

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
