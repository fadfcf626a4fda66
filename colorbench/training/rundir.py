"""A run's directory on disk: which files it holds and how each is written.

  config.json     the resolved configuration, the plugin and the data it ran on
  metrics.jsonl   one row per completed epoch: the six training losses, wall time, images/s,
                  and val metrics on the epochs they were computed
  summary.json    status (running, completed, diverged, interrupted), final losses and metrics,
                  the gray baseline on the same split, timings, versions, device
  checkpoint.pt   models, optimisers, epoch, RNG states, history (written atomically each epoch)
  train.log       the plain per-epoch log
  samples/        the fixed val images: grey input, prediction, truth (PNG)
  tensorboard/    event files, when asked for

Everything is JSON so pandas reads a study without custom parsing (docs/results-store.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.training.checkpoint import atomic_write_json, atomic_write_jsonl

FINISHED = ("completed", "diverged")


class RunDirectory:
    def __init__(self, path: str | Path, echo: bool) -> None:
        self.path = Path(path)
        self.echo = echo
        self.config = self.path / "config.json"
        self.summary = self.path / "summary.json"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.pt"
        self.samples = self.path / "samples"
        self.tensorboard = self.path / "tensorboard"

    def claim(self, record: dict[str, Any]) -> None:
        """Write config.json, or check that the directory already holds this very run."""
        self.path.mkdir(parents=True, exist_ok=True)
        if self.config.exists():
            existing = json.loads(self.config.read_text())
            if existing.get("config_hash") != record["config_hash"]:
                raise ColorbenchError(f"{self.path} holds a different run; choose another directory")
        else:
            atomic_write_json(self.config, record)

    def finished_summary(self) -> dict[str, Any] | None:
        """The summary of a run that is already done (completed or diverged), else None."""
        if not self.summary.exists():
            return None
        previous = json.loads(self.summary.read_text())
        return previous if previous.get("status") in FINISHED else None

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.summary, summary)

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        # Rewritten whole from the checkpoint's history, so it never disagrees with the checkpoint.
        atomic_write_jsonl(self.metrics, history)

    def log(self, line: str) -> None:
        """One line to train.log and, unless a progress bar shows it, to stdout."""
        with open(self.path / "train.log", "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, flush=True)
