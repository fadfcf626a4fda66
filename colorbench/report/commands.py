"""``colorbench results`` (one row per run) and ``colorbench report`` (the study's tables and figures).

Both only read the results store; neither trains anything. Heavy imports (pandas, matplotlib,
torchvision) happen inside the commands so that ``colorbench --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from colorbench.errors import ColorbenchError

_OUT = click.option(
    "--out",
    "out_dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The results store (what colorbench run --out wrote).",
)
_STUDY = click.option(
    "--study", "studies", multiple=True, metavar="NAME", help="A study to read (repeatable; default: all)."
)


@click.command("results")
@_OUT
@_STUDY
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="csv: for pandas or a spreadsheet; json: a list of row objects.",
)
@click.option(
    "--stale",
    "include_stale",
    is_flag=True,
    help="Also the runs a plugin change superseded (status stale), next to their replacements.",
)
@click.option(
    "--per-image",
    is_flag=True,
    help="The long table instead: one row per (run, evaluation epoch, val image) with its metrics.",
)
def results_command(
    out_dir: str, studies: tuple[str, ...], fmt: str, include_stale: bool, per_image: bool
) -> None:
    """Print one row per (study, setting, generator, seed): configuration, status, losses, metrics."""
    from colorbench.store.reader import load_runs, store_warnings

    problems: list[str] = []
    frame = load_runs(out_dir, list(studies) or None, include_stale=include_stale, problems=problems)
    for problem in [*problems, *store_warnings(frame)]:
        click.echo(problem, err=True)
    if per_image:
        from colorbench.store.per_image import load_per_image

        frame, problems = load_per_image(frame, final_only=False)
        for problem in problems:
            click.echo(f"note: {problem}", err=True)
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        # Through json again: pandas escapes every "/" in paths as "\/", which is valid but unreadable.
        click.echo(json.dumps(json.loads(frame.to_json(orient="records")), indent=1))


@click.command("report")
@_OUT
@_STUDY
@click.option(
    "--format",
    "formats",
    required=True,
    multiple=True,
    type=click.Choice(["html", "latex", "markdown", "csv", "all"]),
    help="html: one page; latex: standalone .tex plus \\input-able fragments; markdown: README tables; "
    "csv: the aggregated numbers. Repeat it, or 'all', to write several at once.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Output file (one study only); figures go beside it; with several formats each gets its "
    "extension. Default: reports/<study>/report.<ext>.",
)
@click.option("--template", type=click.Path(dir_okay=False), default=None, help="Your own jinja2 template.")
@click.option("--embed-images", is_flag=True, help="HTML: embed the figures, giving one self-contained file.")
@click.option(
    "--interval",
    type=click.Choice(["std", "ci95"]),
    default="std",
    show_default=True,
    help="Spread shown after each mean: sample std over seeds, or the 95% t-interval half-width.",
)
@click.option(
    "--metric",
    default=None,
    help="The val metric of the claim's verdict, the image grids and the curves (a ranked per-image "
    "metric; default: the one declared as the default verdict; colorbench metrics lists them).",
)
@click.option(
    "--columns",
    default=None,
    metavar="KEY,KEY",
    help="Table columns, in order: parameters, train_minutes, or the name of a loss or metric shown in "
    "tables (colorbench metrics lists them). Default: all; LaTeX fragments: a selection that fits "
    "a page width.",
)
@click.option(
    "--table-float",
    type=click.Choice(["table*", "table"]),
    default="table*",
    show_default=True,
    help="LaTeX: table* spans both columns of a two-column paper; table fits one (choose few --columns).",
)
@click.option(
    "--images",
    default=None,
    metavar="ID,ID",
    help="Val image ids to add to the image grids (besides Default's best, median and worst over gray).",
)
@click.option("--no-figures", is_flag=True, help="Tables only (no forest plot, image grids or curves).")
def report_command(
    out_dir,
    studies,
    formats,
    output,
    template,
    embed_images,
    interval,
    metric,
    columns,
    table_float,
    images,
    no_figures,
) -> None:
    """Write a study's report: tables, effects with intervals, verdicts, figures, protocol."""
    from colorbench.report.build import build_report
    from colorbench.report.render import FORMATS, default_output, write_report
    from colorbench.store.reader import load_study, no_studies_message, store_warnings, study_names

    chosen = list(FORMATS) if "all" in formats else list(dict.fromkeys(formats))
    if template and len(chosen) > 1:
        raise ColorbenchError("--template is for one --format at a time")
    names = list(studies) or study_names(out_dir)
    if not names:
        raise ColorbenchError(no_studies_message(out_dir))
    if output and len(names) > 1:
        raise ColorbenchError(
            f"-o names one file but {len(names)} studies were selected; pick one with --study"
        )
    keys = [k.strip() for k in columns.split(",") if k.strip()] if columns else None
    if metric is None:
        from colorbench.analysis.inputs import DEFAULT_METRIC

        metric = DEFAULT_METRIC
    asked = [i.strip() for i in images.split(",") if i.strip()] if images else []
    for name in names:
        if not studies and len(names) > 1:
            try:  # every study of the store: a malformed record is one line, the others go on
                load_study(out_dir, name)
            except ColorbenchError as exc:
                click.echo(f"warning: {exc}; skipped", err=True)
                continue
        report = build_report(
            out_dir,
            name,
            interval=interval,
            with_figures=not no_figures and any(f != "csv" for f in chosen),
            verdict_metric=metric,
            images=asked,
        )
        for problem in store_warnings(report.runs):
            click.echo(f"{name}: {problem}", err=True)
        for fmt in chosen:
            if output:
                target = Path(output)
                if len(chosen) > 1:
                    target = target.with_suffix("." + FORMATS[fmt].extension)
            else:
                target = default_output(name, fmt)
            paths = write_report(
                report,
                fmt,
                target,
                template=Path(template) if template else None,
                embed_images=embed_images,
                tex_float=table_float,
                columns=keys,
            )
            click.echo(
                f"{name}: wrote {paths[0]}" + (f" (+{len(paths) - 1} files beside it)" if paths[1:] else "")
            )
