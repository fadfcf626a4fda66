"""When a run writes its checkpoint: on a time budget, at the end, and when asked to stop.

A full checkpoint (G, D and both Adam states) is hundreds of MB; written after every epoch it cost
16.7% of the quick preset's training time. :class:`CheckpointPolicy` writes one when
``checkpoint_every`` minutes of training have passed since the last (0: every epoch), and the
default keeps saving under 2% of training: at least :data:`DEFAULT_CHECKPOINT_MINUTES` apart
(from the save cost measured in benchmarks/RESULTS.md) and, where this machine saves more slowly,
at least :data:`TRAIN_PER_SAVE` times the last save's measured seconds. The last epoch is always
saved, and so is the epoch at which a stop was asked for (:class:`StopAtEpochEnd`). Saving or not
changes no number: a run resumes from its last checkpoint and trains the epochs after it again,
identically.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

# A floor of 10 minutes: 50x a 384 MB save (64 px) that took 12 s or less, as on this project's
# CPU (benchmarks/RESULTS.md, "Checkpoint cost"); a slower save (a loaded machine, 256 px, a network
# filesystem) raises the interval to 50x its own measured seconds, so the 2% holds on any disk. A
# GPU trains faster but saves no faster, so the budget is wall time, not epochs.
DEFAULT_CHECKPOINT_MINUTES = 10.0
# Saving under 2% of the time: at least 50 s of training per second of saving (1/51 = 1.96%).
TRAIN_PER_SAVE = 50.0


class CheckpointPolicy:
    """Decides after each epoch whether to save; ``every_minutes`` None is the default budget."""

    def __init__(self, every_minutes: float | None) -> None:
        self.every_minutes = every_minutes
        self.since_save = 0.0  # training seconds since the last checkpoint
        self.last_save_seconds = 0.0

    @property
    def budget_seconds(self) -> float:
        if self.every_minutes is not None:
            return self.every_minutes * 60
        return max(DEFAULT_CHECKPOINT_MINUTES * 60, TRAIN_PER_SAVE * self.last_save_seconds)

    def due(self, epoch_seconds: float) -> bool:
        """Count one epoch's training time; True when the budget since the last save is spent."""
        self.since_save += epoch_seconds
        return self.since_save >= self.budget_seconds

    def saved(self, seconds: float) -> None:
        self.since_save = 0.0
        self.last_save_seconds = seconds


class StopAtEpochEnd:
    """Ctrl-C / SIGTERM while training: finish the epoch, checkpoint it, then stop (a second one
    stops at once, losing the epochs since the last checkpoint).

    Handlers can only be set in the main thread; elsewhere (a Ray task) the signals keep their
    handlers and interrupt at once, and the run resumes from its last checkpoint.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopAtEpochEnd:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN:
                    continue  # e.g. a background job's SIGINT: leave it ignored
                self._previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(
            f"{name}: stopping after this epoch, once it is checkpointed (again: stop now)", file=sys.stderr
        )
