"""Carry out a study plan through an executor; skip what is done, resume what was interrupted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from colorbench.errors import ColorbenchError
from colorbench.store import RunBusy, Status, Store
from colorbench.study.estimate import duration
from colorbench.study.executors import Executor, RunTask, execute_task
from colorbench.study.plan import StudyPlan, describe_plan, refresh_state


def default_study_name(plugins: list[str], factors: list[str], grid: bool) -> str:
    return f"{'+'.join(plugins)}-{'+'.join(factors) or 'baseline'}{'-grid' if grid else ''}"


@dataclass
class StudyOutcome:
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    record_path: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if o["status"] == Status.FAILED]

    @property
    def exit_code(self) -> int:
        """0: every requested run completed (or was done already); 1: some run failed."""
        return 1 if self.failed else 0


def _clear_runs(plan: StudyPlan, store: Store) -> None:
    """--force: forget the planned runs' results (each under its lock) so they train again."""
    for run in plan.runs:
        if not run.planned:
            continue
        directory = store.run(run.run_id)
        if not directory.exists():
            continue
        try:
            with directory.lock():
                directory.clear()
        except RunBusy as busy:
            raise ColorbenchError(f"--force: run {run.run_id} is being trained right now ({busy})") from None
        run.state, run.detail = Status.NOT_STARTED, None


def check_generators(plan: StudyPlan) -> None:
    """One forward of every distinct generator to train, on the CPU, before anything trains.

    A generator whose output breaks the contract (wrong shape, raw a*b*, NaN) stops the study
    here with one line naming the plugin and variant, instead of failing every run.
    """
    from colorbench.models import get_generator
    from colorbench.models.conformance import check_output

    seen = set()
    for run in plan.to_train():
        spec = run.spec
        key = (spec.generator, spec.variant, spec.image_size, tuple(sorted(spec.generator_options.items())))
        if key in seen:
            continue
        seen.add(key)
        plugin = get_generator(spec.generator)
        module = plugin.build_module(spec.variant, spec.image_size, spec.generator_options)
        check_output(plugin, spec.variant, spec.image_size, spec.generator_options, module)


def check_nothing_runs(plan: StudyPlan) -> None:
    """A study none of whose runs can ever train is a usage error (exit code 2), not a success."""
    if plan.runs and not any(r.planned for r in plan.runs):
        raise ColorbenchError(
            f"nothing can run: all {len(plan.runs)} runs of study {plan.name} are infeasible or not "
            "applicable (reasons above); change --set, --vary or --values"
        )


def check_data(plan: StudyPlan, cache_dir: str | None) -> None:
    """Prepare the data of every run to train, before any training: bad data is one line, exit 2.

    The same check ``colorbench train`` and ``colorbench data prepare`` make (a folder of
    non-images, annotations naming only absent files); without it every run would fail alone.
    The prepared cache is what the runs use next, so this costs nothing extra.
    """
    from colorbench.data.cache import prepare

    for data in dict.fromkeys(r.spec.data for r in plan.to_train()):
        prepare(data, cache_dir=cache_dir)


def check_precision_changes(plan: StudyPlan, store: Store) -> None:
    """Refuse, before anything trains, to resume a checkpoint trained in another precision.

    Only for executors that train on this machine (``local``): elsewhere (Ray) each worker
    resolves ``auto`` on its own hardware and the trainer refuses there (that run fails, exit 1).
    """
    from colorbench.training.hardware import forced_auto_precision, resolve_device, resolve_precision
    from colorbench.training.resume import precision_change

    forced_auto_precision()  # a bad COLORBENCH_AUTO_PRECISION is a usage error, before training
    refused = []
    for run in plan.to_train():
        directory = store.run(run.run_id)
        found = directory.checkpoint_precision()
        if found is None:
            continue
        precision = resolve_precision(run.spec.precision, resolve_device(run.options.device))
        if found != precision:
            refused.append((run, found, precision, directory.checkpoint_epoch()))
    if len(refused) == 1:
        run, found, precision, epoch = refused[0]
        raise ColorbenchError(precision_change(run.spec, found, precision, epoch))
    if refused:
        listed = ", ".join(f"{run.run_id} {found} -> {precision}" for run, found, precision, _ in refused)
        found_in = sorted({found for _, found, _, _ in refused})
        keep = ""
        if len(found_in) == 1:
            keep = f", or set COLORBENCH_AUTO_PRECISION={found_in[0]} to resume them in {found_in[0]}"
        raise ColorbenchError(
            f"{len(refused)} runs have checkpoints trained in another precision than they resolve to "
            f"here ({listed}); resuming would mix precisions in one run. Pass --restart to train them "
            f"again from scratch{keep}"
        )


def print_estimate(plan: StudyPlan, store: Store, cache_dir: str | None, **options: Any) -> None:
    """The dry run's estimate of the study's wall time on this machine (colorbench.study.estimate)."""
    from colorbench.study.estimate import describe_estimate
    from colorbench.study.throughput import plan_estimate

    try:
        estimate, machine = plan_estimate(plan, store, cache_dir=cache_dir, **options)
    except ColorbenchError as exc:  # e.g. device=cuda planned on a machine without one (Ray's driver)
        click.echo(f"no estimate on this machine: {exc}")
        return
    except Exception as exc:  # the probe's training steps failed (out of memory, a plugin's bug)
        click.echo(f"no estimate on this machine: the probe failed: {type(exc).__name__}: {exc}")
        return
    click.echo(describe_estimate(estimate, machine.describe()))


def run_study(
    plan: StudyPlan,
    root: Path,
    executor: Executor,
    *,
    command: str,
    cache_dir: str | None = None,
    force: bool = False,
    restart: bool = False,
    dry_run: bool = False,
    reuse_stale: bool = False,
    trust_checkpoint: bool = False,
    estimate: dict[str, Any] | None = None,
) -> StudyOutcome:
    """Print and record the plan, then train every run that is not done."""
    root = Path(root)
    store = Store(root)
    refresh_state(plan, store, reuse_stale=reuse_stale)
    click.echo(describe_plan(plan))
    check_nothing_runs(plan)
    result = StudyOutcome()
    if dry_run:
        if estimate is not None:  # the keyword arguments of throughput.plan_estimate
            print_estimate(plan, store, cache_dir, **estimate)
        return result
    check_generators(plan)
    check_data(plan, cache_dir)
    if executor.name == "local" and not (force or restart):
        check_precision_changes(plan, store)
    result.record_path = store.write_study(plan.record(command))
    if force:
        _clear_runs(plan, store)
    todo = plan.to_train()
    tasks = [
        RunTask(
            r.run_id,
            r.spec.to_dict(),
            r.options.replace(trust_checkpoint=trust_checkpoint, restart=restart).to_dict(),
            str(root),
            cache_dir,
            r.label,
        )
        for r in todo
    ]
    labels = {t.run_id: t.label for t in tasks}
    started = time.perf_counter()

    def report(outcome: dict[str, Any]) -> None:
        # Any executor's status, a member or its value, becomes the member (unknown: unreadable).
        outcome["status"] = Status.parse(outcome.get("status"))
        result.outcomes.append(outcome)
        k, n = len(result.outcomes), len(tasks)
        elapsed = time.perf_counter() - started
        detail = f" ({outcome['error']})" if outcome.get("error") else ""
        eta = f", about {duration(elapsed / k * (n - k))} left" if k < n else ""
        click.echo(
            f"[{k}/{n}] {labels[outcome['run_id']]}: {outcome['status']} in {outcome['seconds']:.1f}s"
            f"{detail}; elapsed {duration(elapsed)}{eta}"
        )

    if tasks:
        click.echo(f"training {len(tasks)} run(s) with the {executor.name} executor")
    try:
        executor.run(tasks, report)
        # Runs another process was training: wait for it, then take over whatever it left undone.
        for outcome in [o for o in result.outcomes if o["status"] is Status.BUSY]:
            click.echo(f"waiting for another process to finish {outcome['run_id']}")
            store.run(outcome["run_id"]).wait()
            task = next(t for t in tasks if t.run_id == outcome["run_id"])
            outcome.update(execute_task(task))
    except KeyboardInterrupt:
        store.write_study(plan.record(command))
        click.echo(
            "interrupted: finished epochs are kept; run the same command again to continue "
            f"(study record {result.record_path})",
            err=True,
        )
        raise
    result.wall_seconds = time.perf_counter() - started
    store.write_study(plan.record(command))
    refresh_state(plan, store, reuse_stale=reuse_stale)
    done = sum(1 for r in plan.runs if r.planned and r.state.finished)
    planned = sum(1 for r in plan.runs if r.planned)
    click.echo(
        f"study {plan.name}: {done}/{planned} runs done, {len(result.failed)} failed, "
        f"{duration(result.wall_seconds)}; results in {root} (record {result.record_path})"
    )
    click.echo(f"next: colorbench report --out {root} --study {plan.name} --format html")
    return result
