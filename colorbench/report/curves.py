"""Training curves: one row of panels per setting, one line per seed, units on the axes.

Panels: the generator's adversarial loss, D's loss, the generator's L1 term (training, per epoch)
and the report's val metric at every evaluation, with the gray baseline as a dashed line. Each
column shares its y range, taken from the runs that did not diverge (a diverged run is drawn up to
its last finite epoch and may leave the range), so one setting that blows up does not flatten the
others. Drawn with matplotlib's object API (no pyplot), so no GUI backend is touched.
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
        (metric, f"val {metric} {'↓' if info.direction == 'lower' else '↑'}", info.unit),
    ]


def _robust_range(values: list[float]) -> tuple[float, float] | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    pad = 0.06 * (high - low) if high > low else max(abs(high) * 0.05, 1e-3)
    return low - pad, high + pad


def training_curves(runs: pd.DataFrame, metric: str | None = None, image_format: str = "png") -> bytes | None:
    """The curves figure of one generator of one study (load_runs' rows), or None without history."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
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
        values = [
            float(v)
            for _, histories in settings
            for _, status, h in histories
            if status != Status.DIVERGED.value and key in h.columns
            for v in h[key].dropna()
        ]
        ranges[key] = _robust_range(values + ([gray[key]] if key in gray else []))
    seeds = sorted({s for _, histories in settings for s, _, _ in histories})
    colors = {s: SEED_COLORS[i % len(SEED_COLORS)] for i, s in enumerate(seeds)}
    with mpl.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT}):
        fig = Figure(figsize=(PANEL_W * len(panels), PANEL_H * len(settings) + 0.55), layout="constrained")
        axes = fig.subplots(len(settings), len(panels), squeeze=False, sharex=True)
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
        fig.legend(handles, names, loc="outside upper center", ncol=len(names), frameon=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=image_format, dpi=150)
    return buffer.getvalue()
