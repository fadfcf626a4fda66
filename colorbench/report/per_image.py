"""Per image, beside the mean: probability of improvement, median and IQM, and performance profiles.

The analysis computes these (:mod:`colorbench.analysis.profiles`); this module words them for every
report format (a lead sentence, then one line per setting, as the realism block) and draws the
profile figure: per setting, the share of val images it improves on Default by more than tau, with
the bootstrap band. A setting whose median improvement lies far off the others (He init's +20.9
ΔE00) would stretch the tau axis until every other profile is a step: it is left out of the x range
(the rule of :func:`colorbench.report.curves.far_runs`) and named in the legend with its median.
"""

from __future__ import annotations

import io
import math

import pandas as pd

from colorbench.analysis.profiles import POI_BASIS
from colorbench.measures import get_measure
from colorbench.report.curves import far_runs
from colorbench.report.labels import measure_label

FONT_PT = 7.5


def _fmt(value: float) -> str:
    return f"{value:.3g}".replace("-", "−")


def _span(row) -> str:
    return f"{row.probability:.2f} [{row.low:.2f}, {row.high:.2f}]"


def per_image_lines(analysis, generator: str, metric: str, labels: dict[str, str]) -> list[str]:
    """The lead sentence, then one line per setting of ``generator``; [] without per-image data."""
    if analysis is None:
        return []
    poi, agg = analysis.improvement, analysis.aggregates
    if poi is None or poi.empty or agg is None or agg.empty:
        return []
    poi = poi[(poi["generator"] == generator) & (poi["metric"] == metric)]
    agg = agg[(agg["generator"] == generator) & (agg["metric"] == metric)]
    if poi.empty and agg.empty:
        return []
    shown = measure_label(metric)
    unit = get_measure(metric).unit
    lead = (
        f"On {shown}, over every (seed, val image) pair: P(better) is the chance that the setting "
        "beats the reference on a random val image and seed, 0.5 = no better, no worse (95% interval: "
        f"{POI_BASIS}); median and IQM (the mean of the middle 50%) stand beside the table's mean, in "
        f"{unit}, with 95% percentile bootstrap intervals that are not calibrated for few seeds."
    )
    lines = [lead]
    for setting, label in labels.items():
        parts = []
        for reference, name in (("default", "Default"), ("gray", "gray")):
            found = poi[(poi["setting"] == setting) & (poi["reference"] == reference)]
            if len(found) and math.isfinite(found.iloc[0].probability):
                parts.append(f"P(better than {name}) {_span(found.iloc[0])}")
        for statistic, name in (("median", "median"), ("iqm", "IQM")):
            found = agg[(agg["setting"] == setting) & (agg["statistic"] == statistic)]
            if len(found):
                row = found.iloc[0]
                parts.append(f"{name} {_fmt(row.estimate)} [{_fmt(row.low)}, {_fmt(row.high)}]")
        if parts:
            lines.append(f"{label}: " + "; ".join(parts))
    return lines if len(lines) > 1 else []


def _median_gain(curve: pd.DataFrame) -> float:
    """The tau where the share of improved images crosses one half: the median improvement."""
    above = curve[curve["share"] > 0.5]
    return float(above["threshold"].max()) if len(above) else float(curve["threshold"].min())


def profile_figure(profiles: pd.DataFrame, generator: str, metric: str, title: str):
    """The matplotlib Figure of one generator's profiles against Default (None without data)."""
    from matplotlib.figure import Figure

    if profiles is None or profiles.empty:
        return None
    mine = profiles[(profiles["generator"] == generator) & (profiles["metric"] == metric)]
    mine = mine[mine["reference"] == "default"]
    if mine.empty:
        return None
    curves = [(label, group.sort_values("threshold")) for label, group in mine.groupby("label", sort=False)]
    medians = [_median_gain(c) for _, c in curves]
    off = far_runs(medians)
    kept = [c for (_, c), o in zip(curves, off, strict=True) if not o] or [c for _, c in curves]
    # The x range: where the kept settings' profiles change (share strictly between 0 and 1).
    moving = pd.concat([c[(c["share"] > 0) & (c["share"] < 1)] for c in kept])
    span = moving if len(moving) else pd.concat(kept)
    low, high = float(span["threshold"].min()), float(span["threshold"].max())
    pad = 0.05 * (high - low) if high > low else 1.0
    fig = Figure(figsize=(3.4, 2.3), layout="constrained")
    ax = fig.add_subplot()
    for (label, curve), is_off in zip(curves, off, strict=True):
        if is_off:
            named = f"{label}: off scale, median {_fmt(_median_gain(curve))}"
            ax.plot([], [], ls="", marker=">", color="0.3", label=named)
            continue
        (line,) = ax.plot(curve["threshold"], curve["share"], lw=1.0, label=label)
        band = {"color": line.get_color(), "alpha": 0.15, "lw": 0}
        ax.fill_between(curve["threshold"], curve["low"], curve["high"], **band)
    ax.axvline(0, color="0.4", lw=0.6, ls=":")
    ax.axhline(0.5, color="0.4", lw=0.6, ls=":")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(0, 1)
    info = get_measure(metric)
    ax.set_xlabel(f"τ: improvement over Default in {info.short_label} ({info.unit})", fontsize=FONT_PT)
    ax.set_ylabel("share of val images improved by > τ", fontsize=FONT_PT)
    ax.set_title(title, fontsize=FONT_PT + 0.5)
    ax.tick_params(labelsize=FONT_PT - 1)
    ax.legend(fontsize=FONT_PT - 2, frameon=False, loc="best")
    return fig


def profile_png(profiles: pd.DataFrame, generator: str, metric: str, title: str) -> bytes | None:
    fig = profile_figure(profiles, generator, metric, title)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    return buffer.getvalue()
