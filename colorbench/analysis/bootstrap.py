"""The statistical core: joint bootstrap draws, the paired contrast and its calibrated replicates.

A contrast is a paired difference ``d[s, i] = x_a(seed s, image i) - x_b(s, i)`` (or one number per
seed for run-level columns) and its estimate is the mean of ``d``. Its replicates come in two steps.

1. **Bootstrap draws**, shared by every contrast of a generator (so that joint statements, such as
   an order of factors, are read off the same replicates): seeds are resampled with replacement
   (multinomial counts ``c[b, s]``) and images with replacement (counts ``m[b, i]``), and a replicate
   weighs ``d[s, i]`` by ``c[b, s] * m[b, i]``. The image draw is one per replicate, shared by all
   seeds: every run scores the *same* val images, so images are crossed with seeds, not nested in
   them. A per-image effect that repeats over seeds (a setting that helps on colourful photos helps
   there with every seed) is then counted once per image, as it should be; drawing images anew
   within each drawn seed treated it as independent noise per seed and covered 81% instead of 95%
   when such a component dominated (300 stores of 3 seeds x 50 images, B = 1000).
2. **Calibration.** With 2-3 seeds neither draw gets the seed-level variance right: the bootstrap
   of 3 values has (n - 1) / n of their variance and the spread of a 3-point resample has no tails;
   percentile intervals covered 82-83% when seed-to-seed variation dominated. So the **interval**
   is a t interval, ``estimate -/+ t(df) x se``, with the standard error of a two-way
   random-effects ANOVA of the paired table (seeds x images): the spread of the seed means (seed
   component and noise) plus the image component that repeats over seeds, and Satterthwaite's
   effective df for that combination (:func:`two_way_spread`). With many images and little seed
   variation df is large; with seed-dominated variation and 3 seeds df ~ 2 and intervals widen
   ~2x, as they should. The seed term is never dropped when its mean square reads below the
   residual's: doing so switched df from ~2 to ~90 exactly when the seed spread had been
   underestimated by chance, and covered 92.9% (seed-dominated, 3 seeds) and 88% (2 seeds).
   The **replicates** keep the draws' dependence (shared Default runs, seeds, images) for joint
   statements such as the order of factors: their ranks are mapped to normal scores, scaled by the
   se and multiplied by ``sqrt(df / chi2_df)`` (a scale mixture turning the normal into a Student t
   with df degrees of freedom), so their margin is the interval's t. Each contrast gets its own
   chi2 draw (the generator's uniforms in an order fixed by the contrast): with one draw shared by
   every contrast, the order of factors hardly varied within a seed pattern, and pure-noise loss
   verdicts (one number per run, 2 seeds) read "contradicted" 34% of the time (3 seeds: 5%); with
   a draw per contrast, 0% and 0.2% (500 stores each).
3. **One interval per pair.** ``b - a`` is ``a - b`` negated (estimate, interval and replicates):
   each direction drawing its own t scale made the two intervals differ in width by 0.86-1.20x.
4. **Against gray**, which has no seed noise of its own, a setting's seed mean square is never taken
   below the one pooled over the generator's settings (:class:`SeedFloor`, from
   ``ImageContrasts.gray_floor``): a right-skewed seed term gives three runs close together below
   the mean, and a confident false "better than gray" (8.7% of null studies after Holm, 3 seeds).
   Against Default the two skewed seed terms cancel into a symmetric difference and nothing is
   pooled (the shared Default and uneven seed variances make pooling there under-cover, 92.6-92.9%).
5. **Skewed seed noise stays conservative**, by choice. Against Default, a right-skewed (lognormal)
   seed term gives a symmetric but heavy-tailed paired difference, for which a t interval with ~2
   df covers 96.3-96.6% instead of 95% (two runs of 5,000 simulated studies). Closing that gap opens
   another (``benchmarks/bench_seed_shape.py``). One narrower critical value for every contrast
   that brings the skewed case to 96.0% leaves normal seed noise at 94.1%, the edge of the 94-96%
   target, and the two runs differ by more than the margin left. Adapting to the shape fails as the
   data cannot tell the two apart: with 3 runs a setting's only scale-free shape information is the
   skewness of its three seed means, and pooled over 9 settings it moves by 0.87 of its null sd on
   average under the skewed term and flags 14% of such studies at 5% (normal: 4.4%). So intervals
   stay calibrated for normal seed noise of any sd per setting and conservative for heavy tails.

Measured coverage (image-dominated, seed-dominated, skewed and uneven seed noise; 3 and 2 seeds),
false exclusions at a zero effect and family-wise error rates: ``benchmarks/RESULTS.md``,
"Calibration of the statistics", from ``benchmarks/bench_coverage.py`` on the studies of
:mod:`colorbench.analysis.simulate`; ``tests/test_coverage.py`` checks a reduced version.

One seed: the seed draw is trivial and the spread is the one-way standard error over images
(df = n_images - 1); the result's ``basis`` says "images only (1 seed)". Such an interval covers
image sampling only: of the effect over seeds and images it covered 86.6% (realistic) and 42.4%
(seed-dominated). Run-level columns have one number per run: the spread is the one-way standard
error over seeds (df = n_seeds - 1), and with one seed there is no interval at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

LEVEL = 0.95  # every interval here is a 95% interval
# The t scale mixture is tabulated on a grid of log(df), steps of 5%, and interpolated linearly:
# gammaincinv over B uniforms costs ~1.6 ms, and a study has hundreds of contrasts with distinct
# Satterthwaite dfs. Measured error of the interpolated log scale: < 0.3% at the 99.9th percentile.
LOG_DF_STEP = 0.05
NORMAL_DF = 1e6  # beyond this df the t scale factor is taken as 1


@dataclass(frozen=True)
class Draws:
    """One generator's bootstrap draws: ``n_boot`` replicates over its seeds and images."""

    seed_counts: np.ndarray  # (B, n_seeds) int, each row sums to n_seeds
    image_counts: np.ndarray | None  # (B, n_images) int, each row sums to n_images; None: run level
    mix: np.ndarray  # (B,) uniforms in (0, 1): the chi2 quantile of the t scale mixture
    _log_scales: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_boot(self) -> int:
        return len(self.mix)

    def t_scale(self, df: float, key: tuple[int, ...]) -> np.ndarray | float:
        """sqrt(df / chi2_df quantile) per replicate: multiplies a normal deviation into a t_df one.

        ``key`` names the contrast: its uniforms are ``mix`` in an order fixed by the key, so each
        contrast's scale draw is its own, independent of the others' and of the resampling.
        """
        if not np.isfinite(df) or df >= NORMAL_DF:
            return 1.0
        position = np.log(df) / LOG_DF_STEP
        below = int(np.floor(position))
        weight = position - below
        scale = np.exp((1 - weight) * self._log_scale(below) + weight * self._log_scale(below + 1))
        return scale[np.random.default_rng(key).permutation(self.n_boot)]

    def _log_scale(self, index: int) -> np.ndarray:
        if index not in self._log_scales:
            half = np.exp(index * LOG_DF_STEP) / 2
            self._log_scales[index] = 0.5 * np.log(half / special.gammaincinv(half, self.mix))
        return self._log_scales[index]


@dataclass(frozen=True)
class Spread:
    """Standard error of a contrast's mean and its (effective) degrees of freedom."""

    se: float
    df: float


def _counts(n_boot: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multinomial(n, uniform) counts: n draws with replacement per replicate, tallied.

    Tallying uniform integers with one bincount is ~10x faster than ``rng.multinomial`` for
    thousands of categories (2,000 images) and has the same distribution.
    """
    picks = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(picks.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def draw(n_boot: int, n_seeds: int, n_images: int | None, rng: np.random.Generator) -> Draws:
    """Resampling counts for seeds and (unless None) images, and the mixture's uniforms."""
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100 for a 95% interval, got {n_boot}")
    seeds = _counts(n_boot, n_seeds, rng)
    images = None if n_images is None else _counts(n_boot, n_images, rng)
    # Clipped away from 0 so the chi2 quantile, and the scale factor, stay finite.
    mix = np.clip(rng.random(n_boot), 1e-12, 1 - 1e-12)
    return Draws(seeds, images, mix)


def image_means(values: np.ndarray, image_counts: np.ndarray) -> np.ndarray:
    """Image-resampled means: ``values`` (..., n_images) -> (B, ...), one matrix product."""
    lead = values.shape[:-1]
    flat = values.reshape(-1, values.shape[-1])
    out = (image_counts @ flat.T) / values.shape[-1]
    return out.reshape((image_counts.shape[0], *lead))


def seed_weighted(per_seed: np.ndarray, seed_counts: np.ndarray) -> np.ndarray:
    """Replicates from per-replicate, per-seed means (B, n) and the counts of those seeds (B, n).

    A seed subset (a setting lacking some seeds) can draw none of its seeds; such replicates fall
    back on equal seed weights. That only narrows the raw spread, which the calibration rescales.
    """
    total = seed_counts.sum(axis=1)
    weighted = (seed_counts * per_seed).sum(axis=1) / np.maximum(total, 1)
    return np.where(total > 0, weighted, per_seed.mean(axis=1))


@dataclass(frozen=True)
class SeedFloor:
    """A seed mean square pooled over independent contrasts, and its df: the least a contrast's own may be."""

    mean_square: float
    df: float


def mean_squares(d: np.ndarray) -> tuple[float, float, float]:
    """(ms_seed, ms_image, ms_res) of a crossed seeds x images table (two-way ANOVA, no replication)."""
    n_seeds, n_images = d.shape
    grand = d.mean()
    seed_dev = d.mean(axis=1) - grand
    image_dev = d.mean(axis=0) - grand
    residual = d - grand - seed_dev[:, None] - image_dev[None, :]
    df_seed, df_image = n_seeds - 1, n_images - 1
    ms_seed = n_images * float(seed_dev @ seed_dev) / df_seed
    ms_image = n_seeds * float(image_dev @ image_dev) / df_image
    ms_res = float(np.einsum("si,si->", residual, residual)) / (df_seed * df_image)
    return ms_seed, ms_image, ms_res


def two_way_spread(d: np.ndarray, floor: SeedFloor | None = None) -> Spread:
    """Standard error of ``d.mean()`` for a crossed seeds x images table (n_seeds >= 2, n_images >= 2).

    S I Var(mean) = ms_seed + max(ms_image - ms_res, 0): the spread of the seed means (which holds
    the seed component and the noise) plus the image component repeating over seeds, from the ANOVA
    mean squares; df by Satterthwaite's formula for that combination. The seed term is never
    dropped: with 3 seeds a small ms_seed is as often chance as absence, and dropping it when
    ms_seed < ms_res (7% of seed-dominated studies) switched df from ~2 to ~90 exactly where the
    seed spread had been underestimated (coverage 92.9% instead of 95%, 3 seeds; 88% with 2).

    ``floor``: where the contrast's own ms_seed reads below it, the floor's mean square and df take
    its place (against gray, :class:`SeedFloor` pooled over the generator's settings; see
    :mod:`colorbench.analysis.effects`). The df never drops below the contrast's own seed df. A
    table without any variation (a setting that predicts gray, against gray) keeps its zero spread.
    """
    n_seeds, n_images = d.shape
    ms_seed, ms_image, ms_res = mean_squares(d)
    df_seed, df_image = n_seeds - 1, n_images - 1
    df_res = df_seed * df_image
    seed_term = (ms_seed, df_seed)
    varies = ms_seed > 0 or ms_image > 0 or ms_res > 0
    if floor is not None and varies and floor.mean_square > ms_seed:
        seed_term = (floor.mean_square, floor.df)
    terms = [seed_term]
    if ms_image > ms_res:
        terms += [(ms_image, df_image), (-ms_res, df_res)]
    total = sum(t for t, _ in terms)
    if total <= 0:
        return Spread(0.0, np.inf)
    # The negative term can push the formula below the seed means' df (to df < 1 and absurd t quantiles).
    df = max(total**2 / sum(t**2 / f for t, f in terms if t != 0), df_seed)
    return Spread(float(np.sqrt(total / (n_seeds * n_images))), float(df))


def one_way_spread(d: np.ndarray) -> Spread | None:
    """Standard error of the mean of independent values (df = n - 1); None for fewer than two."""
    if d.size < 2:
        return None
    return Spread(float(d.std(ddof=1) / np.sqrt(d.size)), float(d.size - 1))


def normal_scores(raw: np.ndarray) -> np.ndarray:
    """The replicates' ranks as standard normal quantiles: a normal margin, the draws' dependence kept.

    Ties (a 3-seed resample without image noise takes ~10 values) are broken in replicate order,
    which is random.
    """
    ranks = stats.rankdata(raw, method="ordinal")
    return special.ndtri((ranks - 0.5) / raw.size)


def calibrate(
    estimate: float, raw: np.ndarray, spread: Spread, draws: Draws, key: tuple[int, ...]
) -> np.ndarray:
    """Replicates with a Student-t margin of the spread's scale and df (module docstring)."""
    if spread.se <= 0 or float(raw.std()) <= 0:
        # Identical paired values (e.g. a setting that predicts gray, against gray): no spread.
        return np.full(raw.shape, estimate)
    return estimate + normal_scores(raw) * spread.se * draws.t_scale(spread.df, key)


def t_interval(estimate: float, spread: Spread, level: float = LEVEL) -> tuple[float, float]:
    """estimate -/+ t(df) quantile x se: the replicates' margin, without its Monte Carlo noise."""
    if spread.se <= 0:
        return estimate, estimate
    half = float(stats.t.ppf(0.5 + level / 2, spread.df)) * spread.se
    return estimate - half, estimate + half


def t_p_value(estimate: float, spread: Spread) -> float:
    """Two-sided p-value of "the effect is 0" against the same t distribution as :func:`t_interval`."""
    if spread.se <= 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2 * stats.t.sf(abs(estimate) / spread.se, spread.df))


def interval(replicates: np.ndarray) -> tuple[float, float]:
    """The central percentile interval at :data:`LEVEL`."""
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)
