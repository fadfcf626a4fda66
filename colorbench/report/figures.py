"""The report's figures: the forest plot of the whole study, and per generator its grid and curves."""

from __future__ import annotations

from pathlib import Path

from colorbench.measures import get_measure, metric_measures
from colorbench.report.curves import training_curves
from colorbench.report.forest import forest_plot
from colorbench.report.grids import image_grid
from colorbench.store.per_image import load_gray


def forest_metrics() -> tuple[str, ...]:
    """The metrics the forest plot shows besides the report's own (declared ``forest``)."""
    return tuple(m.name for m in metric_measures() if m.forest)


def add_figures(report, root: Path, metric: str, images: list[str]) -> None:
    """Attach figures to ``report`` (a :class:`~colorbench.report.build.Report`), in place."""
    from colorbench.report.build import Figure

    analysis = report.analysis
    if analysis is not None and not analysis.effects.empty:
        metrics = [
            m for m in dict.fromkeys((metric, *forest_metrics())) if m in set(analysis.effects["metric"])
        ]
        png = forest_plot(analysis.effects, analysis.gray_effects, metrics)
        report.figures.append(
            Figure(
                "forest",
                "",
                png,
                "Each setting's effect against its generator's Default (setting - Default), with 95% "
                "intervals; filled: the interval excludes 0. Dashed: gray - Default.",
            )
        )
    keys = report.per_image["data_key"] if "data_key" in report.per_image else []
    gray, _ = load_gray(root, keys)
    direction = get_measure(metric).direction
    for section in report.sections:
        runs = report.runs[report.runs["generator"] == section.generator]
        mine = report.per_image[report.per_image["generator"] == section.generator]
        key = mine["data_key"].iloc[0] if len(mine) else None
        gray_one = gray[gray["data_key"] == key] if key is not None and not gray.empty else gray.iloc[:0]
        grid = image_grid(runs, mine, gray_one, root, metric, direction, images)
        if grid is not None:
            png, credits = grid
            section.figures.append(
                Figure(
                    "grid",
                    section.generator,
                    png,
                    f"{section.generator}: val images where Default improved most, typically and least "
                    f"over gray (on {metric}); columns: grey input, each setting (lowest completed seed), "
                    "ground truth.",
                    credits=credits,
                )
            )
        curves = training_curves(runs, metric)
        if curves is not None:
            section.figures.append(
                Figure(
                    "curves",
                    section.generator,
                    curves,
                    f"{section.generator}: training losses per epoch and val {metric} at each evaluation, "
                    "one line per seed; dashed: gray. Y ranges from the runs that did not diverge.",
                )
            )
