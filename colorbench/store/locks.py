"""Run locks: one process trains a run at a time, across processes and machines sharing the store.

The lock is an OS file lock (flock/fcntl through ``filelock``): the kernel releases it when the
holder dies, even by kill -9, so a stale lock from a killed process is simply taken over.
``.lock.owner`` records who holds it (host, pid, since) for messages.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = ".lock"
OWNER_NAME = ".lock.owner"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunBusy(Exception):
    """Another process holds this run's lock."""


@contextmanager
def run_lock(run_dir: Path):
    """Hold the run's lock while training it; :class:`RunBusy` at once if another process holds it.

    Yields the previous owner's line when a stale lock (its holder died) was taken over, else "".
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_NAME))
    owner_file = run_dir / OWNER_NAME
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunBusy(owner_file.read_text().strip() if owner_file.exists() else "another process") from None
    try:
        previous = owner_file.read_text().strip() if owner_file.exists() else ""
        owner_file.write_text(f"{socket.gethostname()} pid {os.getpid()} since {now()}\n")
        yield previous
    finally:
        try:
            owner_file.unlink()
        except FileNotFoundError:
            pass
        lock.release()


def is_locked(run_dir: Path) -> bool:
    """Whether some live process holds the run's lock right now (a free lock is taken and released)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return False
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False  # a read-only store: nobody can be training in it from here
    lock.release()
    return False


def wait_for_run(run_dir: Path, poll_s: float = 2.0) -> None:
    """Block until no process holds the run's lock."""
    while True:
        try:
            with run_lock(run_dir):
                return
        except RunBusy:
            time.sleep(poll_s)
