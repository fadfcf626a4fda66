"""How long a study will take: pure arithmetic on measured costs, separately testable.

A run's wall time is its per-run start (building the networks, loading the data, writing its
records), its epochs (the first one pays a warm-up), its evaluations (every ``eval_every`` epochs
and the final one), and its checkpoint saves (as :class:`~colorbench.training.checkpointing.
CheckpointPolicy` decides them, from the epoch's and the save's length). A study's wall time is
its start-up (imports, planning) plus the runs scheduled as the local executor takes them: in
plan order, each to the first of ``workers`` slots that is free.

Packing: ``runs_per_device`` runs share one device. Each then runs at ``speedup / runs_per_device``
of its own speed alone, where ``speedup`` is the aggregate throughput of the packed runs over one
run's. The default, :data:`NO_PACKING_GAIN` (1.0), is the assumption that packing adds no
throughput: right for a CPU, which one run already keeps busy (workers divide its threads), and an
upper bound on the time for a GPU until ``benchmarks/bench_gpu.sh`` has measured the gain.

Where the costs come from (measured by :mod:`colorbench.study.throughput`, from the store or a
short probe) is recorded in :attr:`Costs.source` and printed with the estimate.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, replace

from colorbench.training.checkpointing import CheckpointPolicy

NO_PACKING_GAIN = 1.0


@dataclass(frozen=True)
class Costs:
    """Measured costs of one kind of run (a generator, variant, image size and batch on a device).

    Per-image costs are seconds at one run on the device alone; ``source`` says where they come
    from (``store: ...`` or ``probe: ...``).
    """

    train_s_per_image: float  # steady training, per train image
    eval_s_per_image: float  # one evaluation pass with its metrics, per val image
    checkpoint_s: float  # one full checkpoint save (G, D, both Adam states)
    warmup_s: float = 0.0  # what the first epoch costs beyond the steady rate
    run_start_s: float = 0.0  # per run, besides training, evaluation and saving
    record_write_s: float = 0.0  # one of a run's small record writes (fsynced)
    source: str = ""


@dataclass(frozen=True)
class RunShape:
    """What decides a run's length: its size of work, independent of speed."""

    label: str
    generator: str
    epochs: int  # epochs left to train (all, unless it resumes)
    total_epochs: int
    train_images_per_epoch: int  # whole batches only (the trainer drops the last partial one)
    val_images: int
    eval_every: int = 0
    checkpoint_every: float | None = None  # minutes; 0: every epoch; None: the default budget


@dataclass(frozen=True)
class RunEstimate:
    label: str
    generator: str
    train_s: float
    eval_s: float
    checkpoint_s: float
    start_s: float
    saves: int
    source: str

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s + self.checkpoint_s + self.start_s


@dataclass
class StudyEstimate:
    runs: list[RunEstimate]
    workers: int
    runs_per_device: int
    packing_speedup: float
    startup_s: float  # the study's own start-up: imports, planning, data checks
    worker_start_s: float  # each spawned worker's (workers > 1): imports, CUDA, data
    wall_s: float = 0.0  # start-up + the scheduled runs' makespan
    per_generator_s: dict[str, float] = field(default_factory=dict)  # makespan of its runs alone
    notes: list[str] = field(default_factory=list)


def train_images_per_epoch(train_images: int, batch_size: int) -> int:
    """Images one epoch trains on: whole batches only, as the trainer's loader (drop_last)."""
    return (train_images // batch_size) * batch_size


def evaluations(first_epoch: int, epochs: int, eval_every: int) -> int:
    """Evaluations from ``first_epoch`` to ``epochs``: every ``eval_every`` epochs and the final one."""
    between = 0
    if eval_every:
        between = sum(1 for e in range(first_epoch, epochs) if e % eval_every == 0)
    return between + 1


def checkpoint_saves(epoch_s: float, save_s: float, epochs: int, every_minutes: float | None) -> int:
    """How many saves the trainer's own policy makes over ``epochs`` epochs of ``epoch_s`` each."""
    if epochs <= 0:
        return 0
    policy = CheckpointPolicy(every_minutes)
    saves = 0
    for epoch in range(1, epochs + 1):
        if policy.due(epoch_s) or epoch == epochs:
            policy.saved(save_s)
            saves += 1
    return saves


def record_writes(epochs: int, evaluations: int) -> int:
    """The trainer's record writes in a run: config, history reset, summary at start and end, the
    history after every epoch and at the end, the per-image rows after every evaluation."""
    return 5 + epochs + evaluations


def packed_slowdown(runs_per_device: int, speedup: float = NO_PACKING_GAIN) -> float:
    """How much longer a run takes when ``runs_per_device`` share its device (1.0: alone)."""
    if runs_per_device < 1:
        raise ValueError(f"runs_per_device must be at least 1, got {runs_per_device}")
    if not 0 < speedup <= runs_per_device:
        raise ValueError(f"packing speedup must be in (0, {runs_per_device}], got {speedup}")
    return runs_per_device / speedup


def estimate_run(shape: RunShape, costs: Costs, slowdown: float = 1.0) -> RunEstimate:
    """One run's wall time from its shape and its costs; ``slowdown`` from packing.

    Packing slows what runs on the device (training, evaluation); saving and the run's start are
    taken as unaffected.
    """
    epoch_s = shape.train_images_per_epoch * costs.train_s_per_image * slowdown
    train_s = shape.epochs * epoch_s + (costs.warmup_s * slowdown if shape.epochs else 0.0)
    first = shape.total_epochs - shape.epochs + 1
    eval_s = evaluations(first, shape.total_epochs, shape.eval_every) * shape.val_images
    eval_s *= costs.eval_s_per_image * slowdown
    saves = checkpoint_saves(epoch_s, costs.checkpoint_s, shape.epochs, shape.checkpoint_every)
    writes = record_writes(shape.epochs, evaluations(first, shape.total_epochs, shape.eval_every))
    return RunEstimate(
        label=shape.label,
        generator=shape.generator,
        train_s=train_s,
        eval_s=eval_s,
        checkpoint_s=saves * costs.checkpoint_s,
        start_s=costs.run_start_s + writes * costs.record_write_s,
        saves=saves,
        source=costs.source,
    )


def makespan(durations: list[float], workers: int, worker_start_s: float = 0.0) -> float:
    """Wall time of ``durations`` taken in order, each by the first of ``workers`` free slots."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not durations:
        return 0.0
    slots = [worker_start_s] * min(workers, len(durations))
    heapq.heapify(slots)
    for seconds in durations:
        heapq.heappush(slots, heapq.heappop(slots) + seconds)
    return max(slots)


def estimate_study(
    shapes: list[tuple[RunShape, Costs]],
    *,
    workers: int = 1,
    runs_per_device: int = 1,
    packing_speedup: float = NO_PACKING_GAIN,
    startup_s: float = 0.0,
    worker_start_s: float = 0.0,
) -> StudyEstimate:
    """The study's wall time: ``shapes`` in the order the executor takes them.

    ``workers`` runs at once, ``runs_per_device`` of them on each device (a CPU is one device: with
    the local executor every worker shares it, so pass ``runs_per_device=workers`` there). Spawned
    workers (``workers`` > 1) each pay ``worker_start_s`` before their first run.
    """
    # Fewer runs than slots spread over the devices: at most ceil(runs / devices) share one
    # (taken to keep the gain measured at runs_per_device, up to their number).
    devices = math.ceil(workers / max(1, min(runs_per_device, workers)))
    runs_per_device = max(1, min(runs_per_device, workers, math.ceil(len(shapes) / devices)))
    slowdown = packed_slowdown(runs_per_device, min(packing_speedup, runs_per_device))
    runs = [estimate_run(shape, costs, slowdown) for shape, costs in shapes]
    spawn = worker_start_s if workers > 1 else 0.0
    result = StudyEstimate(runs, workers, runs_per_device, packing_speedup, startup_s, spawn)
    for generator in dict.fromkeys(r.generator for r in runs):
        own = [r.total_s for r in runs if r.generator == generator]
        result.per_generator_s[generator] = makespan(own, workers, spawn)
    result.wall_s = startup_s + makespan([r.total_s for r in runs], workers, spawn)
    return result


def scaled(costs: Costs, factor: float, source: str) -> Costs:
    """``costs`` with per-image costs multiplied by ``factor`` (another batch or variant)."""
    return replace(
        costs,
        train_s_per_image=costs.train_s_per_image * factor,
        eval_s_per_image=costs.eval_s_per_image * factor,
        source=source,
    )


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def describe_estimate(estimate: StudyEstimate, machine: str) -> str:
    """The lines ``colorbench run --dry-run`` prints."""
    runs = estimate.runs
    packing = ""
    if estimate.runs_per_device > 1:
        gain = (
            "packing assumed to add no throughput"
            if estimate.packing_speedup == NO_PACKING_GAIN
            else f"packed throughput {estimate.packing_speedup:.2f}x one run's"
        )
        packing = f", {estimate.runs_per_device} runs per device ({gain})"
    lines = [f"estimate on this machine ({machine}; {estimate.workers} worker(s){packing}):"]
    for generator, seconds in estimate.per_generator_s.items():
        own = [r for r in runs if r.generator == generator]
        parts = _parts(own)
        lines.append(f"  {generator}: {len(own)} run(s), {duration(seconds)} ({parts})")
        for source in dict.fromkeys(r.source for r in own):
            lines.append(f"    from {source}")
    if runs:
        lines.append(
            f"  study: {duration(estimate.wall_s)} wall time ({len(runs)} run(s), {_parts(runs)}; "
            f"start-up {duration(estimate.startup_s)})"
        )
    else:
        lines.append("  nothing to train")
    lines += [f"  note: {note}" for note in estimate.notes]
    return "\n".join(lines)


def _parts(runs: list[RunEstimate]) -> str:
    def total(attribute: str) -> str:
        return duration(sum(getattr(r, attribute) for r in runs))

    saves = sum(r.saves for r in runs)
    return (
        f"summed over runs: training {total('train_s')}, evaluation {total('eval_s')}, "
        f"{saves} checkpoint save(s) {total('checkpoint_s')}, per-run start {total('start_s')}"
    )
