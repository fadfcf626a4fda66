"""Fooling rates from the judgments database, with 95% Wilson intervals.

The fooling rate of a run is the share of its test trials in which the judge chose the colorized
photo as the real one (Zhang et al. 2016): 50% means people cannot tell it from the real photo,
0% that they always can. Practice answers are left out. Every answer counts, including those of
judges who stopped before the end; ``n_judges`` says how many people the answers come from.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from colorbench.errors import ColorbenchError
from colorbench.judge.db import connect
from colorbench.store import judgments_db_path

Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (95% by default); (nan, nan) when n = 0."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"successes ({successes}) must lie between 0 and n ({n})")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class FoolingRate:
    """One run's (or setting's) fooling rate over the test trials judged so far."""

    study: str
    generator: str | None
    setting: str | None
    run_id: str | None  # None when the rate pools a setting's runs (``by="setting"``)
    seed: int | None
    n_answers: int
    n_fooled: int
    n_judges: int
    rate: float
    low: float  # 95% Wilson interval
    high: float


def _database(source: str | Path) -> Path:
    path = Path(source)
    return judgments_db_path(path) if path.is_dir() else path


def fooling_rates(source: str | Path, study: str | None = None, *, by: str = "run") -> list[FoolingRate]:
    """Per-run (``by="run"``) or per-setting (``by="setting"``, seeds pooled) fooling rates.

    ``source``: a results store or its judgments database. A store where no one has judged yet
    gives an empty list (never made-up numbers). Sorted by study, generator, setting, seed.
    A damaged database raises :class:`ColorbenchError` (one line).
    """
    if by not in ("run", "setting"):
        raise ValueError(f"by must be 'run' or 'setting', not {by!r}")
    path = _database(source)
    if not path.is_file():
        return []
    keys = "study, generator, setting, run_id, seed" if by == "run" else "study, generator, setting"
    where, parameters = (
        ("WHERE practice = 0 AND study = ?", (study,)) if study else ("WHERE practice = 0", ())
    )
    try:
        connection = connect(path, read_only=True)
        try:
            rows = connection.execute(
                f"SELECT {keys}, COUNT(*) AS n, SUM(fooled) AS fooled, COUNT(DISTINCT judge) AS judges "
                f"FROM judgments {where} GROUP BY {keys} ORDER BY {keys}",
                parameters,
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:  # not a database, damaged, or not the judge's
        raise ColorbenchError(f"cannot read the judgments database {path}: {exc}") from None
    out = []
    for row in rows:
        n, fooled = int(row["n"]), int(row["fooled"] or 0)
        low, high = wilson_interval(fooled, n)
        out.append(
            FoolingRate(
                study=row["study"],
                generator=row["generator"],
                setting=row["setting"],
                run_id=row["run_id"] if by == "run" else None,
                seed=row["seed"] if by == "run" else None,
                n_answers=n,
                n_fooled=fooled,
                n_judges=int(row["judges"]),
                rate=fooled / n,
                low=low,
                high=high,
            )
        )
    return out
