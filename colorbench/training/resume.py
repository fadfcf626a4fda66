"""Whether a run may resume from its checkpoint in this machine's precision.

``precision=auto`` is hashed as asked and resolved where the run trains, so one run id can train
in bf16 on one machine and in fp32 on another. Its checkpoint records the precision it was
trained in; resuming it in another would mix two precisions in one run's numbers, so it is
refused (one line, naming both and the way out) unless the user asks to start again (``--restart``).
The trainer checks before any work; ``colorbench run`` with the local executor checks every run
before anything trains.
"""

from __future__ import annotations

from colorbench.errors import ColorbenchError
from colorbench.store import RunDirectory
from colorbench.training.hardware import AUTO_PRECISION_ENV
from colorbench.training.spec import RunSpec


class PrecisionChangedError(ColorbenchError):
    """A checkpoint trained in another precision than the run resolves to here (one line)."""


def precision_change(spec: RunSpec, found: str, resolved: str, epoch: int | None = None) -> str:
    """One line: what the checkpoint was trained in, what this machine resolves to, what to do."""
    after = f" (after epoch {epoch})" if epoch is not None else ""
    keep = (
        f", or set {AUTO_PRECISION_ENV}={found} to resume it in {found}" if spec.precision == "auto" else ""
    )
    return (
        f"run {spec.run_id}: its checkpoint{after} was trained in {found}, but precision "
        f"{spec.precision} resolves to {resolved} here; resuming would mix precisions in one run. "
        f"Pass --restart to train it again from scratch in {resolved}{keep}"
    )


def check_checkpoint_precision(
    spec: RunSpec, directory: RunDirectory, precision: str, *, restart: bool
) -> str | None:
    """Refuse to resume a checkpoint trained in another precision; with ``restart``, discard it.

    Returns why the run starts again from scratch (for its summary), or None when it resumes as
    usual (same precision, no checkpoint, or a checkpoint whose precision is unknown).
    """
    found = directory.checkpoint_precision()
    if found is None or found == precision:
        return None
    if not restart:
        raise PrecisionChangedError(precision_change(spec, found, precision, directory.checkpoint_epoch()))
    directory.discard_checkpoint()
    return (
        f"its checkpoint was trained in {found}, this machine resolves precision {spec.precision} "
        f"to {precision} (--restart)"
    )
