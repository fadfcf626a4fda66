"""The one vocabulary of a run's state, from the plan to the report.

Every status that is stored (summary.json, study records), compared or shown is a member of
:class:`Status`. It is a ``str`` subclass whose value is what records and tables hold: the results
frame (``colorbench.store.reader.load_runs``) keeps the plain values (``Status.X.value``), so CSV,
Parquet and pandas see strings; code compares against ``Status.X`` (or ``Status.X.value`` in a
frame), never against a string literal (``tests/test_architecture.py`` enforces it).
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Where a run stands. The value is what records and tables show."""

    PLANNED = "planned"  # a study record's entry for a run to train; its live status is its directory's
    NOT_STARTED = "not-started"  # planned, nothing on disk yet
    RUNNING = "running"  # a process holds the run's lock and is training it
    INTERRUPTED = "interrupted"  # stopped (Ctrl-C, kill): resumes from its checkpoint
    COMPLETED = "completed"
    DIVERGED = "diverged"  # a loss became NaN or infinite: finished, without final metrics
    FAILED = "failed"  # an error stopped it; the next run of the study retries it
    INFEASIBLE = "infeasible"  # cannot run at this size / batch (never trained)
    NOT_APPLICABLE = "not-applicable"  # the factor cannot act on this generator (never trained)
    STALE = "stale"  # completed with a plugin whose code or weights have changed since
    UNREADABLE = "unreadable"  # its records are damaged
    BUSY = "busy"  # an executor's outcome: another process holds the run's lock (the study waits for it)

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """Nothing more to train (the run is done, one way or the other)."""
        return self in (Status.COMPLETED, Status.DIVERGED)

    @property
    def pending(self) -> bool:
        """Still to be trained, or being trained: numbers so far cover the other seeds only."""
        return self in (Status.NOT_STARTED, Status.RUNNING, Status.INTERRUPTED)

    @property
    def never_trained(self) -> bool:
        """Decided at planning: the run is not trained at all."""
        return self in (Status.INFEASIBLE, Status.NOT_APPLICABLE)

    @classmethod
    def parse(cls, value: object) -> Status:
        """A status read from a record; anything unknown reads as unreadable."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNREADABLE
