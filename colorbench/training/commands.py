"""``colorbench train``: one run end to end (prepare data, train, evaluate, write the run directory)."""

from __future__ import annotations

import click

from colorbench.errors import ColorbenchError
from colorbench.training.presets import PRESETS
from colorbench.training.spec import SET_HELP


def parse_settings(settings: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ColorbenchError(f"--set expects key=value, got {item!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


@click.command("train")
@click.option(
    "--plugin", "generator", default="unet", show_default=True, help="Generator name (colorbench list)."
)
@click.option("--variant", default=None, help="Depth variant (default: the plugin's at this image size).")
@click.option(
    "--preset",
    default="quick",
    show_default=True,
    type=click.Choice(sorted(PRESETS)),
    help="Starting values: smoke (seconds, tests), quick (built-in photos, 64 px), paper (the study's).",
)
@click.option(
    "--data",
    default=None,
    metavar="SPEC",
    help="sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR (as colorbench data prepare --data).",
)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option(
    "--out",
    "out_dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The results store (read by colorbench results and report).",
)
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="Prepared-data cache.")
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Open an older-format checkpoint to resume (its pickle can run code: only from a trusted source).",
)
@click.option(
    "--restart",
    is_flag=True,
    help="If the run's checkpoint was trained in another precision than it resolves to here, "
    "train it again from scratch instead of refusing to resume it.",
)
def train_command(
    generator, variant, preset, data, settings, out_dir, cache_dir, trust_checkpoint, restart
) -> None:
    """Train and evaluate ONE run; its directory is named by the hash of its spec.

    \b
    Exit codes: 0 done, 2 a usage error (for one, a checkpoint trained in another precision than
    this machine resolves the run's to: pass --restart, or see COLORBENCH_AUTO_PRECISION).
    """
    from colorbench.store import Store
    from colorbench.training.presets import build_request
    from colorbench.training.spec import resolve_request
    from colorbench.training.trainer import train_run

    request = build_request(preset, generator, variant=variant, data=data, overrides=parse_settings(settings))
    resolved = resolve_request(request)
    options = resolved.options.replace(trust_checkpoint=trust_checkpoint, restart=restart)
    run = Store(out_dir).run(resolved.spec.run_id)
    summary = train_run(resolved.spec, options, run, cache_dir=cache_dir)
    final = summary.final_val or {}
    base = summary.baseline_gray or {}
    from colorbench.measures import metric_measures

    for measure in metric_measures():
        name = measure.name
        if measure.console and name in final:
            click.echo(f"  {name:10s} {final[name]:10.4f}   (gray {base.get(name, float('nan')):.4f})")
    click.echo(f"run directory: {run.path}")
