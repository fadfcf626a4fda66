"""Per-image views beside the mean: probability of improvement, robust aggregates, performance profiles.

All three use the generator's crossed seed x image draws (:mod:`.bootstrap`), so they resample what
the effects resample.

* :func:`improvement_probabilities`: P(a setting beats the reference on a random val image and
  seed), the paired share ``mean(h)`` with ``h = 1`` where the setting is better on that (seed,
  image), ``0.5`` on a tie, ``0`` where worse. A mean of a paired per-image quantity, so it gets the
  effects' t interval (two-way ANOVA standard error, Satterthwaite df), clipped to [0, 1]. 0.5 is
  "no better, no worse".
* :func:`robust_aggregates`: mean, median and interquartile mean (IQM, the mean of the middle
  50%) of each setting's per-(seed, image) values, with percentile intervals of the crossed
  bootstrap (weighted quantiles per replicate). The mean's calibrated interval is in the effects;
  these percentile intervals are not calibrated for few seeds (``basis`` says so).
* :func:`performance_profiles`: per image, the improvement over the reference in the metric's good
  direction, averaged over the paired seeds; the profile is the share of images improving by more
  than tau, over a grid of tau, with a 95% percentile band from the same draws. A frame for a plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from colorbench.analysis import bootstrap
from colorbench.analysis.effects import GRAY, N_BOOT, ImageContrasts, image_contrasts
from colorbench.analysis.inputs import direction, ranked

PERCENTILE_BASIS = "percentile bootstrap over seeds x images (not calibrated for few seeds)"
POI_BASIS = "paired share over seeds x images, two-way ANOVA standard error, t tails, clipped to [0, 1]"
POI_COLUMNS = (
    "generator",
    "setting",
    "label",
    "metric",
    "reference",
    "probability",
    "low",
    "high",
    "n_seeds",
    "n_images",
    "df",
    "basis",
)
AGGREGATE_COLUMNS = (
    "generator",
    "setting",
    "label",
    "metric",
    "statistic",
    "estimate",
    "low",
    "high",
    "n_seeds",
    "n_images",
    "basis",
)
PROFILE_COLUMNS = (
    "generator",
    "setting",
    "label",
    "metric",
    "reference",
    "threshold",
    "share",
    "low",
    "high",
    "n_seeds",
    "n_images",
)
STATISTICS = ("mean", "median", "iqm")


def _reference(contrasts: ImageContrasts, a: int, b: int, column: int):
    """Paired seeds, the setting's values (seeds, images) and the reference's (seeds or 1, images)."""
    table = contrasts.table
    present = table.layout.present
    seeds = present[a] if b == GRAY else present[a] & present[b]
    mine = table.values[a][:, :, column][seeds]
    other = table.gray[None, :, column] if b == GRAY else table.values[b][:, :, column][seeds]
    return seeds, mine, other


def _improvement(metric: str, mine: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Improvement in the metric's good direction (positive: the setting is better)."""
    return (mine - other) if direction(metric) == "higher" else (other - mine)


def _pairs(contrasts: ImageContrasts, reference: str):
    layout = contrasts.table.layout
    if reference == "gray" and contrasts.table.gray is None:
        raise ValueError("gray comparisons need the gray frame")
    b = GRAY if reference == "gray" else 0
    first = 0 if reference == "gray" else 1  # Default against itself says nothing
    for column in ranked(layout.columns):
        for a in range(first, len(layout.settings)):
            yield a, b, column, contrasts.column(column)


def _weighted(draws: bootstrap.Draws, seeds: np.ndarray) -> np.ndarray:
    """(B, seeds x images) weights of the crossed draw restricted to ``seeds`` (rows sum to 1)."""
    w = draws.seed_counts[:, seeds][:, :, None] * draws.image_counts[:, None, :]
    w = w.reshape(len(w), -1).astype(float)
    total = w.sum(axis=1, keepdims=True)
    uniform = np.full(w.shape[1], 1 / w.shape[1])
    return np.where(total > 0, w / np.maximum(total, 1), uniform)


def improvement_probabilities(contrasts: ImageContrasts, reference: str = "default") -> pd.DataFrame:
    """P(setting beats ``reference`` ("default" or "gray") on a random image and seed), per metric."""
    layout = contrasts.table.layout
    rows = []
    for a, b, column, index in _pairs(contrasts, reference):
        seeds, mine, other = _reference(contrasts, a, b, index)
        if not seeds.any():
            continue
        gain = _improvement(column, mine, other)
        h = (gain > 0) + 0.5 * (gain == 0)
        estimate = float(h.mean())
        n_seeds, n_images = h.shape
        spread = bootstrap.two_way_spread(h) if n_seeds >= 2 else bootstrap.one_way_spread(h[0])
        low, high = bootstrap.t_interval(estimate, spread) if spread else (np.nan, np.nan)
        rows.append(
            (
                layout.generator,
                layout.settings[a],
                layout.labels[a],
                column,
                reference,
                estimate,
                max(low, 0.0),
                min(high, 1.0),
                n_seeds,
                n_images,
                spread.df if spread else np.nan,
                POI_BASIS if n_seeds >= 2 else "images only (1 seed)",
            )
        )
    return pd.DataFrame(rows, columns=list(POI_COLUMNS))


def _weighted_stats(values: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, median and IQM of ``values`` (n,) under each row of ``weights`` (B, n), rows summing to 1."""
    order = np.argsort(values, kind="stable")
    x, w = values[order], weights[:, order]
    upper = np.cumsum(w, axis=1)
    lower = upper - w
    median = x[np.minimum((upper < 0.5).sum(axis=1), len(x) - 1)]
    # IQM: each value's weight inside the quantile band [0.25, 0.75], renormalised.
    inside = np.clip(np.minimum(upper, 0.75) - np.maximum(lower, 0.25), 0, None)
    iqm = (inside * x).sum(axis=1) / np.maximum(inside.sum(axis=1), 1e-300)
    return {"mean": w @ x, "median": median, "iqm": iqm}


def robust_aggregates(contrasts: ImageContrasts) -> pd.DataFrame:
    """Mean, median and IQM of every setting's per-(seed, image) values, ranked metrics."""
    layout, draws = contrasts.table.layout, contrasts.draws
    rows = []
    for column in ranked(layout.columns):
        index = contrasts.column(column)
        for a in range(len(layout.settings)):
            seeds = layout.present[a]
            if not seeds.any():
                continue
            values = contrasts.table.values[a][:, :, index][seeds].ravel()
            n_seeds, n_images = int(seeds.sum()), contrasts.table.values.shape[2]
            point = _weighted_stats(values, np.full((1, values.size), 1 / values.size))
            spread = _weighted_stats(values, _weighted(draws, seeds))
            for statistic in STATISTICS:
                low, high = bootstrap.interval(spread[statistic])
                rows.append(
                    (
                        layout.generator,
                        layout.settings[a],
                        layout.labels[a],
                        column,
                        statistic,
                        float(point[statistic][0]),
                        low,
                        high,
                        n_seeds,
                        n_images,
                        PERCENTILE_BASIS,
                    )
                )
    return pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS))


def performance_profiles(
    contrasts: ImageContrasts,
    reference: str = "default",
    thresholds: Sequence[float] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Share of val images a setting improves on ``reference`` by more than each threshold.

    Improvement is per image, in the metric's unit and good direction, averaged over the paired
    seeds. ``thresholds`` default to 41 points spanning the generator's improvements on that metric.
    The band: 95% percentile interval over the crossed draws (seeds and images resampled).
    """
    layout, draws = contrasts.table.layout, contrasts.draws
    pairs = [p for p in _pairs(contrasts, reference) if metrics is None or p[2] in metrics]
    gains = {}
    for a, b, column, index in pairs:
        seeds, mine, other = _reference(contrasts, a, b, index)
        if seeds.any():
            gains[(a, column)] = (seeds, _improvement(column, mine, other))
    grid = {}
    for column in dict.fromkeys(c for _, _, c, _ in pairs):
        found = [g for (_, c), (_, g) in gains.items() if c == column]
        if thresholds is not None:
            grid[column] = np.asarray(thresholds, dtype=float)
        elif found:
            everything = np.concatenate([g.mean(axis=0) for g in found])
            grid[column] = np.linspace(everything.min(), everything.max(), 41)
    rows = []
    for (a, column), (seeds, gain) in gains.items():
        taus = grid[column]
        counts = draws.seed_counts[:, seeds].astype(float)
        total = counts.sum(axis=1, keepdims=True)
        weights = np.where(total > 0, counts / np.maximum(total, 1), 1 / counts.shape[1])
        per_image = weights @ gain  # (B, images): seed-resampled per-image improvement
        replicate = _weighted_share_above(per_image, draws.image_counts, taus)
        share = (gain.mean(axis=0)[:, None] > taus[None, :]).mean(axis=0)
        low, high = np.quantile(replicate, [0.025, 0.975], axis=0)
        for t, tau in enumerate(taus):
            rows.append(
                (
                    layout.generator,
                    layout.settings[a],
                    layout.labels[a],
                    column,
                    reference,
                    float(tau),
                    float(share[t]),
                    float(low[t]),
                    float(high[t]),
                    gain.shape[0],
                    gain.shape[1],
                )
            )
    return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))


def _weighted_share_above(values: np.ndarray, counts: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """(B, T): per row b, the count-weighted share of ``values[b]`` above each tau.

    One global sort: row b's values are shifted by b x span so that rows do not interleave.
    """
    n_boot = values.shape[0]
    low = min(float(values.min()), float(taus.min()))
    span = max(float(values.max()), float(taus.max())) - low + 1.0
    offsets = np.arange(n_boot)[:, None] * span
    keyed = (values - low + offsets).ravel()
    order = np.argsort(keyed, kind="stable")
    cumulative = np.concatenate([[0], np.cumsum(counts.ravel()[order])])
    queries = (taus[None, :] - low + offsets).ravel()
    at_or_below = cumulative[np.searchsorted(keyed[order], queries, side="right")].reshape(n_boot, -1)
    total = counts.sum(axis=1)
    before = (np.cumsum(total) - total)[:, None]  # counts of the rows before row b
    return (total[:, None] - (at_or_below - before)) / total[:, None]


def _each(per_image, gray, metrics, n_boot, seed, make) -> pd.DataFrame:
    frames = [make(c) for c in image_contrasts(per_image, gray, metrics=metrics, n_boot=n_boot, seed=seed)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def probabilities_of_improvement(
    per_image: pd.DataFrame,
    gray: pd.DataFrame | None = None,
    *,
    reference: str = "default",
    metrics: Sequence[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`improvement_probabilities` for every generator of the frames (``POI_COLUMNS``)."""
    return _each(per_image, gray, metrics, n_boot, seed, lambda c: improvement_probabilities(c, reference))


def aggregates(
    per_image: pd.DataFrame, *, metrics: Sequence[str] | None = None, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """:func:`robust_aggregates` for every generator (``AGGREGATE_COLUMNS``)."""
    return _each(per_image, None, metrics, n_boot, seed, robust_aggregates)


def profile_frame(
    per_image: pd.DataFrame,
    gray: pd.DataFrame | None = None,
    *,
    reference: str = "default",
    metrics: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`performance_profiles` for every generator (``PROFILE_COLUMNS``)."""
    return _each(
        per_image, gray, metrics, n_boot, seed, lambda c: performance_profiles(c, reference, thresholds)
    )
