"""Carry out a study plan through an executor; skip what is done, resume what was interrupted."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import click

from colorbench.errors import ColorbenchError
from colorbench.study.executors import Executor, RunTask, execute_task
from colorbench.study.plan import StudyPlan, describe_plan, refresh_progress
from colorbench.study.store import RunBusy, run_lock, wait_for_run, write_study


def default_study_name(plugins: list[str], factors: list[str], grid: bool) -> str:
    return f"{'+'.join(plugins)}-{'+'.join(factors) or 'baseline'}{'-grid' if grid else ''}"


def _clear_runs(plan: StudyPlan, out_dir: Path) -> None:
    """--force: forget the planned runs' results (each under its lock) so they train again."""
    for r in plan.runs:
        if r.status != "planned":
            continue
        run_dir = out_dir / r.run_id
        if not run_dir.exists():
            continue
        try:
            with run_lock(run_dir):
                for child in run_dir.iterdir():
                    if child.name in (".lock", ".lock.owner"):
                        continue
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        except RunBusy as busy:
            raise ColorbenchError(f"--force: run {r.run_id} is being trained right now ({busy})") from None
        r.progress = "new"


def run_study(
    plan: StudyPlan,
    out_dir: Path,
    executor: Executor,
    *,
    command: str,
    cache_dir: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Print and record the plan, then train every run that is not done. Returns outcomes."""
    out_dir = Path(out_dir)
    refresh_progress(plan, out_dir)
    click.echo(describe_plan(plan))
    if dry_run:
        return {"outcomes": [], "wall_seconds": 0.0}
    record_path = write_study(out_dir, plan.record(command))
    if force:
        _clear_runs(plan, out_dir)
    todo = plan.to_train()
    labels = {r.run_id: f"{r.generator} {r.setting.label} seed {r.seed}" for r in todo}
    tasks = [RunTask(r.run_id, r.config.to_dict(), str(out_dir), cache_dir, labels[r.run_id]) for r in todo]
    outcomes: list[dict[str, Any]] = []
    started = time.perf_counter()

    def report(outcome: dict[str, Any]) -> None:
        outcomes.append(outcome)
        detail = f" ({outcome['error']})" if outcome.get("error") else ""
        click.echo(
            f"[{len(outcomes)}/{len(tasks)}] {labels[outcome['run_id']]}: {outcome['status']} "
            f"in {outcome['seconds']:.1f}s{detail}"
        )

    try:
        executor.run(tasks, report)
        # Runs another process was training: wait for it, then take over whatever it left undone.
        for outcome in [o for o in outcomes if o["status"] == "busy"]:
            run_dir = out_dir / outcome["run_id"]
            click.echo(f"waiting for another process to finish {outcome['run_id']}")
            wait_for_run(run_dir)
            task = next(t for t in tasks if t.run_id == outcome["run_id"])
            outcome.update(execute_task(task))
    except KeyboardInterrupt:
        write_study(out_dir, plan.record(command))
        click.echo(
            f"interrupted: finished epochs are kept; run the same command again to continue "
            f"(study record {record_path})",
            err=True,
        )
        raise
    wall = time.perf_counter() - started
    write_study(out_dir, plan.record(command))
    refresh_progress(plan, out_dir)
    done = sum(1 for r in plan.runs if r.progress.startswith("done"))
    failed = [o for o in outcomes if o["status"] == "failed"]
    click.echo(
        f"study {plan.name}: {done}/{sum(1 for r in plan.runs if r.status == 'planned')} runs done, "
        f"{len(failed)} failed, {wall:.1f}s; record {record_path}"
    )
    return {"outcomes": outcomes, "wall_seconds": wall}
