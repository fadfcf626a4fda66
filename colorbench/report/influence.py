"""Influence ranking: which factor moves each number most, and whether the study's order holds here.

For a factor and a column, the effect is the change of the column's seed mean from the baseline's,
taken at the factor's level with the largest absolute change. Where seeds allow, it is also divided
by the seed-to-seed standard deviation (pooled over the baseline and the factor's levels, each
setting's sample std weighted by its n - 1), which says whether the change stands out of noise.
Per column the factors are ranked by that ratio when every factor has one, else by the absolute
change (same units within a column, so comparable); the overall order is the mean rank over columns.

The study concluded: weight init most influential, then batch size, then depth, learning rate least
(:data:`STUDY_CLAIM`). :func:`influence` states whether that order holds on the data at hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from colorbench.factors import FACTORS, factor_title
from colorbench.report.tables import COLUMNS, aggregate

STUDY_CLAIM = ("init", "batch", "layers", "lr")  # most to least influential, as the study concluded
NOISE_Z = 2.0  # a change under two seed standard deviations is read as within seed noise


@dataclass
class Effect:
    change: float  # level mean - baseline mean, at the level with the largest |change|
    level: str  # that level's row label
    seed_sd: float | None  # pooled seed-to-seed std; None with one seed per setting
    rank: float | None = None  # 1 = most influential in this column (ties share the mean rank)

    @property
    def z(self) -> float | None:
        """|change| / seed_sd, or None when the spread is unknown or zero."""
        if self.seed_sd is None or self.seed_sd <= 0:
            return None
        return abs(self.change) / self.seed_sd


@dataclass
class FactorInfluence:
    factor: str
    title: str
    effects: dict[str, Effect] = field(default_factory=dict)  # column key -> effect
    mean_rank: float | None = None
    unmeasured: list[str] = field(default_factory=list)  # labels of levels without numbers

    @property
    def max_z(self) -> float | None:
        zs = [e.z for e in self.effects.values() if e.z is not None]
        return max(zs) if zs else None


@dataclass
class Influence:
    generator: str
    factors: list[FactorInfluence]  # ranked, most influential first; unmeasured factors last
    basis: str  # how columns were ranked: "change / seed sd", "absolute change" or "mixed"
    claim_holds: bool | None  # None: fewer than two measured factors
    sentence: str


def _pooled_sd(groups: Sequence[Sequence[float]]) -> float | None:
    num = den = 0.0
    for values in groups:
        stat = aggregate(values)
        if stat.n >= 2 and stat.std is not None:
            num += (stat.n - 1) * stat.std**2
            den += stat.n - 1
    return math.sqrt(num / den) if den else None


def _factor_effects(done: pd.DataFrame, factor: str) -> FactorInfluence:
    info = FactorInfluence(factor, factor_title(factor))
    base = done[done["factor"].isna()]
    levels = done[done["factor"] == factor]
    for column in COLUMNS:
        if column.key not in done.columns:
            continue
        base_stat = aggregate(base[column.key].tolist())
        if base_stat.mean is None:
            continue
        best: tuple[float, str] | None = None
        groups = [base[column.key].tolist()]
        for _, level in levels.groupby("order", sort=True):
            stat = aggregate(level[column.key].tolist())
            groups.append(level[column.key].tolist())
            if stat.mean is not None:
                change = stat.mean - base_stat.mean
                if best is None or abs(change) > abs(best[0]):
                    best = (change, str(level["label"].iloc[0]))
        if best is not None:
            info.effects[column.key] = Effect(best[0], best[1], _pooled_sd(groups))
    return info


def _rank_columns(factors: list[FactorInfluence]) -> str:
    """Rank factors within each column; returns the basis used."""
    bases = set()
    for column in COLUMNS:
        present = [f for f in factors if column.key in f.effects]
        if not present:
            continue
        effects = [f.effects[column.key] for f in present]
        standardised = all(e.z is not None for e in effects)
        bases.add(standardised)
        scores = pd.Series([e.z if standardised else abs(e.change) for e in effects])
        for effect, rank in zip(effects, scores.rank(ascending=False, method="average"), strict=True):
            effect.rank = float(rank)
    if bases == {True}:
        return "change / seed sd"
    return "absolute change" if bases <= {False} else "mixed"


def _order_text(factors: Sequence[FactorInfluence]) -> str:
    """ "init > batch size = depth > ...": equal mean ranks are written as ties."""
    text = factors[0].title
    for previous, factor in zip(factors, factors[1:], strict=False):
        text += (" = " if math.isclose(previous.mean_rank, factor.mean_rank) else " > ") + factor.title
    return text


def _sentence(ranked: list[FactorInfluence], unmeasured: list[str], scale: str, seeds: str, basis: str):
    claim_text = "weight init most influential, then batch size, then depth, learning rate least"
    context = f"on this data, at this scale ({scale}), with this many seeds ({seeds})"
    if len(ranked) < 2:
        what = f"only {ranked[0].title} was measured" if ranked else "no factor was measured"
        return None, f"The study's claim ({claim_text}) cannot be checked {context}: {what}."
    claim = [f for f in STUDY_CLAIM if f in {r.factor for r in ranked}]
    rank_of = {r.factor: r.mean_rank for r in ranked}
    holds = all(rank_of[a] < rank_of[b] for a, b in zip(claim, claim[1:], strict=False))
    restricted = (
        ""
        if len(claim) == len(STUDY_CLAIM)
        else (f" (restricted to the factors measured: {' > '.join(factor_title(f) for f in claim)})")
    )
    text = (
        f"The study's claim ({claim_text}){restricted} {'holds' if holds else 'does not hold'} {context}: "
        f"by mean rank over the {len(COLUMNS)} columns ({basis}) the order is {_order_text(ranked)}."
    )
    if unmeasured:
        text += f" Not measured: {', '.join(unmeasured)}."
    quiet = [r.title for r in ranked if r.max_z is not None and r.max_z < NOISE_Z]
    if all(r.max_z is None for r in ranked):
        text += " With one seed per setting the seed-to-seed spread is unknown, so this order may be noise."
    elif quiet:
        text += (
            f" The largest change of {', '.join(quiet)} stays under {NOISE_Z:g} seed standard deviations "
            "on every column, i.e. within seed noise."
        )
    return holds, text


def influence(runs: pd.DataFrame, generator: str, *, scale: str, seeds: str) -> Influence:
    """The ranking of one generator in one study (load_runs' rows); ``scale``, ``seeds``: for the sentence."""
    mine = runs[runs["generator"] == generator]
    done = mine[mine["status"] == "completed"]
    factors = [f for f in dict.fromkeys(mine["factor"].dropna()) if f in FACTORS]
    infos = []
    for factor in factors:
        info = _factor_effects(done, factor)
        measured = set(done.loc[done["factor"] == factor, "setting"])
        info.unmeasured = [
            f"{label} ({status})"
            for (setting, label), status in mine[mine["factor"] == factor]
            .groupby(["setting", "label"], sort=False)["status"]
            .first()
            .items()
            if setting not in measured
        ]
        infos.append(info)
    basis = _rank_columns(infos)
    for info in infos:
        ranks = [e.rank for e in info.effects.values() if e.rank is not None]
        info.mean_rank = sum(ranks) / len(ranks) if ranks else None
    ranked = sorted((i for i in infos if i.mean_rank is not None), key=lambda i: i.mean_rank)
    unmeasured = [i.title for i in infos if i.mean_rank is None]
    holds, sentence = _sentence(ranked, unmeasured, scale, seeds, basis)
    ranked += [i for i in infos if i.mean_rank is None]
    return Influence(generator, ranked, basis, holds, sentence)
