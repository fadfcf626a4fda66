"""Training curves per setting: the generator's losses, D's loss and a val metric, epoch by epoch.

One figure per generator, one row of panels per setting (the table's order), one line per seed.
Diverged and interrupted runs are drawn up to their last complete epoch: where a run went wrong
is worth seeing. Drawn with matplotlib's object API (no pyplot), so no GUI backend is touched.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from colorbench.metrics import METRICS

VAL_METRIC = "l1_ab"  # the val counterpart of the training L1 term
PANELS = (
    ("GAN terms", (("loss_G_GAN", "Loss G GAN"), ("loss_D", "Loss D"))),
    ("L1 and total", (("loss_G_L1", "Loss G L1"), ("loss_G", "Loss G"))),
    (f"val {VAL_METRIC} ({METRICS[VAL_METRIC].direction} is better)", ((VAL_METRIC, f"val {VAL_METRIC}"),)),
)
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
PANEL_W, PANEL_H = 3.4, 1.9  # inches


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """The run's per-epoch history as a frame (empty when missing); unreadable lines are skipped."""
    from colorbench.store import RunDirectory

    rows, _ = RunDirectory(run_dir).read_history()
    return pd.DataFrame(rows)


def training_curves(runs: pd.DataFrame, image_format: str = "png") -> bytes | None:
    """The curves figure for one generator of one study (load_runs' rows), or None without history."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    settings = []
    for _, group in runs.groupby("order", sort=True):
        histories = [
            (int(seed), read_history(run_dir))
            for seed, run_dir in zip(group["seed"], group["run_dir"], strict=True)
            if isinstance(run_dir, str)
        ]
        histories = [(s, h) for s, h in histories if not h.empty]
        if histories:
            status = group["status"].iloc[0]
            label = str(group["label"].iloc[0]) + ("" if status == "completed" else f" ({status})")
            settings.append((label, histories))
    if not settings:
        return None
    fig = Figure(figsize=(PANEL_W * len(PANELS), PANEL_H * len(settings) + 0.6), layout="constrained")
    axes = fig.subplots(len(settings), len(PANELS), squeeze=False, sharex=True, sharey="col")
    for r, (label, histories) in enumerate(settings):
        for c, (title, series) in enumerate(PANELS):
            ax = axes[r][c]
            for k, (key, name) in enumerate(series):
                for i, (_seed, history) in enumerate(histories):
                    if key not in history.columns:
                        continue
                    points = history[["epoch", key]].dropna()
                    ax.plot(
                        points["epoch"],
                        points[key],
                        color=COLORS[k % len(COLORS)],
                        alpha=0.85,
                        marker="o" if len(points) < 3 else None,
                        markersize=3,
                        linewidth=1.2,
                        label=name if i == 0 else None,
                    )
            if r == 0:
                ax.set_title(title, fontsize=9)
                ax.legend(fontsize=7, loc="best")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == len(settings) - 1:
                ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    seeds = sorted({s for _, h in settings for s, _ in h})
    fig.suptitle(f"one line per seed ({', '.join(map(str, seeds))})", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format, dpi=100)
    return buffer.getvalue()
