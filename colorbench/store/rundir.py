"""A run's directory: the only code that knows its file names and how each is written and read.

config.json     what the run is (:class:`~colorbench.store.records.RunRecord`): spec, plugin, data
summary.json    how it stands and what it measured (:class:`~colorbench.store.records.Summary`)
metrics.jsonl   one row per completed epoch: the six training losses, wall time, images/s, and
                val metrics on the epochs they were computed
per_image.parquet   val metrics per image at every evaluation (epoch, image_id, metrics)
checkpoint.pt   models, optimisers, epoch, RNG states, history (weights-only loadable)
train.log       the plain per-epoch log
error.log       the traceback of the last failure
samples/        predictions for the first val images (``NNN_pred.png``, NNN = val index)
tensorboard/    event files, when asked for
.lock, .lock.owner   held while a process trains the run (``locks.py``)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colorbench.errors import ColorbenchError
from colorbench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_jsonl, is_orphan_tmp
from colorbench.store.locks import LOCK_NAME, OWNER_NAME, is_locked, run_lock, wait_for_run
from colorbench.store.records import RunRecord, Summary, UnreadableRecordError
from colorbench.store.status import Status

if TYPE_CHECKING:
    from colorbench.store.store import Store

CONFIG = "config.json"
SUMMARY = "summary.json"
METRICS = "metrics.jsonl"
PER_IMAGE = "per_image.parquet"
CHECKPOINT = "checkpoint.pt"
LOG = "train.log"
ERROR_LOG = "error.log"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
_KEEP_ON_CLEAR = (LOCK_NAME, OWNER_NAME)


def sample_name(index: int, kind: str = "pred") -> str:
    """File name of a saved val image: ``007_pred.png`` (kind: pred; input and truth in baselines)."""
    return f"{index:03d}_{kind}.png"


def samples_of_kind(names: Iterable[str], kind: str = "pred") -> list[str]:
    """The names among ``names`` (a summary's ``samples``) that are saved images of ``kind``."""
    return [name for name in names if name.endswith(f"_{kind}.png")]


def saved_sample_indices(folder: Path, kind: str) -> list[int]:
    """The val indices of the ``NNN_<kind>.png`` files present in ``folder``, ascending."""
    if not folder.is_dir():
        return []
    suffix = sample_name(0, kind)[3:]
    found = []
    for child in folder.iterdir():
        stem = child.name[: -len(suffix)]
        if child.name.endswith(suffix) and stem.isdigit() and child.is_file():
            found.append(int(stem))
    return sorted(found)


class RunDirectory:
    """One run directory of a results store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return self.path.is_dir()

    @property
    def store(self) -> Store:
        """The results store this run belongs to (its parent folder)."""
        from colorbench.store.store import Store

        return Store(self.path.parent)

    def lock(self) -> AbstractContextManager[str]:
        """Hold the run's lock while training it (:func:`~colorbench.store.locks.run_lock`)."""
        return run_lock(self.path)

    def wait(self, poll_s: float = 2.0) -> None:
        """Block until no process holds the run's lock."""
        wait_for_run(self.path, poll_s)

    # ------------------------------------------------------------------ records
    def read_record(self) -> RunRecord:
        """config.json; :class:`UnreadableRecordError` if missing or malformed."""
        path = self.path / CONFIG
        if not path.exists():
            raise UnreadableRecordError(path, "missing")
        return RunRecord.read(path)

    def has_record(self) -> bool:
        return (self.path / CONFIG).exists()

    def claim(self, record: RunRecord) -> None:
        """Write config.json, or check that the directory already holds this very run.

        A damaged config.json of the same run id is rewritten (it describes this run anyway).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / CONFIG
        if path.exists():
            try:
                existing = RunRecord.read(path)
            except UnreadableRecordError:
                existing = None
            if existing is not None:
                if existing.spec_hash != record.spec_hash:
                    raise ColorbenchError(f"{self.path} holds a different run; choose another directory")
                return
        atomic_write_json(path, record.to_dict())

    def read_summary(self) -> Summary | None:
        """summary.json, or None when the run has none yet; :class:`UnreadableRecordError` if damaged."""
        path = self.path / SUMMARY
        if not path.exists():
            return None
        return Summary.read(path)

    def write_summary(self, summary: Summary) -> None:
        atomic_write_json(self.path / SUMMARY, summary.to_dict())

    def write_failure(self, error: str, traceback_text: str | None = None) -> None:
        """Record on the run itself that it failed (the study goes on); keeps what the summary had."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            summary = self.read_summary() or Summary(Status.FAILED)
        except UnreadableRecordError:
            summary = Summary(Status.FAILED)
        lines = error.strip().splitlines()
        summary.status, summary.error = Status.FAILED, lines[-1] if lines else "failed"
        self.write_summary(summary)
        if traceback_text:
            (self.path / ERROR_LOG).write_text(traceback_text)

    # ------------------------------------------------------------------ history
    def read_history(self) -> tuple[list[dict[str, Any]], int]:
        """metrics.jsonl rows and the number of unreadable lines skipped (a torn or damaged line)."""
        try:
            lines = self.history_path.read_text().splitlines()
        except FileNotFoundError:
            return [], 0
        except (OSError, UnicodeDecodeError):
            return [], 1
        rows, bad = [], 0
        for line in lines:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict) and "epoch" in row:
                rows.append(row)
            else:
                bad += 1
        return rows, bad

    @property
    def history_path(self) -> Path:
        return self.path / METRICS

    def write_history(self, history: list[dict[str, Any]]) -> None:
        # Rewritten whole from the checkpoint's history, so it never disagrees with the checkpoint.
        atomic_write_jsonl(self.history_path, history)

    def log(self, line: str) -> None:
        with open(self.path / LOG, "a") as f:
            f.write(line + "\n")

    # ------------------------------------------------------------------ per-image metrics
    @property
    def per_image_path(self) -> Path:
        return self.path / PER_IMAGE

    def write_per_image(self, frame) -> None:
        """The per-image table (pandas DataFrame), written atomically as Parquet."""
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(self.per_image_path, buffer.getvalue())

    def discard_per_image(self) -> None:
        self.per_image_path.unlink(missing_ok=True)

    def read_per_image(self):
        """The per-image table, or None when the run has none (an older store, or not evaluated yet)."""
        if not self.per_image_path.exists():
            return None
        import pandas as pd

        try:
            return pd.read_parquet(self.per_image_path)
        except Exception as exc:  # pyarrow raises many kinds for a damaged file
            raise UnreadableRecordError(self.per_image_path, f"{type(exc).__name__}: {exc}") from None

    # ------------------------------------------------------------------ checkpoint
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.exists()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        from colorbench.store.checkpoint import save_checkpoint

        save_checkpoint(self.checkpoint_path, state)

    def load_checkpoint(self, *, trust: bool = False) -> dict[str, Any]:
        from colorbench.store.checkpoint import load_checkpoint

        return load_checkpoint(self.checkpoint_path, trust=trust)

    def checkpoint_epoch(self) -> int | None:
        """The epoch a resume continues after, read lightly; None when the checkpoint is damaged."""
        from colorbench.store.checkpoint_peek import checkpoint_epoch

        return checkpoint_epoch(self.checkpoint_path)

    def checkpoint_precision(self) -> str | None:
        """The resolved precision the checkpoint was trained in, read lightly; None if unknown.

        Checkpoints written before colorbench stored it there fall back on the summary's (the
        precision of the session that wrote the checkpoint last).
        """
        from colorbench.store.checkpoint_peek import checkpoint_facts

        facts = checkpoint_facts(self.checkpoint_path) if self.has_checkpoint() else None
        if facts is None:
            return None
        if facts["precision"] is not None:
            return facts["precision"]
        try:
            summary = self.read_summary()
        except UnreadableRecordError:
            return None
        return summary.precision if summary is not None and summary.precision in ("fp32", "bf16") else None

    def _resume_detail(self) -> str:
        epoch = self.checkpoint_epoch()
        if epoch is None:
            return f"its checkpoint {self.checkpoint_path} is damaged: starts again from scratch"
        precision = self.checkpoint_precision()
        return f"resume after epoch {epoch}" + (f" (trained in {precision})" if precision else "")

    def discard_checkpoint(self) -> None:
        self.checkpoint_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ other files
    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    def sample_path(self, index: int, kind: str = "pred") -> Path:
        return self.samples_dir / sample_name(index, kind)

    def saved_samples(self, kind: str = "pred") -> list[int]:
        """Val indices whose ``kind`` image this run saved (files present), ascending."""
        return saved_sample_indices(self.samples_dir, kind)

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    def is_locked(self) -> bool:
        return is_locked(self.path)

    def remove_orphan_tmp(self) -> list[Path]:
        """Delete temporary files of atomic writes whose writer died (kill -9); returns them."""
        removed = []
        if self.path.is_dir():
            for child in self.path.iterdir():
                if child.is_file() and is_orphan_tmp(child):
                    child.unlink(missing_ok=True)
                    removed.append(child)
        return removed

    def clear(self) -> None:
        """Forget everything but the lock (``--force``; call holding the lock)."""
        for child in self.path.iterdir():
            if child.name in _KEEP_ON_CLEAR:
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    # ------------------------------------------------------------------ state
    def state(self) -> tuple[Status, str | None]:
        """(status, detail) as found on disk now. Never raises for damaged records.

        A summary that says ``running`` while no process holds the lock is a run that was killed:
        it reads ``interrupted``. Detail: the epoch a resume continues after (the checkpoint's, as
        the trainer will), that the checkpoint is damaged, a reason, or None.
        """
        if not self.exists():
            return Status.NOT_STARTED, None
        try:
            summary = self.read_summary()
            if self.has_record():
                self.read_record()
        except UnreadableRecordError as exc:
            return Status.UNREADABLE, str(exc)
        if summary is None:
            if self.has_checkpoint():
                return Status.INTERRUPTED, self._resume_detail()
            return Status.NOT_STARTED, None
        status = summary.status
        if status is Status.RUNNING:
            if self.is_locked():
                return Status.RUNNING, None
            status = Status.INTERRUPTED
        if status is Status.INTERRUPTED:
            if self.has_checkpoint():
                return status, self._resume_detail()
            return status, "starts again (no checkpoint)"
        if status is Status.FAILED:
            return status, summary.error
        if status is Status.DIVERGED:
            return status, f"losses became NaN or infinite in epoch {summary.diverged_epoch or '?'}"
        return status, None
