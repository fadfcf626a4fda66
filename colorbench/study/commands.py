"""``colorbench run``: the main job -- a study of one or more generators."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import click

from colorbench.training.presets import PRESETS
from colorbench.training.spec import SET_HELP

# COLORBENCH_NO_PROBE=1: as --no-probe on every dry run (the test suite's dry runs set it).
NO_PROBE_ENV = "COLORBENCH_NO_PROBE"


class _ExecutorChoice(click.Option):
    """``--executor``: its help lists the registered executors, read when the help is shown (the
    entry points are not scanned for every command line)."""

    def get_help_record(self, ctx):
        from colorbench.study.executor_plugins import executors_help

        base = self.help.split(" Registered: ")[0]
        self.help = f"{base} Registered: {executors_help()}."
        return super().get_help_record(ctx)


@click.command("run")
@click.option("--plugin", "plugins", multiple=True, help="Generator(s) to study; repeat, or 'all'.")
@click.option(
    "--vary", default="all", show_default=True, help="Factors: lr, batch, init, layers (comma list) or all."
)
@click.option("--grid", is_flag=True, help="Full product of the named factors instead of one at a time.")
@click.option("--values", multiple=True, metavar="FACTOR=V1,V2", help="Override a factor's levels.")
@click.option("--seeds", default=1, show_default=True, type=int, help="Seeds per setting.")
@click.option(
    "--preset",
    default="quick",
    show_default=True,
    type=click.Choice(sorted(PRESETS)),
    help="Starting values: smoke (seconds, tests), quick (built-in photos, 64 px), paper (the study's).",
)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option(
    "--data",
    default=None,
    metavar="SPEC",
    help="sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR (as colorbench data prepare --data).",
)
@click.option(
    "--out",
    "out_dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The results store (read by colorbench results and report).",
)
@click.option("--study", "study_name", default=None, help="Study name (default: from plugins and factors).")
@click.option(
    "--executor",
    cls=_ExecutorChoice,
    default="local",
    show_default=True,
    metavar="NAME",
    help="Where the runs train.",
)
@click.option(
    "--executor-option",
    "executor_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the chosen executor (listed with --executor above); repeat.",
)
@click.option(
    "--workers",
    default=None,
    type=int,
    help="Same as --executor-option workers=N (local: runs at once; default devices x runs per device).",
)
@click.option(
    "--devices",
    default=None,
    metavar="LIST",
    help="Same as --executor-option devices=LIST (local: cpu, cuda or cuda:0,cuda:1; default every "
    "visible GPU, else the CPU). Where runs train, not what they are: run ids stay the same.",
)
@click.option(
    "--runs-per-device",
    default=None,
    type=int,
    metavar="N",
    help="Same as --executor-option runs_per_device=N: runs packed onto each device at once "
    "(local: N workers per device; ray: 1/N of a GPU per run). Default 1.",
)
@click.option(
    "--address", default=None, help="Same as --executor-option address=A (ray: 'auto' or an address)."
)
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="Prepared-data cache.")
@click.option(
    "--force", is_flag=True, help="Retrain every run of the study from scratch, even those that are done."
)
@click.option(
    "--restart",
    is_flag=True,
    help="Start a run whose checkpoint was trained in another precision than it resolves to here "
    "again from scratch, instead of refusing to resume it (other runs resume as usual; --force covers it).",
)
@click.option(
    "--reuse-stale",
    is_flag=True,
    help="Count runs made with an older version of a plugin as done instead of retraining them.",
)
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Resume from older-format checkpoints (their pickle can run code: only from a trusted source).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and print the plan and its estimated wall time on this machine, then stop.",
)
@click.option(
    "--no-probe",
    is_flag=True,
    help="--dry-run: estimate only from earlier runs in the store; never time a few training steps here.",
)
def run_command(
    plugins,
    vary,
    grid,
    values,
    seeds,
    preset,
    settings,
    data,
    out_dir,
    study_name,
    executor,
    executor_options,
    workers,
    devices,
    runs_per_device,
    address,
    cache_dir,
    force,
    restart,
    reuse_stale,
    trust_checkpoint,
    dry_run,
    no_probe,
) -> None:
    """Run a study: the baseline plus one-factor-at-a-time variations, as in the paper.

    Completed runs are skipped, interrupted ones resume from their checkpoints; rerunning the
    same command trains nothing new.

    \b
    Exit codes: 0 every requested run completed (or was done already; diverged counts as done),
    1 some run failed, 2 a usage or data error found before training (a checkpoint trained in
    another precision than this machine resolves to, say: --restart), or nothing can run,
    130 interrupted (Ctrl-C or SIGTERM; the same command continues).
    """
    from colorbench.errors import ColorbenchError
    from colorbench.store.studies import check_study_name, existing_design_hash, free_study_name
    from colorbench.study.design import parse_factors, parse_values
    from colorbench.study.executor_plugins import make_executor, parse_executor_options
    from colorbench.study.plan import build_plan, expand_plugins
    from colorbench.study.runner import default_study_name, run_study
    from colorbench.training.commands import parse_settings

    names, skipped = expand_plugins(plugins)
    factors = parse_factors(vary)
    overrides = parse_settings(settings)
    given = parse_executor_options(executor_options)
    if workers is not None:
        given["workers"] = workers
    if address is not None:
        given["address"] = address
    if devices is not None:
        given["devices"] = devices
    if runs_per_device is not None:
        given["runs_per_device"] = runs_per_device
    chosen = make_executor(executor, given)
    plan = build_plan(
        name=check_study_name(study_name or default_study_name(names, factors, grid)),
        plugins=names,
        factors=factors,
        preset=preset,
        overrides=overrides,
        seeds=seeds,
        values=parse_values(values),
        grid=grid,
        data=data,
        cache_dir=cache_dir,
    )
    plan.skipped_plugins = skipped
    root = Path(out_dir)
    if study_name is None:
        plan.name = free_study_name(root, plan.name, plan.design_hash)
    elif existing_design_hash(root, plan.name) not in (None, plan.design_hash):
        raise ColorbenchError(
            f"study {plan.name!r} in {root} was recorded with another design; "
            "choose another name with --study NAME (or remove its record to replace it)"
        )
    command = "colorbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    # A scheduler's (or kill's) SIGTERM stops as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcome = run_study(
            plan,
            root,
            chosen,
            command=command,
            cache_dir=cache_dir,
            force=force,
            restart=restart,
            dry_run=dry_run,
            reuse_stale=reuse_stale,
            trust_checkpoint=trust_checkpoint,
            estimate=_estimate_options(chosen, no_probe) if dry_run else None,
        )
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if hasattr(chosen, "shutdown"):
            chosen.shutdown()
    sys.exit(outcome.exit_code)


def _estimate_options(executor, no_probe: bool) -> dict:
    """How the dry run's estimate schedules the runs: as the executor will (workers, packing)."""
    probe = not no_probe and os.environ.get(NO_PROBE_ENV, "").strip() != "1"
    return {
        "workers": _planned_workers(executor),
        "runs_per_device": getattr(executor, "runs_per_device", None),
        "allow_probe": probe,
    }


def _planned_workers(executor) -> int:
    """Workers the executor will start: given, or (local) its devices x runs per device."""
    workers = getattr(executor, "workers", None)
    if workers or not hasattr(executor, "devices"):
        return workers or 1
    from colorbench.study.placement import worker_count

    # Devices not named: one device here (every visible GPU is only known once the runs resolve).
    return worker_count(len(executor.devices or ()) or 1, getattr(executor, "runs_per_device", None), None)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
