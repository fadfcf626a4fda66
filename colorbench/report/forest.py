"""Forest plot of paired effects against Default, with the gray baseline as a reference line.

One row of panels per generator, one panel per metric (wrapped after ``max_columns``). Each setting's
effect (setting - Default) is a point with its 95% interval; a filled point's interval excludes
zero, a hollow one's does not. The solid vertical line is zero (no change from Default); the dashed
one is gray - Default (the gray baseline's effect), its interval shaded grey. When gray lies far
outside the settings' range (the panel would squash them) it is written at the panel's edge instead.
An effect more than :data:`OUTLIER_RATIO` times the panel's median |effect| (He init's +20.9 ΔE00
against effects under 1) is drawn off-scale: a triangle at the panel's edge, pointing out, with its
value and interval printed, and the axis spans the other effects (a symlog axis kept them visible
but unreadable, and printed no value).

Sized for a two-column paper: 7 inches wide, no text under 7 pt. Drawn with matplotlib's object
API (no pyplot), so no GUI backend is touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from colorbench.measures import find_measure

FONT_PT = 7.5
ROW_IN = 0.2  # inches per setting
PANEL_EXTRA_IN = 0.85  # title, axis label and ticks of one row of panels
GRAY_REACH = 3.0  # gray is drawn in the panel while within 3x the settings' own extent
EFFECT_COLOR, GRAY_COLOR = "tab:blue", "0.35"


def _gray_reference(
    gray_effects: pd.DataFrame, generator: str, metric: str
) -> tuple[float, float, float] | None:
    """(gray - Default, low, high) from Default's row against gray, or None without one."""
    rows = gray_effects[
        (gray_effects["generator"] == generator)
        & (gray_effects["metric"] == metric)
        & (gray_effects["setting"] == "default")
    ]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return -float(row["estimate"]), -float(row["high"]), -float(row["low"])


OUTLIER_RATIO = 5.0  # an |effect| this many times the panel's median |effect| is drawn off-scale
MIN_EFFECTS_FOR_OUTLIERS = 4  # fewer effects have no "typical" size to compare with


def off_scale(estimates: Sequence[float]) -> list[bool]:
    """Which effects to draw off-scale: |estimate| over OUTLIER_RATIO x the median |estimate|."""
    finite = [abs(e) for e in estimates if math.isfinite(e)]
    if len(finite) < MIN_EFFECTS_FOR_OUTLIERS:
        return [False] * len(estimates)
    typical = float(np.median(finite))
    if typical <= 0:
        return [False] * len(estimates)
    return [math.isfinite(e) and abs(e) > OUTLIER_RATIO * typical for e in estimates]


def _number(value: float) -> str:
    return f"{value:.3g}".replace("-", "−")


def _off_scale_text(estimate: float, low: float, high: float) -> str:
    sign = "+" if estimate > 0 else ""
    interval = f" [{_number(low)}, {_number(high)}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{sign}{_number(estimate)}{interval}"


def _panel(ax, rows: pd.DataFrame, labels: list[str], gray: tuple[float, float, float] | None, metric: str):
    """One metric's effects; returns how many were drawn off-scale."""
    y = np.arange(len(labels))[::-1]  # first setting on top
    position = dict(zip(labels, y, strict=True))
    extent = [0.0]
    headroom = 0.0
    far = off_scale([float(e) for e in rows["estimate"]])
    outliers = []
    for (_, row), is_far in zip(rows.iterrows(), far, strict=True):
        estimate, low, high = float(row["estimate"]), float(row["low"]), float(row["high"])
        at = position[row["_label"]]
        has_interval = math.isfinite(low) and math.isfinite(high)
        excludes_zero = has_interval and (low > 0 or high < 0)
        if is_far:
            outliers.append((estimate, low, high, at, excludes_zero))
            continue
        xerr = [[estimate - low], [high - estimate]] if has_interval else None
        ax.errorbar(
            estimate,
            at,
            xerr=xerr,
            fmt="o",
            ms=3.5,
            lw=1,
            capsize=2,
            color=EFFECT_COLOR,
            mfc=EFFECT_COLOR if excludes_zero else "white",
            zorder=3,
        )
        extent += [estimate, low, high] if has_interval else [estimate]
    lo, hi = min(extent), max(extent)
    reach = GRAY_REACH * max(abs(lo), abs(hi), 1e-12)
    ax.axvline(0, color="0.2", lw=0.8, zorder=1)
    if gray is not None and math.isfinite(gray[0]):
        value, g_low, g_high = gray
        if abs(value) <= reach:
            ax.axvline(value, color=GRAY_COLOR, ls="--", lw=1, zorder=2)
            if math.isfinite(g_low) and math.isfinite(g_high):
                ax.axvspan(g_low, g_high, color="0.9", zorder=0, lw=0)
            lo, hi = min(lo, value), max(hi, value)
        else:
            # Far off: say where it is, inside the panel's top edge (headroom added below).
            right = value > 0
            ax.text(
                0.98 if right else 0.02,
                0.98,
                f"gray {_number(value) if value < 0 else '+' + _number(value)} {'→' if right else '←'}",
                transform=ax.transAxes,
                ha="right" if right else "left",
                va="top",
                color=GRAY_COLOR,
            )
            headroom = 0.9
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    for estimate, low, high, at, excludes_zero in outliers:
        right = estimate > 0
        edge = hi + 0.6 * pad if right else lo - 0.6 * pad
        ax.plot(
            edge,
            at,
            marker=">" if right else "<",
            ms=5,
            ls="",
            color=EFFECT_COLOR,
            mfc=EFFECT_COLOR if excludes_zero else "white",
            zorder=4,
            clip_on=False,
        )
        ax.annotate(
            _off_scale_text(estimate, low, high),
            (edge, at),
            xytext=(-5 if right else 5, 0),
            textcoords="offset points",
            ha="right" if right else "left",
            va="center",
            fontsize=FONT_PT - 1,
            color=EFFECT_COLOR,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=5,
        )
    ax.set_ylim(-0.6, len(labels) - 0.4 + headroom)
    ax.set_yticks(y, labels)
    info = find_measure(metric)
    # Short enough for four panels in 7 inches; the metric is the title, "- Default" the row's title.
    unit = "no unit" if info is None or info.unit == "1" else info.unit
    ax.set_xlabel(f"{unit}\n{info.reading if info.ranked else 'not ranked'}" if info else metric)
    ax.grid(axis="x", color="0.92", lw=0.6, zorder=0)
    return len(outliers)


def forest_figure(
    effects: pd.DataFrame,
    gray_effects: pd.DataFrame,
    metrics: Sequence[str],
    *,
    width: float = 7.0,
    max_columns: int = 4,
    generator_labels: Mapping[str, str] | None = None,
):
    """The matplotlib Figure of :func:`forest_plot` (for callers and tests that read its artists)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    for name, frame in (("effects", effects), ("gray_effects", gray_effects)):
        missing = {"generator", "setting", "metric", "estimate", "low", "high"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
    metrics = [m for m in metrics if m in set(effects["metric"])]
    if not metrics:
        raise ValueError("forest_plot: none of the metrics asked for has effects")
    generator_labels = generator_labels or {}
    frame = effects.assign(_label=effects["label"] if "label" in effects.columns else effects["setting"])
    frame["_label"] = frame["_label"].fillna(frame["setting"]).astype(str)
    generators = list(dict.fromkeys(frame["generator"]))
    n_cols = min(len(metrics), max_columns)
    n_rows = math.ceil(len(metrics) / n_cols)
    heights = [
        n_rows * (ROW_IN * frame.loc[frame["generator"] == g, "_label"].nunique() + PANEL_EXTRA_IN)
        for g in generators
    ]
    n_off_scale = 0
    with mpl.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 0.5}):
        fig = Figure(figsize=(width, sum(heights) + 0.35), layout="constrained")
        subfigs = fig.subfigures(len(generators), 1, height_ratios=heights, squeeze=False)[:, 0]
        for subfig, generator in zip(subfigs, generators, strict=True):
            mine = frame[frame["generator"] == generator]
            labels = list(dict.fromkeys(mine["_label"]))
            bases = set(mine.get("basis", pd.Series(dtype=str)).dropna())
            note = f"  (intervals: {', '.join(sorted(bases))})" if bases else ""
            shown = generator_labels.get(generator, generator)
            subfig.suptitle(f"{shown}: change from Default, 95% intervals{note}", fontsize=FONT_PT + 0.5)
            axes = subfig.subplots(n_rows, n_cols, squeeze=False, sharey=True)
            for ax, metric in zip(axes.ravel(), metrics, strict=False):
                rows = mine[mine["metric"] == metric]
                gray = _gray_reference(gray_effects, generator, metric)
                n_off_scale += _panel(ax, rows, labels, gray, metric)
                info = find_measure(metric)
                ax.set_title(info.short_label if info is not None else metric)
            for ax in axes.ravel()[len(metrics) :]:
                ax.set_visible(False)
        handles = [
            Line2D([], [], color=EFFECT_COLOR, marker="o", ls="", ms=3.5, label="interval excludes 0"),
            Line2D(
                [],
                [],
                color=EFFECT_COLOR,
                marker="o",
                mfc="white",
                ls="",
                ms=3.5,
                label="interval includes 0",
            ),
            Line2D([], [], color="0.2", lw=0.8, label="0: no change from Default"),
            Line2D([], [], color=GRAY_COLOR, ls="--", label="gray baseline (ab = 0) - Default"),
            Patch(color="0.9", label="grey band: that difference's 95% interval"),
        ]
        if n_off_scale:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=EFFECT_COLOR,
                    marker=">",
                    ls="",
                    ms=5,
                    label=f"off scale (> {OUTLIER_RATIO:g}x the median effect): value [95% interval]",
                )
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


def forest_plot(
    effects: pd.DataFrame,
    gray_effects: pd.DataFrame,
    metrics: Sequence[str],
    *,
    width: float = 7.0,
    max_columns: int = 4,
    dpi: int = 200,
    generator_labels: Mapping[str, str] | None = None,
) -> bytes:
    """A PNG of every generator's effects (``paired_effects``' frame) with gray from ``gray_effects``.

    Setting labels come from a ``label`` column when the frame has one, else the setting id; a
    generator's name from ``generator_labels`` (its key when absent).
    """
    fig = forest_figure(
        effects,
        gray_effects,
        metrics,
        width=width,
        max_columns=max_columns,
        generator_labels=generator_labels,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
