"""Paired effects against Default and against the gray baseline, per image and per run.

An effect is ``x(setting) - x(reference)`` averaged over the (seed, image) pairs both sides have,
reference Default or gray. Its interval comes from :mod:`colorbench.analysis.bootstrap`; every
contrast of one generator uses that generator's one set of draws, so effects, best marks and the
claim verdict agree with one another. Draws are seeded by ``seed`` and the generator's name: a
generator's numbers do not depend on which other generators are in the frame.

Settings without a seed in common with their reference are left out (nothing to pair).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

from colorbench.analysis import bootstrap, multiplicity
from colorbench.analysis.inputs import ImageTable, RunTable, direction, image_tables, ranked, run_tables

N_BOOT = 2000
GRAY = -1  # stands for the gray baseline where a setting index is expected

IMAGES_BASIS, ONE_SEED_IMAGES_BASIS = "seeds and images", "images only (1 seed)"
SEEDS_BASIS, NO_INTERVAL_BASIS = "seeds", "none (1 seed)"
IMAGES_METHOD = "paired t interval, two-way seeds x images ANOVA standard error, Satterthwaite df"
GRAY_METHOD = IMAGES_METHOD + ", seed term at least the settings' pooled one"
RUNS_METHOD = "paired t interval over seeds (df = seeds - 1)"
NO_INTERVAL_METHOD = "no interval: one seed, no measure of noise"

BETTER, WORSE, SAME = "better than gray", "worse than gray", "indistinguishable from gray"
NOT_COMPARED = "not compared: gray is a degenerate reference for this metric"


def gray_degenerate() -> frozenset[str]:
    """Metrics on which gray is no reference to beat, as their declarations say (``gray_degenerate``):
    gray's |ΔCF| equals the truth's colourfulness, so any tint would "beat" it."""
    from colorbench.measures import metric_measures  # declarations load plugins: on first use only

    return frozenset(m.name for m in metric_measures() if m.gray_degenerate)


@dataclass(frozen=True)
class Contrast:
    """One paired difference ``a - b``, its t interval and calibrated replicates (None: no interval).

    ``low``/``high`` are ``estimate -/+ t(df) x se`` (the replicates' margin, without Monte Carlo
    noise); ``p`` is the two-sided p-value of a zero effect on the same t distribution. ``b - a`` is
    exactly this contrast negated (:meth:`negated`): one interval per pair, mirror images.
    """

    estimate: float
    replicates: np.ndarray | None
    n_seeds: int
    n_images: int | None
    df: float
    basis: str
    se: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    p: float = float("nan")

    def interval(self) -> tuple[float, float]:
        return self.low, self.high

    def negated(self) -> Contrast:
        replicates = None if self.replicates is None else -self.replicates
        return replace(self, estimate=-self.estimate, replicates=replicates, low=-self.high, high=-self.low)


def _contrast(estimate, replicates, n_seeds, n_images, spread: bootstrap.Spread, basis: str) -> Contrast:
    low, high = bootstrap.t_interval(estimate, spread)
    p = bootstrap.t_p_value(estimate, spread)
    return Contrast(estimate, replicates, n_seeds, n_images, spread.df, basis, spread.se, low, high, p)


@dataclass(frozen=True)
class Effect:
    """One row of the effect frames: ``setting`` minus ``reference`` on ``metric``.

    ``low``/``high`` bound the 95% interval (NaN: none, see ``basis``); ``n_seeds`` counts the
    seeds paired; ``n_images`` is None for run-level columns; ``df`` is the effective degrees of
    freedom of the t tails (NaN without an interval); ``basis`` says what the interval covers:
    "seeds and images", "images only (1 seed)", "seeds" or "none (1 seed)".
    """

    generator: str
    setting: str
    label: str
    factor: str | None
    metric: str
    reference: str  # "default" or "gray"
    estimate: float
    low: float
    high: float
    n_seeds: int
    n_images: int | None
    df: float
    basis: str
    method: str
    se: float  # the standard error the t interval is built on
    p: float  # two-sided p-value of a zero effect, uncorrected (NaN: no interval)
    p_adjusted: float  # within the family (``adjustment``): BH q-value vs Default, Holm vs gray
    significant: bool  # p_adjusted < 0.05: what bold / + / - marks
    low_adjusted: float  # the family's adjusted interval (module multiplicity)
    high_adjusted: float
    adjustment: str  # "Benjamini-Hochberg over <family>", "Holm over <family>", or "none"


@dataclass(frozen=True)
class GrayEffect(Effect):
    """An :class:`Effect` against gray with its reading in the metric's good direction."""

    versus_gray: str  # "better than gray", "worse than gray" or "indistinguishable from gray"


EFFECT_COLUMNS = tuple(f.name for f in fields(Effect))
GRAY_EFFECT_COLUMNS = tuple(f.name for f in fields(GrayEffect))


def _rng(seed: int, generator: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(generator.encode()), stream])


class ImageContrasts:
    """Every per-image contrast of one generator, from one set of draws (computed once, cached)."""

    def __init__(self, table: ImageTable, n_boot: int = N_BOOT, seed: int = 0) -> None:
        self.table = table
        n_settings, n_seeds, n_images, _ = table.values.shape
        self.draws = bootstrap.draw(n_boot, n_seeds, n_images, _rng(seed, table.layout.generator, 0))
        counts = self.draws.image_counts.astype(float)
        filled = np.nan_to_num(table.values).transpose(0, 1, 3, 2)  # (settings, seeds, columns, images)
        self.means = bootstrap.image_means(filled, counts)  # (B, settings, seeds, columns)
        self.gray_means = None if table.gray is None else bootstrap.image_means(table.gray.T, counts)
        self._cache: dict[tuple[int, int, int], Contrast] = {}
        self._gray_floors: dict[int, bootstrap.SeedFloor | None] = {}

    def column(self, name: str) -> int:
        return self.table.layout.columns.index(name)

    def gray_floor(self, column: int) -> bootstrap.SeedFloor | None:
        """The seed mean square of (setting - gray) pooled over the settings with 2+ seeds, and its df.

        Against gray (no seed noise of its own) a setting's seed spread rests on its own 2-3 runs. A
        right-skewed seed term (most runs a little better than the mean, a few much worse) gives
        three runs that sit close together below the mean, a small spread and a confident false
        "better than gray": 8.7% of null studies after Holm (lognormal seed term, 3 seeds; 1,500
        simulated). The settings' runs are independent, so their seed mean squares pool; a
        setting's own reading below the pool is replaced by it (never a narrower interval than its
        own): 1.4%, and 1.6-3.2% where seed noise is normal or uneven (``benchmarks/RESULTS.md``).
        """
        if column not in self._gray_floors:
            squares, dfs = [], []
            for k, seeds in enumerate(self.table.layout.present):
                if seeds.sum() >= 2 and self.table.values.shape[2] >= 2:
                    d = self.table.values[k, seeds, :, column] - self.table.gray[None, :, column]
                    if np.isfinite(d).all():
                        squares.append(bootstrap.mean_squares(d)[0])
                        dfs.append(int(seeds.sum()) - 1)
            floor = None
            if dfs:
                floor = bootstrap.SeedFloor(float(np.dot(squares, dfs) / sum(dfs)), float(sum(dfs)))
            self._gray_floors[column] = floor
        return self._gray_floors[column]

    def contrast(self, a: int, b: int, column: int) -> Contrast | None:
        """Setting ``a`` minus setting ``b`` (or :data:`GRAY`); None when no seed pairs them."""
        if b != GRAY and a > b:  # one computation per pair: b - a, negated
            found = self.contrast(b, a, column)
            return None if found is None else found.negated()
        key = (a, b, column)
        if key not in self._cache:
            self._cache[key] = self._compute(a, b, column)
        return self._cache[key]

    def _compute(self, a: int, b: int, column: int) -> Contrast | None:
        present = self.table.layout.present
        seeds = present[a] if b == GRAY else present[a] & present[b]
        if not seeds.any():
            return None
        if b == GRAY:
            if self.table.gray is None:
                raise ValueError("gray comparisons need the gray frame")
            other, other_means = self.table.gray[None, :, column], self.gray_means[:, None, column]
        else:
            other, other_means = self.table.values[b, seeds, :, column], self.means[:, b, seeds, column]
        d = self.table.values[a, seeds, :, column] - other  # (paired seeds, images)
        n_seeds, n_images = d.shape
        estimate = float(d.mean())
        if n_seeds >= 2 and n_images >= 2:
            floor = self.gray_floor(column) if b == GRAY else None
            spread, basis = bootstrap.two_way_spread(d, floor), IMAGES_BASIS
        elif n_seeds >= 2:
            spread, basis = bootstrap.one_way_spread(d[:, 0]), SEEDS_BASIS
        else:
            spread, basis = bootstrap.one_way_spread(d[0]), ONE_SEED_IMAGES_BASIS
        if spread is None:
            return Contrast(estimate, None, n_seeds, n_images, float("nan"), NO_INTERVAL_BASIS)
        per_seed = self.means[:, a, seeds, column] - other_means  # (B, paired seeds)
        raw = bootstrap.seed_weighted(per_seed, self.draws.seed_counts[:, seeds])
        # GRAY is -1: shifted so that the key is non-negative, as numpy's seeding wants.
        replicates = bootstrap.calibrate(estimate, raw, spread, self.draws, (a, b + 1, column))
        return _contrast(estimate, replicates, n_seeds, n_images, spread, basis)


class RunContrasts:
    """Every run-level contrast of one generator (one number per run), seeds-only draws."""

    def __init__(self, table: RunTable, n_boot: int = N_BOOT, seed: int = 0) -> None:
        self.table = table
        n_seeds = table.values.shape[1]
        self.draws = bootstrap.draw(n_boot, n_seeds, None, _rng(seed, table.layout.generator, 1))
        self._cache: dict[tuple[int, int, int], Contrast] = {}

    def column(self, name: str) -> int:
        return self.table.layout.columns.index(name)

    def contrast(self, a: int, b: int, column: int) -> Contrast | None:
        if a > b:  # one computation per pair: b - a, negated
            found = self.contrast(b, a, column)
            return None if found is None else found.negated()
        key = (a, b, column)
        if key not in self._cache:
            self._cache[key] = self._compute(a, b, column)
        return self._cache[key]

    def _compute(self, a: int, b: int, column: int) -> Contrast | None:
        seeds = self.table.layout.present[a] & self.table.layout.present[b]
        if not seeds.any():
            return None
        d = self.table.values[a, seeds, column] - self.table.values[b, seeds, column]
        estimate = float(d.mean())
        spread = bootstrap.one_way_spread(d)
        if spread is None:
            return Contrast(estimate, None, 1, None, float("nan"), NO_INTERVAL_BASIS)
        per_seed = np.broadcast_to(d, (self.draws.n_boot, d.size))
        raw = bootstrap.seed_weighted(per_seed, self.draws.seed_counts[:, seeds])
        replicates = bootstrap.calibrate(estimate, raw, spread, self.draws, (a, b, column))
        return _contrast(estimate, replicates, d.size, None, spread, SEEDS_BASIS)


def _effect(contrasts, setting: int, reference: int, column: str) -> Effect | None:
    layout = contrasts.table.layout
    found = contrasts.contrast(setting, reference, contrasts.column(column))
    if found is None:
        return None
    low, high = found.interval()
    if found.replicates is None:
        method = NO_INTERVAL_METHOD
    else:
        method = IMAGES_METHOD if isinstance(contrasts, ImageContrasts) else RUNS_METHOD
        if reference == GRAY and found.basis == IMAGES_BASIS:
            method = GRAY_METHOD
    return Effect(
        layout.generator,
        layout.settings[setting],
        layout.labels[setting],
        layout.factors[setting],
        column,
        "gray" if reference == GRAY else layout.settings[reference],
        found.estimate,
        low,
        high,
        found.n_seeds,
        found.n_images,
        found.df,
        found.basis,
        method,
        found.se,
        found.p,
        found.p,
        bool(found.p < multiplicity.ALPHA),
        low,
        high,
        "none",
    )


def versus_gray(metric: str, low: float, high: float) -> str:
    """Read an interval of (setting - gray) in the metric's good direction; one holding 0 is a tie."""
    if metric in gray_degenerate():
        return NOT_COMPARED
    if not np.isfinite(low) or low <= 0 <= high:
        return SAME
    return BETTER if (low > 0) == (direction(metric) == "higher") else WORSE


def _reading(metric: str, effect: Effect) -> str:
    """A gray effect's reading after Holm: the direction of a significant difference."""
    if metric in gray_degenerate():
        return NOT_COMPARED
    if not effect.significant:
        return SAME
    return BETTER if (effect.estimate > 0) == (direction(metric) == "higher") else WORSE


def _adjusted(rows: list[Effect], how: str, family: str) -> list[Effect]:
    """``rows`` (one family) with adjusted p-values, decisions and intervals (module multiplicity)."""
    tested = [k for k, r in enumerate(rows) if np.isfinite(r.p)]
    if not tested:
        return rows
    p = np.array([rows[k].p for k in tested])
    m = len(tested)
    if how == multiplicity.BH:
        adjusted = multiplicity.benjamini_hochberg(p)
        selected = int((adjusted < multiplicity.ALPHA).sum())
        level = 1 - max(selected, 1) * multiplicity.ALPHA / m
    else:
        adjusted = multiplicity.holm(p)
        level = 1 - multiplicity.ALPHA / m  # Bonferroni: simultaneous for the family
    estimate, se, df = (np.array([getattr(rows[k], a) for k in tested]) for a in ("estimate", "se", "df"))
    low, high = multiplicity.t_bounds(estimate, se, df, level)
    out = list(rows)
    for j, k in enumerate(tested):
        out[k] = replace(
            rows[k],
            p_adjusted=float(adjusted[j]),
            significant=bool(adjusted[j] < multiplicity.ALPHA),
            low_adjusted=float(low[j]),
            high_adjusted=float(high[j]),
            adjustment=f"{how} over {family}",
        )
    return out


def default_rows(contrasts) -> list[Effect]:
    """Each setting but Default against Default, for every column of the table.

    One family per call (a generator's val metrics, or its losses): Benjamini-Hochberg.
    """
    rows = []
    for column in contrasts.table.layout.columns:
        for setting in range(1, len(contrasts.table.layout.settings)):  # 0 is Default
            effect = _effect(contrasts, setting, 0, column)
            if effect is not None:
                rows.append(effect)
    kind = "val metrics" if isinstance(contrasts, ImageContrasts) else "training losses"
    family = f"{contrasts.table.layout.generator}'s {len(rows)} effects on {kind}"
    return _adjusted(rows, multiplicity.BH, family)


def gray_column(contrasts: ImageContrasts, column: str) -> list[GrayEffect]:
    """Every setting against gray on one metric: one Holm family (the settings of this metric)."""
    layout = contrasts.table.layout
    rows = [_effect(contrasts, k, GRAY, column) for k in range(len(layout.settings))]
    rows = [r for r in rows if r is not None]
    if column not in gray_degenerate():
        family = f"{layout.generator}'s {len(rows)} settings against gray on {column}"
        rows = _adjusted(rows, multiplicity.HOLM, family)
    return [GrayEffect(**asdict(r), versus_gray=_reading(column, r)) for r in rows]


def gray_rows(contrasts: ImageContrasts) -> list[GrayEffect]:
    """Every setting, Default included, against gray, with its reading (ranked metrics only:
    a more colourful prediction than gray's is not "better")."""
    rows = []
    for column in ranked(contrasts.table.layout.columns):
        rows += gray_column(contrasts, column)
    return rows


def frame(rows: Sequence[Effect], columns: Sequence[str] = EFFECT_COLUMNS) -> pd.DataFrame:
    """Effects as a DataFrame, one column per dataclass field (empty frames keep the columns)."""
    return pd.DataFrame([asdict(r) for r in rows], columns=list(columns))


def paired_effects(
    per_image: pd.DataFrame, *, metrics: Sequence[str] | None = None, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """Each setting minus Default, per generator and metric, with a 95% interval (:class:`Effect` columns)."""
    rows = []
    for table in image_tables(per_image, metrics=metrics):
        rows += default_rows(ImageContrasts(table, n_boot, seed))
    return frame(rows)


def gray_effects(
    per_image: pd.DataFrame,
    gray: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Each setting (Default included) minus gray, paired by image (:class:`GrayEffect` columns)."""
    rows = []
    for table in image_tables(per_image, gray, metrics=metrics):
        rows += gray_rows(ImageContrasts(table, n_boot, seed))
    return frame(rows, GRAY_EFFECT_COLUMNS)


def run_effects(
    runs: pd.DataFrame, *, losses: Sequence[str] | None = None, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """Each setting minus Default on the run-level losses, paired by seed (:class:`Effect` columns)."""
    rows = []
    for table in run_tables(runs, losses):
        rows += default_rows(RunContrasts(table, n_boot, seed))
    return frame(rows)


def gray_counts(gray_frame: pd.DataFrame) -> pd.DataFrame:
    """Per generator and metric: how many settings are better than, tied with and worse than gray.

    Columns ``generator, metric, n_settings, n_better, n_indistinguishable, n_worse`` (from
    :func:`gray_effects`' frame), e.g. for "0 of 9 unet settings beat gray on ciede2000".
    """
    missing = [c for c in ("generator", "metric", "versus_gray") if c not in gray_frame.columns]
    if missing:
        raise ValueError(f"gray_frame: missing column(s) {', '.join(missing)} (pass gray_effects' result)")
    rows = []
    for (generator, metric), group in gray_frame.groupby(["generator", "metric"], sort=False):
        if metric in gray_degenerate():  # gray is no reference there: never counted as beaten
            continue
        reading = group["versus_gray"]
        rows.append(
            {
                "generator": generator,
                "metric": metric,
                "n_settings": len(group),
                "n_better": int((reading == BETTER).sum()),
                "n_indistinguishable": int((reading == SAME).sum()),
                "n_worse": int((reading == WORSE).sum()),
            }
        )
    columns = ["generator", "metric", "n_settings", "n_better", "n_indistinguishable", "n_worse"]
    return pd.DataFrame(rows, columns=columns)


def image_contrasts(per_image, gray=None, *, metrics=None, n_boot=N_BOOT, seed=0) -> list[ImageContrasts]:
    """The per-generator contrast engines (for callers that need several results from one set of draws)."""
    return [ImageContrasts(t, n_boot, seed) for t in image_tables(per_image, gray, metrics)]


def run_contrasts(runs, *, losses=None, n_boot=N_BOOT, seed=0) -> list[RunContrasts]:
    return [RunContrasts(t, n_boot, seed) for t in run_tables(runs, losses)]
