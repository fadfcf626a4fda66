"""Each setting against its generator's Default: paired effects with 95% intervals, for the tables.

Per-image val metrics are paired by seed and val image (hierarchical bootstrap, calibrated;
:mod:`colorbench.analysis.bootstrap`); the training losses, one number per run, by seed only, and
have no interval with one seed. The cells keep what the interval covers (``basis``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from colorbench.report.tables import Table


@dataclass(frozen=True)
class EffectCell:
    estimate: float
    low: float | None  # None: no interval (one seed, for a training loss)
    high: float | None
    basis: str
    significant: bool | None = None  # after Benjamini-Hochberg over the generator's effects

    @property
    def excludes_zero(self) -> bool:
        """The uncorrected 95% interval excludes 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def marked(self) -> bool:
        """Bold in the effects table: significant after BH (the uncorrected reading where not given)."""
        return self.excludes_zero if self.significant is None else bool(self.significant)


@dataclass
class EffectsRow:
    setting: str
    label: str
    cells: dict[str, EffectCell]


@dataclass
class EffectsTable:
    generator: str
    rows: list[EffectsRow]
    bases: list[str]  # what the intervals cover, e.g. "seeds and images"

    def cell(self, setting: str, column: str) -> EffectCell | None:
        for row in self.rows:
            if row.setting == setting:
                return row.cells.get(column)
        return None


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def build_effects(analysis, generator: str, table: Table) -> EffectsTable | None:
    """The effects of one generator's settings (table order), or None when nothing was compared."""
    frames = [f[f["generator"] == generator] for f in (analysis.effects, analysis.run_effects) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return None
    rows = []
    for row in table.rows:
        mine = frame[frame["setting"] == row.setting]
        if mine.empty:
            continue
        cells = {
            e.metric: EffectCell(
                float(e.estimate), _number(e.low), _number(e.high), str(e.basis), bool(e.significant)
            )
            for e in mine.itertuples(index=False)
            if e.metric in table.decimals  # a column of the table
        }
        rows.append(EffectsRow(row.setting, row.label, cells))
    bases = []  # "training losses: over seeds", "val metrics: over seeds and images"
    for kind, metrics in (("training losses", analysis.run_effects), ("val metrics", analysis.effects)):
        mine = metrics[metrics["generator"] == generator] if len(metrics) else metrics
        if len(mine):
            bases.append(f"{kind}: over {', '.join(sorted(set(mine['basis'].dropna())))}")
    return EffectsTable(generator, rows, bases) if rows else None
