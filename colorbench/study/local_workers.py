"""The local executor's worker processes: spawned, one run at a time each, never outliving the study.

The contract is the one a run in the study's own process has (``--workers 1``):

- Ctrl-C or SIGTERM, to the study's process or to its whole process group: every worker stops its
  run at once (the run is marked interrupted and resumes after its last complete epoch), no
  worker starts another run, and :func:`run_in_workers` re-raises ``KeyboardInterrupt`` once every
  worker has exited (exit code 130 in the CLI). A worker stopped on its own by a signal stops the
  study the same way.
- The study's process dies without warning (kill -9, out of memory): on Linux the kernel sends
  each worker SIGTERM (``PR_SET_PDEATHSIG``), which stops it as above. Elsewhere a worker notices
  between epochs (the trainer's ``stop_check``) or, when idle, because its pipe to the study
  closes.
- A worker that dies (kill -9, out of memory, a crash in native code) has its run recorded as
  failed; a new worker takes its place, on the same device, and the study goes on.

Each worker trains on one device of the placement (:mod:`colorbench.study.placement`): a worker on
``cuda:K`` sees that GPU alone (``CUDA_VISIBLE_DEVICES``, set before CUDA starts in it), so every
run inside it uses plain ``cuda``; its runs' ``device`` option becomes that device's kind.

Workers are spawned, not forked: a forked child would inherit torch's thread pools and locks
mid-state. Each has its own pipe to the study's process (no shared queue whose lock a killed
worker could take with it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from colorbench.store.status import Status
from colorbench.study.executors import RunOutcome, RunTask, execute_task
from colorbench.study.placement import device_kind, visible_gpu

# How long stopped workers may take to record their runs before they are killed: a worker first
# finishes its epoch (the trainer's StopAtEpochEnd), which can take minutes at 256 px.
STOP_GRACE_S = 600.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
CUDA_VISIBLE = "CUDA_VISIBLE_DEVICES"


@dataclass(frozen=True)
class Slot:
    """Where a worker trains: its device, the GPU it alone sees (``CUDA_VISIBLE_DEVICES``; None
    off GPUs), and how many workers share that device."""

    device: str = "cpu"
    gpu: str | None = None
    sharing: int = 1


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    device: str
    task: RunTask | None = None


def run_in_workers(
    tasks: list[RunTask], placement: list[str], threads: int, on_outcome: Callable[[dict[str, Any]], None]
) -> None:
    """Carry out ``tasks`` in one spawned process per entry of ``placement`` (its device), each of
    ``threads`` torch threads.

    Must be called from the thread that lives as long as the workers (Linux ties the workers'
    death signal to the thread that started them): the CLI's main thread.
    """
    context = get_context("spawn")
    queue = deque(tasks)
    pool: list[_Worker] = []
    try:
        for device in placement[: len(queue)]:
            pool.append(_start_worker(context, threads, device, placement.count(device)))
        for worker in pool:
            _assign(worker, queue)
        while any(w.task for w in pool):
            busy = {w.conn: w for w in pool if w.task}
            for conn in wait(list(busy)):
                worker = busy[conn]
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    worker.process.join(5)
                    if worker.process.exitcode == 0:  # a signal stopped it before it could say so
                        raise KeyboardInterrupt from None
                    # Died without a word: record the run, and let a new worker take its place.
                    on_outcome(_lost(worker))
                    pool.remove(worker)
                    if queue:
                        pool.append(
                            _start_worker(context, threads, worker.device, placement.count(worker.device))
                        )
                        _assign(pool[-1], queue)
                    continue
                if kind == "stopped":  # a signal reached this worker alone: stop the study
                    worker.task = None
                    raise KeyboardInterrupt
                worker.task = None
                on_outcome(payload)
                _assign(worker, queue)
    except KeyboardInterrupt:
        _stop(pool, on_outcome)
        raise
    finally:
        _close(pool)


def _start_worker(context, threads: int, device: str, sharing: int) -> _Worker:
    ours, theirs = context.Pipe()
    slot = Slot(device, visible_gpu(device, os.environ.get(CUDA_VISIBLE)), sharing)
    process = context.Process(
        target=_worker_process,
        args=(theirs, threads, os.getpid(), slot),
        name="colorbench-worker",
        daemon=True,
    )
    process.start()
    theirs.close()  # the worker holds the only other end: EOF here means it has gone
    return _Worker(process, ours, device)


def _assign(worker: _Worker, queue: deque[RunTask]) -> None:
    if queue:
        worker.task = queue.popleft()
        worker.conn.send(worker.task)


def _lost(worker: _Worker) -> dict[str, Any]:
    """The outcome of a run whose worker died; recorded on the run, as the Ray executor does."""
    from colorbench.store import RunBusy, Store

    task, code = worker.task, worker.process.exitcode
    assert task is not None
    if code is not None and code < 0:
        how = (
            f"killed by {signal.Signals(-code).name}"
            if -code in signal.valid_signals()
            else f"signal {-code}"
        )
    else:
        how = f"exit code {code}"
    error = f"worker process {worker.process.pid} died ({how}; out of memory?)"
    run = Store(task.out_dir).run(task.run_id)
    try:
        with run.lock():  # the kernel freed the dead worker's lock
            run.write_failure(error)
    except RunBusy:
        pass  # another process took the run over: its record stands
    return asdict(RunOutcome(task.run_id, Status.FAILED, 0.0, error))


def _stop(pool: list[_Worker], on_outcome: Callable[[dict[str, Any]], None]) -> None:
    """Signal every worker to stop now, wait for them to record their runs, kill stragglers.

    A run that finished just before the stop still reports its outcome. A second Ctrl-C while
    waiting kills the workers at once (their runs resume from the last checkpoint all the same).
    """
    live = {w.conn: w for w in pool if w.process.is_alive()}
    for worker in live.values():
        _signal(worker.process, signal.SIGTERM)  # a worker already stopping ignores it
    deadline = time.monotonic() + STOP_GRACE_S
    try:
        while live and time.monotonic() < deadline:
            for conn in wait(list(live), timeout=max(0.0, deadline - time.monotonic())):
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    live.pop(conn).process.join(5)
                    continue
                if kind == "outcome":
                    on_outcome(payload)
    except KeyboardInterrupt:
        pass
    for worker in live.values():
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
    for worker in pool:
        worker.task = None


def _close(pool: list[_Worker]) -> None:
    for worker in pool:
        try:
            worker.conn.send(None)  # no more tasks
        except (OSError, ValueError):
            pass
    for worker in pool:
        worker.process.join(10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def _signal(process: BaseProcess, signum: int) -> None:
    try:
        os.kill(process.pid, signum)
    except (ProcessLookupError, TypeError):
        pass


# ---------------------------------------------------------------------- in the worker
def _worker_process(conn: Connection, threads: int, parent_pid: int, slot: Slot = Slot()) -> None:
    """Run :func:`worker_main`, then leave without the interpreter's teardown.

    Everything a run writes is on disk (atomic, fsynced) by then; tearing down torch's objects
    took seconds of CPU on shared cores, which would keep a stopped study's workers around.
    """
    worker_main(conn, threads, parent_pid, slot)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def worker_main(conn: Connection, threads: int, parent_pid: int, slot: Slot = Slot()) -> None:
    """A worker's life: take tasks from the study's process until it says stop, goes, or signals."""
    try:
        _stop_on_signals()
        _die_with_parent(parent_pid)
        _use_device(slot.gpu)
        _use_threads(threads)
        seen = f" ({CUDA_VISIBLE}={slot.gpu})" if slot.gpu is not None else ""
        print(f"worker {os.getpid()} on {slot.device}{seen}, {threads} thread(s)", flush=True)
        stop_check = parent_gone_check(parent_pid)
        while True:
            task = conn.recv()
            if task is None:
                return
            try:
                outcome = execute_task(on_device(task, slot.device, slot.sharing), stop_check=stop_check)
            except KeyboardInterrupt:
                conn.send(("stopped", task.run_id))
                return
            conn.send(("outcome", outcome))
    except (KeyboardInterrupt, EOFError, OSError):
        return  # stopped while idle, or the study's process has gone: nothing to record


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT stop the worker's run as Ctrl-C stops a run in the study's process.

    Only the first signal raises: the run is being recorded as interrupted by then, and a second
    one (Ctrl-C reaches the whole process group, and the study's process signals too) must not cut
    that short. SIGINT stays ignored where the study's process ignores it (a background job).
    """
    stopping = []

    def stop(signum, frame) -> None:
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel sends this process SIGTERM when the study's process dies, however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the parent-alive check between epochs still stops the run
    if os.getppid() != parent_pid:  # it died before the death signal was armed
        raise KeyboardInterrupt


def on_device(task: RunTask, device: str, sharing: int = 1) -> RunTask:
    """``task`` as this worker runs it: its ``device`` option set to the worker's device kind, and
    how many runs share that device (options, not part of the run's identity: the run id and
    numbers stay the same)."""
    return replace(task, options={**task.options, "device": device_kind(device), "runs_on_device": sharing})


def _use_device(gpu: str | None) -> None:
    """A worker on a GPU sees only that GPU (``cuda`` in it is that one): set before CUDA starts."""
    if gpu is None:
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():  # too late for CUDA_VISIBLE_DEVICES
        raise RuntimeError("CUDA was initialised in a worker before its device was chosen")
    os.environ[CUDA_VISIBLE] = gpu


def _use_threads(threads: int) -> None:
    import threading

    import torch
    from tqdm import tqdm

    # tqdm's default write lock is a multiprocessing semaphore, which a worker leaving by os._exit
    # would leave for the resource tracker to clean up (and warn about); one thread lock will do.
    tqdm.set_lock(threading.RLock())

    # The trainer honours OMP_NUM_THREADS (performance.configure_threads): the workers share the cores.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def parent_gone_check(parent_pid: int) -> Callable[[], str | None]:
    """The trainer's stop check between epochs: a reason to stop once the study's process has gone.

    Portable (the multiprocessing parent sentinel, else the parent pid): where no death signal
    exists, a worker whose study was killed stops after the epoch it is in.
    """
    from multiprocessing import parent_process

    parent = parent_process()

    def check() -> str | None:
        gone = (parent is not None and not parent.is_alive()) or os.getppid() != parent_pid
        return f"the study's process (pid {parent_pid}) has gone" if gone else None

    return check
