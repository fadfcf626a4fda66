"""Simulated studies with known true effects: how well the intervals and decisions are calibrated.

A study has the example report's shape: 9 settings (Default and two levels of each of the four
claimed factors) x ``n_seeds`` seeds x ``n_images`` val images, one per-image metric (ΔE00, lower is
better) and the gray baseline. A value is

    x(setting, seed, image) = difficulty(image) + true effect(setting)
                              + seed term(setting, seed) + image term(setting, image) + noise

with the image term repeating over seeds (every run scores the same val images). A :class:`Case`
sets the sds of the three random terms, the seed term's shape (normal, or a centred lognormal with
skewness ~6) and whether its sd differs between settings. Many studies are simulated as many
generators of one frame (the analysis treats generators independently), so one call of
:func:`colorbench.analysis.analyze` analyses them all.

Used by ``tests/test_coverage.py`` (few studies, a tolerance from the binomial standard error) and
``benchmarks/bench_coverage.py`` (the full tables of ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from colorbench.analysis.effects import BETTER, gray_effects, paired_effects
from colorbench.analysis.inputs import DEFAULT_METRIC
from colorbench.analysis.summary import analyze

# The simulated metric is the default verdict metric (CIEDE2000: lower is better, as simulated).
METRIC = DEFAULT_METRIC
SETTINGS = (
    ("default", None),
    ("lr_low", "lr"),
    ("lr_high", "lr"),
    ("batch_low", "batch"),
    ("batch_high", "batch"),
    ("init_xavier", "init"),
    ("init_kaiming", "init"),
    ("layers_down", "layers"),
    ("layers_up", "layers"),
)
# Known effects against Default (ΔE00 units), from a clear loss to a clear gain.
TRUE_EFFECTS = dict(zip([name for name, _ in SETTINGS[1:]], np.linspace(-0.6, 0.8, 8).round(2), strict=True))
# Seed-term sd multipliers per setting in the "uneven" case (Default 1x; 0.25x to 3x).
UNEVEN = (1.0, 0.25, 3.0, 0.5, 2.0, 0.25, 3.0, 1.0, 1.5)


@dataclass(frozen=True)
class Case:
    """The noise structure of a simulated study (sds in ΔE00 units)."""

    name: str
    sd_seed: float
    sd_image: float
    sd_noise: float
    seed_shape: str = "normal"  # "normal" or "lognormal" (centred, skewed)
    uneven: bool = False  # the seed sd differs between settings (UNEVEN)


CASES = (
    Case("image-dominated", 0.1, 0.5, 0.7),
    Case("seed-dominated", 0.5, 0.2, 1.0),
    Case("skewed seed term (lognormal)", 0.5, 0.2, 1.0, seed_shape="lognormal"),
    Case("uneven seed sd between settings", 0.5, 0.2, 1.0, uneven=True),
)


def _seed_terms(rng: np.random.Generator, case: Case, shape: tuple[int, int]) -> np.ndarray:
    if case.seed_shape == "lognormal":
        raw = np.exp(rng.standard_normal(shape))
        terms = (raw - np.exp(0.5)) / np.sqrt((np.e - 1) * np.e)  # mean 0, sd 1, skewness ~6
    elif case.seed_shape == "normal":
        terms = rng.standard_normal(shape)
    else:
        raise ValueError(f"unknown seed_shape {case.seed_shape!r}: normal or lognormal")
    scale = np.array(UNEVEN) if case.uneven else np.ones(shape[0])
    return case.sd_seed * scale[:, None] * terms


def simulate_studies(
    rng: np.random.Generator,
    case: Case,
    n_studies: int,
    *,
    effects: dict[str, float] | None = None,
    n_seeds: int = 3,
    n_images: int = 47,
    gray_offset: float = 2.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """per_image (generators ``study0000`` ...) and gray frames of ``n_studies`` independent studies.

    Gray sits ``gray_offset`` above Default's expectation on every image (worse on ΔE00); with 0 and
    no effects, every setting is as good as gray: a null study for "beats gray".
    """
    effects = TRUE_EFFECTS if effects is None else effects
    n_settings = len(SETTINGS)
    true = np.array([effects.get(name, 0.0) for name, _ in SETTINGS])
    difficulty = 10 + 3 * rng.standard_normal(n_images)
    k, s, i = (
        a.ravel() for a in np.meshgrid(range(n_settings), range(n_seeds), range(n_images), indexing="ij")
    )
    setting = np.array([name for name, _ in SETTINGS])[k]
    factor = np.array([f for _, f in SETTINGS], dtype=object)[k]
    image_id = np.array([f"img{j:03d}" for j in range(n_images)])[i]
    frames = []
    for study in range(n_studies):
        values = (
            difficulty[None, None, :]
            + true[:, None, None]
            + _seed_terms(rng, case, (n_settings, n_seeds))[:, :, None]
            + case.sd_image * rng.standard_normal((n_settings, 1, n_images))
            + case.sd_noise * rng.standard_normal((n_settings, n_seeds, n_images))
        )
        frames.append(
            pd.DataFrame(
                {
                    "generator": f"study{study:04d}",
                    "setting": setting,
                    "factor": factor,
                    "seed": s,
                    "image_id": image_id,
                    METRIC: values.ravel(),
                }
            )
        )
    gray = pd.DataFrame(
        {"image_id": [f"img{j:03d}" for j in range(n_images)], METRIC: difficulty + gray_offset}
    )
    return pd.concat(frames, ignore_index=True), gray


@dataclass(frozen=True)
class Coverage:
    """How often the reported 95% intervals hold the true effect, over ``n_intervals`` intervals."""

    case: str
    n_seeds: int
    n_studies: int
    n_intervals: int
    coverage: float
    mean_width: float

    @property
    def binomial_se(self) -> float:
        return float(np.sqrt(0.95 * 0.05 / self.n_intervals))


def coverage(
    case: Case, n_studies: int, *, n_seeds: int = 3, n_images: int = 47, n_boot: int = 200, seed: int = 0
) -> Coverage:
    """Coverage of the effects against Default (:data:`TRUE_EFFECTS`) over simulated studies."""
    per_image, _ = simulate_studies(
        np.random.default_rng(seed), case, n_studies, n_seeds=n_seeds, n_images=n_images
    )
    effects = paired_effects(per_image, n_boot=n_boot, seed=seed)
    truth = effects["setting"].map(TRUE_EFFECTS)
    held = (effects["low"] <= truth) & (truth <= effects["high"])
    return Coverage(
        case.name,
        n_seeds,
        n_studies,
        len(effects),
        float(held.mean()),
        float((effects["high"] - effects["low"]).mean()),
    )


@dataclass(frozen=True)
class NullErrors:
    """Error rates on null studies: every true effect 0 and every setting as good as gray."""

    case: str
    n_seeds: int
    n_studies: int
    false_exclusion: float  # share of effect intervals (vs Default) that exclude 0, uncorrected
    false_significant: float  # share of effects called significant after Benjamini-Hochberg
    studies_any_exclusion: float  # share of studies with >= 1 interval excluding 0 (uncorrected)
    studies_any_significant: float  # ... with >= 1 effect significant after BH (here FDR = FWER)
    fwer_beats_gray_uncorrected: float  # studies with >= 1 setting "better than gray" at 5% each
    fwer_beats_gray: float  # ... after Holm (what the report counts)
    false_best: float  # studies with a "best" mark


def _null_studies(case: Case, n_studies: int, n_seeds: int, n_images: int, seed: int):
    """``n_studies`` studies in which no setting differs from Default or from gray."""
    rng = np.random.default_rng(seed)
    return simulate_studies(
        rng, case, n_studies, effects={}, n_seeds=n_seeds, n_images=n_images, gray_offset=0.0
    )


def null_errors(
    case: Case, n_studies: int, *, n_seeds: int = 3, n_images: int = 47, n_boot: int = 200, seed: int = 0
) -> NullErrors:
    """Family-wise and per-interval error rates on ``n_studies`` null studies."""
    per_image, gray = _null_studies(case, n_studies, n_seeds, n_images, seed)
    result = analyze(per_image, gray, metrics=[METRIC], verdict_metric=METRIC, n_boot=n_boot, seed=seed)
    effects, gray_frame = result.effects, result.gray_effects
    excludes = (effects["low"] > 0) | (effects["high"] < 0)
    by_study = effects.assign(excludes=excludes).groupby("generator")
    gray_by_study = gray_frame.assign(
        raw=(gray_frame["high"] < 0), held=gray_frame["versus_gray"] == BETTER
    ).groupby("generator")
    return NullErrors(
        case.name,
        n_seeds,
        n_studies,
        float(excludes.mean()),
        float(effects["significant"].mean()),
        float(by_study["excludes"].any().mean()),
        float(by_study["significant"].any().mean()),
        float(gray_by_study["raw"].any().mean()),
        float(gray_by_study["held"].any().mean()),
        float(np.mean([m.status == "best" for m in result.best_marks])),
    )


@dataclass(frozen=True)
class GrayErrors:
    """On null studies: the share with at least one false "better than gray" on the metric."""

    case: str
    n_seeds: int
    n_studies: int
    uncorrected: float  # at 5% per setting
    holm: float  # after Holm over the settings: what the report counts

    @property
    def binomial_se(self) -> float:
        return float(np.sqrt(0.05 * 0.95 / self.n_studies))


def gray_familywise(
    case: Case, n_studies: int, *, n_seeds: int = 3, n_images: int = 47, n_boot: int = 100, seed: int = 0
) -> GrayErrors:
    """The family-wise false "beats gray" rate alone (:func:`null_errors` without the rest: faster)."""
    per_image, gray = _null_studies(case, n_studies, n_seeds, n_images, seed)
    found = gray_effects(per_image, gray, metrics=[METRIC], n_boot=n_boot, seed=seed)
    by_study = found.assign(raw=found["high"] < 0, held=found["versus_gray"] == BETTER).groupby("generator")
    return GrayErrors(
        case.name,
        n_seeds,
        n_studies,
        float(by_study["raw"].any().mean()),
        float(by_study["held"].any().mean()),
    )


@dataclass(frozen=True)
class MeasuredCase:
    """One case's figures as ``benchmarks/RESULTS.md`` gives them (3 seeds), for the report's own note.

    ``tests/test_coverage.py`` checks they equal the figures in RESULTS.md, which
    ``benchmarks/bench_coverage.py --write`` replaces: rerun the benchmark, then update these.
    """

    case: str
    coverage: str  # of the 95% intervals against Default, as printed ("96.6%")
    fwer_beats_gray: str  # null studies with a false "better than gray" after Holm ("1.0%")
    n_null: int  # how many null studies that share is of


SKEWED_MEASURED = MeasuredCase("skewed seed term (lognormal)", "96.6%", "0.0%", 100)
