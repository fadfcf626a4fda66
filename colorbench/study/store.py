"""The results store on disk (format: docs/results-store.md): study records, run ids, run locks."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from colorbench.errors import ColorbenchError
from colorbench.training.checkpoint import atomic_write_json

STUDY_FORMAT_VERSION = 1
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_study_name(name: str) -> str:
    if not _STUDY_NAME.match(name):
        raise ColorbenchError(f"study name {name!r} may hold letters, digits and _.+- only")
    return name


def study_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / "studies" / f"{check_study_name(name)}.json"


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_study(out_dir: Path, record: dict[str, Any]) -> Path:
    path = study_path(out_dir, record["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = now()
    record = {**record, "format_version": STUDY_FORMAT_VERSION, "created": stamp, "updated": stamp}
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                record["created"] = json.loads(path.read_text()).get("created") or stamp
            except json.JSONDecodeError:
                pass  # a damaged record is replaced whole
        atomic_write_json(path, record)
    return path


def write_failure(run_dir: Path, error: str) -> None:
    """Record on the run itself that its task failed (the study goes on)."""
    summary = read_summary(run_dir) or {}
    summary.update(status="failed", error=error.strip().splitlines()[-1] if error.strip() else "failed")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "summary.json", summary)


class RunBusy(Exception):
    """Another process holds this run's lock."""


@contextmanager
def run_lock(run_dir: Path):
    """Hold the run's lock while training it; :class:`RunBusy` at once if another process holds it.

    The lock is an OS file lock (flock/fcntl through ``filelock``): the kernel releases it when the
    holder dies, even by kill -9, so a stale lock from a killed process is simply taken over.
    ``.lock.owner`` records who holds it (host, pid, since) for messages.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / ".lock"))
    owner_file = run_dir / ".lock.owner"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunBusy(owner_file.read_text().strip() if owner_file.exists() else "another process") from None
    try:
        previous = owner_file.read_text().strip() if owner_file.exists() else ""
        owner_file.write_text(f"{socket.gethostname()} pid {os.getpid()} since {now()}\n")
        yield previous  # a non-empty previous owner means a stale lock was taken over
    finally:
        try:
            owner_file.unlink()
        except FileNotFoundError:
            pass
        lock.release()


def wait_for_run(run_dir: Path, poll_s: float = 2.0) -> None:
    """Block until no process holds the run's lock."""
    while True:
        try:
            with run_lock(run_dir):
                return
        except RunBusy:
            time.sleep(poll_s)
