"""``colorbench metrics``: every declared loss and metric, and the metric plugins that are not usable."""

from __future__ import annotations

import click


def _flags(measure) -> str:
    from colorbench.measures import LOSS

    kind = "training loss (epoch mean)" if measure.kind == LOSS else f"per-{measure.scope} metric"
    flags = [kind, measure.reading]
    if measure.gray_degenerate:
        flags.append("gray is a degenerate reference")
    if not measure.table:
        flags.append("not in tables")
    return ", ".join(flags)


@click.command("metrics")
@click.argument("name", required=False)
def metrics_command(name: str | None) -> None:
    """List losses and metrics (entry points in 'colorbench.metrics'), or show one NAME in detail.

    A broken or conflicting metric plugin is listed with its reason (and left out of runs and
    reports); a metric whose needs are not met here says what is missing.
    """
    from colorbench.measures import get_measure, loss_measures, metadata_is_stale, metric_entries
    from colorbench.measures.registry import STALE_METADATA

    if name is not None:
        measure = get_measure(name)  # one-line error naming what exists
        lines = [
            f"{measure.name}  {measure.label} ({measure.short_label})  [{measure.unit}]  {_flags(measure)}",
            f"  {measure.description}",
        ]
        if measure.variant:
            lines.append(f"  variant: {measure.variant}")
        lines.append(f"  splits: {', '.join(measure.splits)}")
        for need in measure.needs:
            problem = need.problem()
            lines.append(f"  needs {need.kind}: {need.description}: {'ok' if problem is None else problem}")
        click.echo("\n".join(lines))
        return
    click.echo("losses (computed by the pix2pix objective):")
    for m in loss_measures():
        click.echo(f"  {m.name:18s} {m.label:12s} [{m.unit}]  {_flags(m)}")
    click.echo("metrics:")
    from colorbench.measures import builtin

    if metadata_is_stale():
        click.echo(f"  note: {STALE_METADATA}")
        for m in builtin.METRICS:
            click.echo(f"  {m.name:18s} {m.label:12s} [{m.unit}]  {_flags(m)}  colorbench (builtin module)")
    stale = {m.name for m in builtin.METRICS} if metadata_is_stale() else set()
    for entry in metric_entries():
        if entry.name in stale and entry.dist_name == "colorbench":
            continue  # listed above from the builtin module
        if not entry.ok:
            click.echo(f"  {entry.name:18s} {entry.status}  {entry.source}\n    reason: {entry.reason}")
            continue
        m = entry.plugin
        unmet = m.unmet_needs()
        state = "ok" if not unmet else "not computed here: " + "; ".join(unmet)
        click.echo(f"  {m.name:18s} {m.label:12s} [{m.unit}]  {_flags(m)}  {entry.source}  {state}")


def _sha256(path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@click.command("weights")
@click.argument("names", nargs=-1)
def weights_command(names: tuple[str, ...]) -> None:
    """List every weights file the metrics need (or those of metrics NAMES): where each is looked
    for, present or missing, and its sha256 when present. Nothing is downloaded here.

    Files are looked for where the library that loads them looks (TORCH_HOME moves torch's hub
    cache); a missing one is downloaded by the metric at first use where a network exists.
    """
    from colorbench.measures import get_measure, metric_measures

    chosen = [get_measure(name) for name in names] if names else list(metric_measures())
    files: dict[str, list[str]] = {}  # path -> the metrics needing it, in order
    for measure in chosen:
        for need in measure.needs:
            if need.kind == "weights" and need.path is not None:
                files.setdefault(str(need.path), []).append(measure.name)
    if not files:
        click.echo("no weights files: " + ("these metrics need none" if names else "no metric needs one"))
        return
    from pathlib import Path

    for path, users in files.items():
        present = Path(path).is_file()
        state = f"present  sha256 {_sha256(path)}" if present else "missing"
        click.echo(f"{Path(path).name}  [{', '.join(users)}]  {state}\n  looked for at {path}")
