"""The study's table per generator: seeds aggregated per setting, the best value per column marked.

Rows follow :func:`colorbench.store.reader.load_runs`' ``order`` (Default, learning rate, batch size,
init, depth); columns are :data:`COLUMNS`. A cell holds the mean over the seeds whose run
completed, its spread (sample standard deviation, or the half-width of a 95% t interval) and n.
Rows whose runs never produced numbers (infeasible, diverged, not started, ...) carry a note
instead of cells; a row where only some seeds completed keeps its numbers and says what happened
to the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from colorbench.metrics import METRICS
from colorbench.store.reader import GRAY_PREFIX

INTERVALS = {
    "std": "mean ± sample standard deviation over seeds (ddof 1)",
    "ci95": "mean ± half-width of the 95% Student-t confidence interval of the mean over seeds",
}
LOSS_NOTE = (
    "final-epoch means over the training batches, weighted by batch size; "
    "Loss G L1 includes lambda_L1 (as the study reports them)"
)


@dataclass(frozen=True)
class Column:
    key: str  # the load_runs column
    label: str  # plain text / HTML / Markdown header
    tex: str  # LaTeX header
    direction: str  # "lower" or "higher" is better
    unit: str
    kind: str  # "loss" (training) or "metric" (val)


def _metric(key: str, label: str, tex: str) -> Column:
    info = METRICS[key]
    return Column(key, label, tex, info.direction, info.unit, "metric")


# The study's three generator losses, then the val metrics. The losses are training losses, not
# quality metrics; lower is "better" only in the sense that the study compares them that way.
COLUMNS: tuple[Column, ...] = (
    Column("loss_G_GAN", "Loss G GAN", "Loss G GAN", "lower", "BCE", "loss"),
    Column("loss_G_L1", "Loss G L1", "Loss G L1", "lower", "100 x L1 (ab/110)", "loss"),
    Column("loss_G", "Loss G", "Loss G", "lower", "BCE + 100 x L1", "loss"),
    _metric("l1_ab", "L1", "L1"),
    _metric("psnr", "PSNR", "PSNR"),
    _metric("ssim", "SSIM", "SSIM"),
    _metric("ciede2000", "CIEDE2000", "CIEDE2000"),
    _metric("dcf", "|ΔCF|", r"$|\Delta\mathrm{CF}|$"),
    _metric("auc", "AuC", "AuC"),
)
ARROWS = {"lower": "↓", "higher": "↑"}
TEX_ARROWS = {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}


@dataclass(frozen=True)
class Stat:
    """Mean, sample std (ddof 1; None for one value), 95% t half-width (None for one value), n."""

    mean: float | None
    std: float | None
    ci95: float | None
    n: int

    def spread(self, interval: str) -> float | None:
        return self.std if interval == "std" else self.ci95


def aggregate(values: Sequence[float]) -> Stat:
    """Stat over the finite values; NaN and inf (a missing metric) are left out of n."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(finite)
    if n == 0:
        return Stat(None, None, None, 0)
    mean = sum(finite) / n
    if n == 1:
        return Stat(mean, None, None, 1)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    from scipy.stats import t  # scipy comes with scikit-image

    return Stat(mean, std, float(t.ppf(0.975, n - 1)) * std / math.sqrt(n), n)


@dataclass
class Cell:
    stat: Stat
    best: bool = False


@dataclass
class Row:
    setting: str
    label: str
    change: str
    factor: str | None
    cells: list[Cell]  # aligned with COLUMNS; empty when nothing completed
    n_seeds: int  # seeds with a completed run
    n_planned: int
    note: str | None  # "infeasible: reason", "diverged (2 of 3 seeds): ...", ...
    is_reference: bool = False

    @property
    def headline(self) -> str:
        """The note without its reasons ("infeasible", "diverged (1 of 3 seeds)"), for narrow cells."""
        return "; ".join(part.split(":", 1)[0] for part in (self.note or "").split("; ") if part)


@dataclass
class Table:
    generator: str
    rows: list[Row]
    gray: Row | None
    decimals: dict[str, int] = field(default_factory=dict)  # per column, shared by every row


def _note(group: pd.DataFrame, completed: int) -> str | None:
    """What happened to the seeds that did not complete, one phrase per status."""
    others = group[group["status"] != "completed"]
    if others.empty:
        return None
    parts = []
    for status, runs in others.groupby("status", sort=False):
        reasons = [str(r) for r in dict.fromkeys(runs["reason"]) if isinstance(r, str) and r]
        count = f" ({len(runs)} of {len(group)} seeds)" if len(group) > 1 else ""
        parts.append(f"{status}{count}" + (f": {reasons[0]}" if reasons else ""))
    if completed and any(p.startswith(("running", "not-started", "interrupted")) for p in parts):
        parts.append("numbers are over the completed seeds")
    return "; ".join(parts)


def _row(group: pd.DataFrame) -> Row:
    first = group.iloc[0]
    done = group[group["status"] == "completed"]
    cells = [Cell(aggregate(done[c.key].tolist() if c.key in done.columns else [])) for c in COLUMNS]
    return Row(
        setting=str(first["setting"]),
        label=str(first["label"]),
        change=str(first.get("change") or ""),
        factor=first["factor"] if isinstance(first["factor"], str) else None,
        cells=cells if len(done) else [],
        n_seeds=len(done),
        n_planned=len(group),
        note=_note(group, len(done)),
    )


def _gray_row(frame: pd.DataFrame) -> Row | None:
    """The grey baseline (ab = 0) on the same val split, from every run that measured it."""
    cells = []
    for column in COLUMNS:
        key = GRAY_PREFIX + column.key
        values = frame[key].tolist() if column.kind == "metric" and key in frame.columns else []
        cells.append(Cell(aggregate(values)))
    if not any(c.stat.n for c in cells):
        return None
    # Every run sees the same val split, so the spread is zero; show the value without one.
    cells = [Cell(Stat(c.stat.mean, None, None, 1)) if c.stat.n else c for c in cells]
    return Row("gray", "Gray (ab = 0)", "reference", None, cells, 0, 0, None, is_reference=True)


def mark_best(rows: Sequence[Row]) -> None:
    """Bold the best mean per column (every tie), over the settings only (not the reference row).

    A column where fewer than two settings have a value, or all of them tie, marks nothing.
    """
    for i, column in enumerate(COLUMNS):
        means = [r.cells[i].stat.mean for r in rows if r.cells and r.cells[i].stat.mean is not None]
        if len(means) < 2:
            continue  # one value is not a comparison
        best = min(means) if column.direction == "lower" else max(means)
        if all(m == best for m in means):
            continue  # every setting ties: nothing stands out
        for r in rows:
            if r.cells and r.cells[i].stat.mean is not None:
                r.cells[i].best = r.cells[i].stat.mean == best


def decimals_for(values: Sequence[float | None], significant: int = 4) -> int:
    """Decimals that give the column's largest magnitude ``significant`` digits (0 to 6)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return 3
    return max(0, min(6, significant - 1 - math.floor(math.log10(max(finite)))))


def build_tables(runs: pd.DataFrame, generators: Sequence[str]) -> list[Table]:
    """One :class:`Table` per generator (in ``generators`` order) from load_runs' rows of one study."""
    tables = []
    for generator in generators:
        mine = runs[runs["generator"] == generator]
        if mine.empty:
            continue
        rows = [_row(g) for _, g in mine.groupby("order", sort=True)]
        mark_best(rows)
        gray = _gray_row(mine)
        every = [*rows, *([gray] if gray else [])]
        decimals = {
            c.key: decimals_for([r.cells[i].stat.mean for r in every if r.cells])
            for i, c in enumerate(COLUMNS)
        }
        tables.append(Table(generator, rows, gray, decimals))
    return tables


def seeds_phrase(tables: Sequence[Table]) -> str:
    """ "3 seeds per setting", "1-3 seeds per setting" or "1 seed per setting" over completed runs."""
    counts = sorted({r.n_seeds for t in tables for r in t.rows if r.n_seeds})
    if not counts:
        return "no completed runs"
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{span} seed{'s' if counts[-1] > 1 else ''} per setting"
