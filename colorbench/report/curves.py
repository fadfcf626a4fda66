"""Training curves: one row of panels per setting, one line per seed, units on the axes.

Panels: the generator's adversarial loss, D's loss, the generator's L1 term (training, per epoch)
and the report's val metric at every evaluation, with the gray baseline as a dashed line. Each
column shares its y range, taken from the bulk of the runs: not from a diverged run (drawn up to
its last finite epoch), nor from a run far off the others (He init's val ΔE00 20.9 above the rest:
its median more than :data:`OFF_RATIO` times the runs' median distance from the centre, see
:func:`far_runs`), so one setting does not flatten every other curve. Points beyond the range are
drawn at the panel's edge as triangles pointing out, and the run's last such value is printed
there. Drawn with matplotlib's object API (no pyplot), so no GUI backend is touched.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from colorbench.measures import get_measure, loss_measures
from colorbench.store import RunDirectory, Status
from colorbench.store.reader import GRAY_PREFIX

OFF_RATIO = 5.0  # a run this many times the typical distance from the runs' centre is off-scale
MIN_RUNS_FOR_OUTLIERS = 4  # fewer runs have no "typical" distance to compare with
SEED_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
PANEL_W, PANEL_H = 1.75, 1.05  # inches: four panels fill a 7-inch page width
FONT_PT = 7.5


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """The run's per-epoch history as a frame (empty when missing); unreadable lines are skipped."""
    rows, _ = RunDirectory(run_dir).read_history()
    return pd.DataFrame(rows)


def _panels(metric: str) -> list[tuple[str, str, str]]:
    info = get_measure(metric)
    losses = sorted((m for m in loss_measures() if m.curve), key=lambda m: m.curve)
    return [
        *((m.name, m.label, m.unit) for m in losses),
        (metric, f"val {info.short_label} {'↓' if info.direction == 'lower' else '↑'}", info.unit),
    ]


def far_runs(medians: list[float]) -> list[bool]:
    """Which runs lie far off the others: distance from the median of the runs' medians over
    OFF_RATIO x the median such distance (and over 1% of the centre, so identical runs flag none)."""
    finite = [m for m in medians if math.isfinite(m)]
    if len(finite) < MIN_RUNS_FOR_OUTLIERS:
        return [False] * len(medians)
    centre = float(np.median(finite))
    typical = max(float(np.median([abs(m - centre) for m in finite])), 0.01 * abs(centre), 1e-12)
    return [math.isfinite(m) and abs(m - centre) > OFF_RATIO * typical for m in medians]


def _value(v: float) -> str:
    return f"{v:.3g}".replace("-", "−")


def _mark_off_scale(ax, points: pd.DataFrame, key: str, limits: tuple[float, float], color: str) -> bool:
    """Points of one run beyond ``limits``: triangles at the edge, the last one's value printed."""
    low, high = limits
    above, below = points[points[key] > high], points[points[key] < low]
    for part, edge, marker, va in ((above, high, "^", "top"), (below, low, "v", "bottom")):
        if part.empty:
            continue
        ax.plot(part["epoch"], [edge] * len(part), ls="", marker=marker, ms=3.5, color=color, clip_on=False)
        last = part.iloc[-1]
        ax.annotate(
            _value(float(last[key])),
            (float(last["epoch"]), edge),
            xytext=(0, -4 if va == "top" else 4),
            textcoords="offset points",
            ha="right",
            va=va,
            fontsize=FONT_PT - 1.5,
            color=color,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    return not (above.empty and below.empty)


def _robust_range(values: list[float]) -> tuple[float, float] | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    pad = 0.06 * (high - low) if high > low else max(abs(high) * 0.05, 1e-3)
    return low - pad, high + pad


def training_curves(runs: pd.DataFrame, metric: str | None = None, image_format: str = "png") -> bytes | None:
    """The curves figure of one generator of one study (load_runs' rows), or None without history."""
    fig = curves_figure(runs, metric)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format, dpi=150)
    return buffer.getvalue()


def curves_figure(runs: pd.DataFrame, metric: str | None = None):
    """The matplotlib Figure of :func:`training_curves` (None without history), for its artists."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if metric is None:
        from colorbench.analysis.inputs import DEFAULT_METRIC

        metric = DEFAULT_METRIC
    panels = _panels(metric)
    settings = []
    for _, group in runs.groupby("order", sort=True):
        histories = [
            (int(seed), status, read_history(run_dir))
            for seed, status, run_dir in zip(group["seed"], group["status"], group["run_dir"], strict=True)
            if isinstance(run_dir, str)
        ]
        histories = [h for h in histories if not h[2].empty]
        if histories:
            statuses = sorted({s for _, s, _ in histories if s != Status.COMPLETED.value})
            label = str(group["label"].iloc[0]) + (f" ({', '.join(statuses)})" if statuses else "")
            settings.append((label, histories))
    if not settings:
        return None
    gray = {}
    if GRAY_PREFIX + metric in runs.columns and runs[GRAY_PREFIX + metric].notna().any():
        gray[metric] = float(runs[GRAY_PREFIX + metric].dropna().iloc[0])
    ranges = {}
    for key, _, _ in panels:
        # The bulk: runs that did not diverge and do not lie far off the others (module docstring).
        series = [
            [float(v) for v in h[key].dropna() if math.isfinite(v)]
            for _, histories in settings
            for _, status, h in histories
            if status != Status.DIVERGED.value and key in h.columns
        ]
        series = [v for v in series if v]
        far = far_runs([float(np.median(v)) for v in series])
        values = [x for v, is_far in zip(series, far, strict=True) if not is_far for x in v]
        ranges[key] = _robust_range(values + ([gray[key]] if key in gray else []))
    seeds = sorted({s for _, histories in settings for s, _, _ in histories})
    colors = {s: SEED_COLORS[i % len(SEED_COLORS)] for i, s in enumerate(seeds)}
    with mpl.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT}):
        fig = Figure(figsize=(PANEL_W * len(panels), PANEL_H * len(settings) + 0.55), layout="constrained")
        axes = fig.subplots(len(settings), len(panels), squeeze=False, sharex=True)
        off_scale = False
        for r, (label, histories) in enumerate(settings):
            for c, (key, title, unit) in enumerate(panels):
                ax = axes[r][c]
                for seed, _status, history in histories:
                    if key not in history.columns:
                        continue
                    points = history[["epoch", key]].dropna()
                    ax.plot(
                        points["epoch"],
                        points[key],
                        color=colors[seed],
                        marker="o" if len(points) < 12 else None,
                        markersize=2.5,
                        linewidth=1.0,
                        label=f"seed {seed}",
                    )
                    if ranges.get(key):
                        off_scale |= _mark_off_scale(ax, points, key, ranges[key], colors[seed])
                if key in gray:
                    ax.axhline(gray[key], color="0.4", linestyle="--", linewidth=0.9, label="gray")
                if ranges.get(key):
                    ax.set_ylim(*ranges[key])
                if r == 0:
                    ax.set_title(f"{title}\n[{unit}]")
                if c == 0:
                    ax.set_ylabel(label, fontsize=FONT_PT)
                if r == len(settings) - 1:
                    ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.grid(alpha=0.3)
        handles, names = [], []
        for ax in np.ravel(axes):
            for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
                if name not in names:
                    handles.append(handle)
                    names.append(name)
        if off_scale:
            handles.append(Line2D([], [], ls="", marker="^", ms=3.5, color="0.3"))
            names.append("off scale: at the edge, last value printed")
        fig.legend(handles, names, loc="outside upper center", ncol=min(len(names), 5), frameon=False)
    return fig
