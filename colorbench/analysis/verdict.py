"""Factor influence and the verdict on the study's claim (init > batch > layers > lr).

A factor's influence on a column is the largest absolute paired effect over its levels. Its
replicates are read off the same joint replicates as every effect of the generator, so the
probability that the measured factors fall in the claimed order (restricted to them) is the share
of replicates in which they do. Verdicts:

* **supported**: P(every pairwise statement of the claimed order holds) >= 0.95. For a total order
  that is the same event as "the order equals the claim", so it is ``p_order``.
* **contradicted**: some implied pair "A more influential than B" holds in at most 0.05 / k of the
  replicates, k the number of implied pairs (Bonferroni, familywise 5%): the data confidently
  reverse part of the claim. ``weakest_pair`` names it.
* **unresolved** otherwise, and always with fewer than two measured factors, or without a measure
  of noise (run-level losses with one seed).

Why not "contradicted if P(order) <= 0.05": with 4 factors pure noise gives P ~ 1/24 for any order,
so that rule would contradict every claim on noise (it did on 42 of 60 pure-noise stores). Measured
with these rules on 500 pure-noise stores each (3 seeds x 50 images, B = 2000, the simulator of
tests/test_analysis.py): "supported" never; "contradicted" 0 / 500 (image level dominant) and
1 / 500 (seed-dominated); with 2 seeds 0 and 8 / 500, with 5 seeds 1 and 1 / 500. Run-level losses
(one number per run, seed sd 0.5): "contradicted" 0 / 500 with 2 seeds, 1 / 500 with 3, 0 with 5.
Power, 100 stores each: effects in the claimed order (3.0, 2.0, 1.0, 0.2, noise se ~0.15) read
"supported" in 88 (3 seeds), the reversed order "contradicted" in 100. (These rates were measured
before issue 21 changed the replicates' margin from the bootstrap's shape to the t interval's; the
family-wise rates of the marks are in benchmarks/RESULTS.md.)

What P is, said in every sentence: the share of bootstrap replicates in which the factors'
influences fall in the claimed order; pure noise gives about 1/k! for k factors (1/24 for 4), so it
is not a p-value. Power: :func:`claim_power` bounds the chance that this design reads "supported"
were the claim true with influences of the sizes measured; under 20% the sentence says the design
has almost no power for the claim (the study's loss verdict, 2-3 seeds, is such a case).

Caveat worth the sentence: a factor measured at fewer levels than the others takes its maximum over
fewer effects, which favours the others on noise; ``fewer_levels`` names such factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from colorbench.analysis.effects import N_BOOT, ImageContrasts, RunContrasts, image_contrasts, run_contrasts
from colorbench.analysis.inputs import DEFAULT_LOSS, DEFAULT_METRIC
from colorbench.factors import factor_title

STUDY_CLAIM = ("init", "batch", "layers", "lr")  # most to least influential, as the study concluded
SUPPORT_LEVEL = 0.95
FAMILYWISE_ALPHA = 0.05
SUPPORTED, CONTRADICTED, UNRESOLVED = "supported", "contradicted", "unresolved"
LOW_POWER = 0.2  # below this the sentence says the design has almost no power for the claim
ONE_SIDED_95 = 1.6448536269514722  # standard normal 95th percentile


def claim_power(claim: Sequence[str], point: dict[str, float], replicates: dict[str, np.ndarray]) -> float:
    """Approximate chance of "supported" if the claim held with influences of the measured sizes.

    The true influences are the measured ones sorted into the claimed order; a study's estimates
    are those plus the bootstrap's deviations (replicate - point), one simulated study per
    replicate. "Supported" needs P(order) >= 0.95, which needs every adjacent pair's probability
    >= 0.95, i.e. (roughly) each adjacent difference above 1.645 of its sd: the share of simulated
    studies where all are is an upper bound on the power, cheap and honest for a warning.
    """
    sizes = sorted((point[f] for f in claim), reverse=True)
    truth = dict(zip(claim, sizes, strict=True))
    deviation = {f: replicates[f] - point[f] for f in claim}
    ok = np.ones(len(next(iter(deviation.values()))), dtype=bool)
    for a, b in zip(claim, claim[1:], strict=False):
        noise = deviation[a] - deviation[b]
        sd = float(noise.std())
        if sd <= 0:
            ok &= truth[a] > truth[b]
            continue
        ok &= truth[a] - truth[b] + noise >= ONE_SIDED_95 * sd
    return float(ok.mean())


@dataclass(frozen=True)
class FactorInfluence:
    """Largest |effect| over a factor's levels, its 95% interval, and the level that attains it."""

    factor: str
    title: str
    estimate: float
    low: float  # NaN without replicates
    high: float
    level: str  # setting id of the level with the largest |effect| (point estimate)
    n_levels: int


@dataclass(frozen=True)
class PairProbability:
    """Bootstrap probability that ``more`` is more influential than ``less``."""

    more: str
    less: str
    probability: float


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on the claimed order for one generator and one column.

    ``claimed_order`` is the claim restricted to the measured factors; ``point_order`` orders them
    by point estimate; ``p_order`` is P(order equals the claim) (NaN when not computed); ``pairs``
    holds each implied pair's probability, ``weakest_pair`` the lowest, ``threshold`` = 0.05 / k.
    """

    generator: str
    column: str
    verdict: str
    reason: str
    claimed_order: tuple[str, ...]
    point_order: tuple[str, ...]
    p_order: float
    pairs: tuple[PairProbability, ...]
    weakest_pair: PairProbability | None
    threshold: float
    influences: tuple[FactorInfluence, ...]  # measured factors, in point order
    fewer_levels: tuple[str, ...]  # measured factors with fewer levels than the best-measured one
    unmeasured: tuple[str, ...]  # claimed factors without any measured level
    basis: str
    n_seeds: int
    n_boot: int
    chance: float = float("nan")  # P(order) of pure noise: 1 / k! for k measured factors
    power: float = float("nan")  # approximate upper bound on P("supported") were the claim true


def title(factor: str) -> str:
    return factor_title(factor)


def _verdict(contrasts, column: str, claim: Sequence[str]) -> ClaimVerdict:
    layout = contrasts.table.layout
    index = contrasts.column(column)
    levels: dict[str, list] = {}
    for k, factor in enumerate(layout.factors):
        if factor in claim and k != 0:
            found = contrasts.contrast(k, 0, index)
            if found is not None:
                levels.setdefault(factor, []).append((layout.settings[k], found))
    measured = [f for f in claim if f in levels]
    unmeasured = tuple(f for f in claim if f not in levels)
    most_levels = max((len(v) for v in levels.values()), default=0)
    fewer = tuple(f for f in measured if len(levels[f]) < most_levels)
    point, replicates, influences = {}, {}, []
    for factor in measured:
        estimates = np.array([abs(c.estimate) for _, c in levels[factor]])
        point[factor] = float(estimates.max())
        level = levels[factor][int(estimates.argmax())][0]
        if all(c.replicates is not None for _, c in levels[factor]):
            replicates[factor] = np.max([np.abs(c.replicates) for _, c in levels[factor]], axis=0)
            low, high = np.quantile(replicates[factor], [0.025, 0.975])
        else:
            low = high = float("nan")
        influences.append(
            FactorInfluence(
                factor, title(factor), point[factor], float(low), float(high), level, len(levels[factor])
            )
        )
    point_order = tuple(sorted(measured, key=lambda f: -point[f]))
    influences.sort(key=lambda i: point_order.index(i.factor))
    # What the intervals cover; levels can differ where a setting lacks seeds.
    basis = "; ".join(dict.fromkeys(c.basis for v in levels.values() for _, c in v))
    n_seeds = int(layout.present[0].sum())
    nan = float("nan")

    chance = 1 / factorial(len(measured)) if len(measured) >= 2 else nan
    power = (
        claim_power(measured, point, replicates)
        if len(measured) >= 2 and len(replicates) == len(measured)
        else nan
    )

    def verdict(name, reason, p_order=nan, pairs=(), weakest=None, threshold=nan) -> ClaimVerdict:
        return ClaimVerdict(
            generator=layout.generator, column=column, verdict=name, reason=reason,
            claimed_order=tuple(measured), point_order=point_order, p_order=p_order, pairs=tuple(pairs),
            weakest_pair=weakest, threshold=threshold, influences=tuple(influences), fewer_levels=fewer,
            unmeasured=unmeasured, basis=basis, n_seeds=n_seeds, n_boot=contrasts.draws.n_boot,
            chance=chance, power=power,
        )  # fmt: skip

    if len(measured) < 2:
        what = f"only {title(measured[0])} measured" if measured else "no claimed factor measured"
        return verdict(UNRESOLVED, f"cannot be checked: {what}")
    if len(replicates) < len(measured):
        return verdict(UNRESOLVED, "one seed: no measure of noise")
    pairs = [
        PairProbability(a, b, float(np.mean(replicates[a] > replicates[b])))
        for a, b in combinations(measured, 2)
    ]
    in_order = np.logical_and.reduce(
        [replicates[a] > replicates[b] for a, b in zip(measured, measured[1:], strict=False)]
    )
    p_order = float(in_order.mean())
    threshold = FAMILYWISE_ALPHA / len(pairs)
    weakest = min(pairs, key=lambda p: p.probability)
    if p_order >= SUPPORT_LEVEL:
        return verdict(
            SUPPORTED, f"P(order as claimed) >= {SUPPORT_LEVEL}", p_order, pairs, weakest, threshold
        )
    if weakest.probability <= threshold:
        reason = f"{title(weakest.less)} is more influential than {title(weakest.more)} beyond noise"
        return verdict(CONTRADICTED, reason, p_order, pairs, weakest, threshold)
    return verdict(UNRESOLVED, "the data do not settle the order", p_order, pairs, weakest, threshold)


def claim_verdicts(
    per_image: pd.DataFrame,
    *,
    metric: str = DEFAULT_METRIC,
    claim: Sequence[str] = STUDY_CLAIM,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[ClaimVerdict]:
    """The claim's verdict on a per-image val metric, one per generator (seeds x images bootstrap)."""
    return [
        metric_verdict(c, metric, claim)
        for c in image_contrasts(per_image, metrics=[metric], n_boot=n_boot, seed=seed)
    ]


def loss_verdicts(
    runs: pd.DataFrame,
    *,
    loss: str = DEFAULT_LOSS,
    claim: Sequence[str] = STUDY_CLAIM,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[ClaimVerdict]:
    """The claim's verdict on a run-level loss (the study's: final ``loss_G``), seeds-only bootstrap."""
    return [
        loss_verdict(c, loss, claim) for c in run_contrasts(runs, losses=[loss], n_boot=n_boot, seed=seed)
    ]


def metric_verdict(
    contrasts: ImageContrasts, metric: str, claim: Sequence[str] = STUDY_CLAIM
) -> ClaimVerdict:
    return _verdict(contrasts, metric, claim)


def loss_verdict(contrasts: RunContrasts, loss: str, claim: Sequence[str] = STUDY_CLAIM) -> ClaimVerdict:
    return _verdict(contrasts, loss, claim)


def _p(p: float, n_boot: int) -> str:
    """ "P = 0.12", or a bound where no replicate (or every one) agreed: "P < 0.0005"."""
    if p <= 0:
        return f"P < {1 / n_boot:.1g}"
    if p >= 1:
        return f"P > {1 - 1 / n_boot:.4g}"
    return f"P = {p:.2f}" if p >= 0.01 else f"P = {p:.1g}"


def _share(power: float) -> str:
    return "under 1%" if power < 0.01 else f"at most {power:.0%}"


def verdict_sentence(verdict: ClaimVerdict) -> str:
    """The verdict as one plain sentence, no stronger than the data."""
    claimed = " > ".join(title(f) for f in verdict.claimed_order)
    point = " > ".join(title(f) for f in verdict.point_order) or "none"
    notes = []
    if verdict.fewer_levels:
        levels = {i.factor: i.n_levels for i in verdict.influences}
        most = max(levels.values())
        for factor in verdict.fewer_levels:
            n = levels[factor]
            notes.append(f"{title(factor)} measured at {n} level{'s' * (n != 1)}, the others at up to {most}")
    if verdict.unmeasured:
        notes.append(f"not measured: {', '.join(title(f) for f in verdict.unmeasured)}")
    if "images only" in verdict.basis:
        notes.append("one seed, so seed-to-seed variation is not in the intervals")
    tail = "".join(f"; {n}" for n in notes)
    where = f" on {verdict.column} for {verdict.generator}"
    if np.isnan(verdict.p_order):
        return f"{verdict.verdict}{where}: {verdict.reason} (point estimate: {point}{tail})."
    k = len(verdict.claimed_order)
    order = (
        f"{_p(verdict.p_order, verdict.n_boot)} that the order is {claimed}, the share of bootstrap "
        f"replicates in which the factors' influences fall in that order (pure noise gives 1/{factorial(k)} "
        f"= {verdict.chance:.2g} for {k} factors; not a p-value); point estimate: {point}"
    )
    if np.isfinite(verdict.power) and verdict.verdict != SUPPORTED:
        power = (
            f"; were the claim true with influences of the sizes measured, this design would read "
            f'"supported" in {_share(verdict.power)} of studies'
        )
        if verdict.power < LOW_POWER:
            power += ", almost no power for the claim"
        tail = power + tail
    if verdict.verdict == CONTRADICTED:
        pair = verdict.weakest_pair
        lead = (
            f"contradicted{where}: {title(pair.less)} is more influential than {title(pair.more)} "
            f"({_p(pair.probability, verdict.n_boot)} for the claimed direction, under "
            f"{verdict.threshold:.2g} = 0.05/{len(verdict.pairs)})"
        )
        return f"{lead} ({order}{tail})."
    return f"{verdict.verdict}{where} ({order}{tail})."
