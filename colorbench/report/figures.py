"""The report's figures: the forest plot of the whole study, and per generator its grid and curves."""

from __future__ import annotations

from pathlib import Path

from colorbench.measures import get_measure, metric_measures
from colorbench.report.curves import OFF_RATIO, training_curves
from colorbench.report.forest import OUTLIER_RATIO, forest_plot
from colorbench.report.grids import image_grid
from colorbench.report.labels import measure_label
from colorbench.report.per_image import profile_png
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
        shown = {s.generator: s.name for s in report.sections}
        png = forest_plot(analysis.effects, analysis.gray_effects, metrics, generator_labels=shown)
        report.figures.append(
            Figure(
                "forest",
                "",
                png,
                "Each setting's effect against its generator's Default (setting − Default), with 95% "
                "intervals (uncorrected); filled dot: the interval excludes 0, hollow: it includes 0. "
                "Solid line: 0, no change from Default. Dashed line: gray − Default, the grey band its "
                '95% interval; when gray lies far outside the settings\' range, "gray ±x →" at the '
                f"panel's top edge gives its value instead. Triangle at the edge: an effect over "
                f"{OUTLIER_RATIO:g}x the panel's median |effect|, drawn off scale with its value and "
                "interval printed.",
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
                    f"{section.name}: val images where Default improved most, typically and least "
                    f"over gray (on {measure_label(metric)}); columns: grey input, each setting (lowest "
                    "completed seed), "
                    "ground truth.",
                    credits=credits,
                )
            )
        profile = None
        if analysis is not None:
            profile = profile_png(analysis.profiles, section.generator, metric, section.name)
        if profile is not None:
            section.figures.append(
                Figure(
                    "profile",
                    section.generator,
                    profile,
                    f"{section.name}: performance profiles against Default on {measure_label(metric)}: "
                    "for each setting, the share of val images (improvement averaged over its seeds) it "
                    "improves on Default by more than τ, in the metric's good direction; the shaded band "
                    "is the 95% percentile bootstrap over seeds and images (not calibrated for few seeds). "
                    "Dotted: τ = 0 and a share of "
                    "one half (where a profile crosses it: the median improvement). A setting far off "
                    "the others is named in the legend with its median improvement instead of drawn.",
                )
            )
        curves = training_curves(runs, metric)
        if curves is not None:
            section.figures.append(
                Figure(
                    "curves",
                    section.generator,
                    curves,
                    f"{section.name}: training losses per epoch and val {measure_label(metric)} at each "
                    "evaluation, one line per seed (colour); dashed: gray. Each column's y range covers "
                    "the runs that did not diverge and do not lie far off the others (a run's median "
                    f"over {OFF_RATIO:g}x the runs' typical distance from their centre); points beyond "
                    "it are triangles at the panel's edge, the run's last such value printed.",
                )
            )
