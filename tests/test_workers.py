"""The local executor's worker processes die with the study and stop with it (issue 23).

Real ``colorbench run --workers 2`` processes, killed and signalled as a user or a scheduler would;
which processes are the study's is read from /proc (the test's own descendants only). Signal times
come from the epoch lines the runs print, never from a fixed sleep.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")

# Three runs on two workers: two train at once, the third waits for a free worker.
STUDY = (
    "--plugin", "unet", "--preset", "smoke", "--set", "precision=fp32", "--vary", "init", "--workers", "2",
)  # fmt: skip
METRICS_KEYS = ("loss_G", "loss_G_GAN", "loss_G_L1", "loss_D", "loss_D_real", "loss_D_fake")


def _start(store: Path, log: Path, *extra: str) -> subprocess.Popen:
    with open(log, "w") as output:
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "colorbench", "run", *STUDY, *extra, "--out", str(store)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            # Like a terminal's foreground job: a shell starting pytest in the background sets SIGINT
            # to "ignore", which children inherit.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _colorbench(store: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", "run", *STUDY, *extra, "--out", str(store)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _wait_until_both_workers_train(process: subprocess.Popen, store: Path, log: Path) -> None:
    """Until two runs have a complete epoch in the store: each worker is in its run's next epoch."""
    deadline = time.monotonic() + 300
    while sum(1 for p in store.glob("unet-*/metrics.jsonl") if p.read_text().strip()) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the study ended before both workers trained:\n" + log.read_text())
        time.sleep(0.02)


def _proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, or None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process below ``root`` (itself excluded)."""
    children: dict[int, list[int]] = {}
    started = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
            started[int(entry.name)] = stat[2]
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def _workers(processes: dict[int, int]) -> dict[int, int]:
    """The spawned workers among ``processes`` (not multiprocessing's resource tracker)."""
    found = {}
    for pid, start in processes.items():
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found[pid] = start
        except FileNotFoundError:
            pass
    return found


def _still_running(processes: dict[int, int]) -> list[int]:
    """The pids of ``processes`` still alive (a zombie has finished; a reused pid is not ours)."""
    alive = []
    for pid, start in processes.items():
        stat = _proc_stat(pid)
        if stat is not None and stat[1] not in "ZX" and stat[2] == start:
            alive.append(pid)
    return alive


def _summaries(store: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in store.glob("unet-*/summary.json")}


def _numbers(store: Path) -> dict[str, dict]:
    """Every run's measured numbers: per-epoch losses and its final val metrics (not its timings)."""
    numbers = {}
    for run_id, summary in _summaries(store).items():
        rows = [json.loads(line) for line in (store / run_id / "metrics.jsonl").read_text().splitlines()]
        numbers[run_id] = {
            "losses": [[row[k] for k in METRICS_KEYS] for row in rows],
            "final_val": summary["final_val"],
        }
    return numbers


def test_kill_9_of_the_study_leaves_no_worker_behind(tmp_path):
    store, log = tmp_path / "runs", tmp_path / "study.log"
    study = _start(store, log, "--set", "epochs=4")
    try:
        _wait_until_both_workers_train(study, store, log)
        ours = _descendants(study.pid)
        assert len(_workers(ours)) == 2, (ours, log.read_text())
        study.kill()
        study.wait()
        deadline = time.monotonic() + 10
        while _still_running(ours) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _still_running(ours), (
            f"still running 10 s after kill -9 of the study: {_still_running(ours)}"
        )
    finally:
        study.kill()
    # The workers stopped their runs as on Ctrl-C: recorded interrupted, and resumable.
    # (A worker that finished its run early may have begun the third: that one is interrupted too.)
    statuses = [s["status"] for s in _summaries(store).values()]
    assert statuses.count("interrupted") == 2 and set(statuses) <= {"interrupted", "completed"}, statuses
    plan = _colorbench(store, "--set", "epochs=4", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.count("resume after epoch") == len(list(store.glob("unet-*/checkpoint.pt"))), (
        plan.stdout
    )


def test_sigterm_stops_every_worker_within_an_epoch_and_a_rerun_matches_a_clean_study(tmp_path):
    epochs = ("--set", "epochs=3")
    clean_store, store = tmp_path / "clean", tmp_path / "runs"
    clean = _colorbench(clean_store, *epochs)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    epoch_seconds = statistics.median(  # one epoch's time, two workers sharing the cores as below
        json.loads(line)["wall_time_s"]
        for path in clean_store.glob("unet-*/metrics.jsonl")
        for line in path.read_text().splitlines()
    )

    log = tmp_path / "study.log"
    study = _start(store, log, *epochs)
    try:
        _wait_until_both_workers_train(study, store, log)
        workers = _workers(_descendants(study.pid))
        assert len(workers) == 2, (workers, log.read_text())
        signalled = time.monotonic()
        study.send_signal(signal.SIGTERM)
        while _still_running(workers) and time.monotonic() - signalled < 60:
            time.sleep(0.02)
        workers_stopped = time.monotonic() - signalled
        study.wait(timeout=120)
    finally:
        study.kill()
    rest = log.read_text()
    assert study.returncode == 130, rest
    assert "Traceback" not in rest and "run the same command again" in rest, rest
    # The first signal lets each worker finish its epoch and checkpoint it (the trainer's
    # StopAtEpochEnd): at most the rest of one epoch plus one save. A worker that had gone on to
    # the next epoch or started the third run would take longer than this bound.
    bound = 2 * epoch_seconds + 3.0  # one epoch + the checkpoint save (about 1 s at the smoke size)
    assert workers_stopped < bound, (workers_stopped, epoch_seconds)
    statuses = [s["status"] for s in _summaries(store).values()]
    assert statuses.count("interrupted") == 2 and set(statuses) <= {"interrupted", "completed"}, rest
    checkpoints = len(list(store.glob("unet-*/checkpoint.pt")))
    print(f"workers stopped {workers_stopped:.2f}s after SIGTERM; an epoch takes {epoch_seconds:.2f}s")

    rerun = _colorbench(store, *epochs)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("resuming") == checkpoints - statuses.count("completed"), rerun.stdout
    assert _numbers(store) == _numbers(clean_store)


_CHECKER = """
import multiprocessing, os, sys, time
from colorbench.study.local_workers import parent_gone_check

def child(parent_pid, out):
    check = parent_gone_check(parent_pid)  # no death signal armed: only the check can tell
    while (reason := check()) is None:
        time.sleep(0.05)
    with open(out, "w") as f:
        f.write(reason)

if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(target=child, args=(os.getpid(), sys.argv[1]))
    process.start()
    print(process.pid, flush=True)
    time.sleep(600)
"""


def test_the_parent_alive_check_sees_the_study_killed_without_a_death_signal(tmp_path):
    """What stops a worker between epochs on systems without PR_SET_PDEATHSIG."""
    script, said = tmp_path / "checker.py", tmp_path / "reason.txt"
    script.write_text(_CHECKER)
    parent = subprocess.Popen([sys.executable, str(script), str(said)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        started = _proc_stat(child)[2]
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _still_running({child: started}) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.stdout.close()
    assert not _still_running({child: started})
    assert said.read_text() == f"the study's process (pid {parent.pid}) has gone"
