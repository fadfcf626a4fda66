"""The study's table per generator: seeds aggregated per setting, marks that only the data can earn.

Rows follow :func:`colorbench.store.reader.load_runs`' ``order`` (Default, learning rate, batch
size, init, depth); columns are :func:`table_columns`: two information columns, then every declared
loss and metric shown in tables (:mod:`colorbench.measures`; ``--columns`` picks some). A cell holds the mean
over the seeds whose run completed, its spread (sample standard deviation, or the half-width of a
95% t interval) and n. Two marks come from :mod:`colorbench.analysis`, never from the means alone:

- **best** (bold): the column's best setting beats gray beyond noise and its paired interval
  against the runner-up excludes zero; otherwise the column says the top settings are tied, or
  that none beats gray;
- **versus gray** (a superscript + or -): the setting's paired interval against the gray baseline
  excludes zero in the good (+) or the bad (-) direction; no sign: indistinguishable from gray.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from colorbench.measures import METRIC, Measure, loss_measures, metric_measures
from colorbench.store.reader import GRAY_PREFIX
from colorbench.store.status import Status

INTERVALS = {
    "std": "mean ± sample standard deviation over seeds (ddof 1)",
    "ci95": "mean ± half-width of the 95% Student-t confidence interval of the mean over seeds",
}
LOSS_NOTE = (
    "final-epoch means over the training batches, weighted by batch size; "
    "Loss G L1 includes lambda_L1 (as the study reports them)"
)
BETTER, WORSE = "+", "-"


@dataclass(frozen=True)
class Column:
    key: str  # the load_runs column
    label: str  # plain text / HTML / Markdown header
    tex: str  # LaTeX header
    direction: str  # "lower" or "higher" is better; "" for information columns
    unit: str
    kind: str  # "info", "loss" (training) or "metric" (val)
    measure: Measure | None = None  # the declaration behind a loss or metric column


def measure_column(measure: Measure) -> Column:
    """A loss's or metric's column, all from its declaration (unranked: no direction shown)."""
    direction = measure.direction if measure.ranked else ""
    return Column(
        measure.name, measure.label, measure.tex_label, direction, measure.unit, measure.kind, measure
    )


INFO_COLUMNS: tuple[Column, ...] = (
    Column("parameters", "Params (M)", "Params (M)", "", "", "info"),
    Column("train_minutes", "Train (min)", "Train (min)", "", "", "info"),
)


def table_columns() -> tuple[Column, ...]:
    """Every table column: information, the study's losses, then every val metric shown in tables."""
    shown = [m for m in (*loss_measures(), *metric_measures()) if m.table]
    return (*INFO_COLUMNS, *(measure_column(m) for m in shown))


def default_tex_columns() -> tuple[str, ...]:
    """The LaTeX selection that fits a page width: the measures declared ``tex_default``."""
    return tuple(c.key for c in table_columns() if c.measure is not None and c.measure.tex_default)


def __getattr__(name: str):
    # COLUMNS / COLUMN_BY_KEY / DEFAULT_TEX_COLUMNS: read from the declarations when asked, so a
    # metric plugin installed into a running process (and refreshed) shows up.
    if name == "COLUMNS":
        return table_columns()
    if name == "COLUMN_BY_KEY":
        return {c.key: c for c in table_columns()}
    if name == "DEFAULT_TEX_COLUMNS":
        return default_tex_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ARROWS = {"lower": "↓", "higher": "↑", "": ""}
TEX_ARROWS = {"lower": r"$\downarrow$", "higher": r"$\uparrow$", "": ""}


def select_columns(keys: Sequence[str] | None) -> tuple[Column, ...]:
    """The columns named by ``--columns`` (in that order), or all of them."""
    columns = table_columns()
    if not keys:
        return columns
    by_key = {c.key: c for c in columns}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        from colorbench.errors import ColorbenchError

        raise ColorbenchError(f"unknown column {unknown[0]!r}; columns: {', '.join(by_key)}")
    return tuple(by_key[k] for k in dict.fromkeys(keys))


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
    finite = [float(v) for v in values if v is not None and not pd.isna(v) and math.isfinite(float(v))]
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
    versus_gray: str = ""  # BETTER, WORSE or "" (indistinguishable, or not compared)
    missing: str = ""  # what an empty cell says instead of "n/a" ("not computed": a note says why)


@dataclass
class Row:
    setting: str
    label: str
    change: str
    factor: str | None
    cells: dict[str, Cell]  # column key -> cell; empty when nothing completed
    n_seeds: int  # seeds with a completed run
    n_planned: int
    note: str | None  # "infeasible: reason", "diverged (2 of 3 seeds): ...", ...
    is_reference: bool = False
    precision: str | None = None  # the completed runs' resolved precisions: "fp32", "bf16, fp32"

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
    column_notes: dict[str, str] = field(default_factory=dict)  # column key -> "tied: A, B" etc.
    truth_colorfulness: float | None = None


def _note(group: pd.DataFrame, completed: int) -> str | None:
    """What happened to the seeds that did not complete, one phrase per status."""
    others = group[group["status"] != Status.COMPLETED.value]
    if others.empty:
        return None
    parts = []
    for status, runs in others.groupby("status", sort=False):
        reasons = [
            " ".join(str(r).split()) for r in dict.fromkeys(runs["reason"]) if isinstance(r, str) and r
        ]
        count = f" ({len(runs)} of {len(group)} seeds)" if len(group) > 1 else ""
        parts.append(f"{status}{count}" + (f": {reasons[0]}" if reasons else ""))
    if completed and any(Status.parse(status).pending for status in others["status"].unique()):
        parts.append("numbers are over the completed seeds")
    return "; ".join(parts)


def _values(done: pd.DataFrame, key: str) -> list:
    if key == "parameters":
        if "generator_parameters" not in done:
            return []
        # A property of the setting, not a measurement: one value (no spread) unless seeds differ.
        return sorted(set((done["generator_parameters"].dropna() / 1e6).tolist()))
    if key == "train_minutes":
        return (done["train_seconds"] / 60.0).tolist() if "train_seconds" in done else []
    return done[key].tolist() if key in done.columns else []


def _row(group: pd.DataFrame, columns: Sequence[Column]) -> Row:
    first = group.iloc[0]
    done = group[group["status"] == Status.COMPLETED.value]
    cells = {c.key: Cell(aggregate(_values(done, c.key))) for c in columns}
    for key in _not_computed(done):
        if key in cells and not cells[key].stat.n:
            cells[key].missing = "not computed"
    return Row(
        setting=str(first["setting"]),
        label=str(first["label"]),
        change=str(first.get("change") or ""),
        factor=first["factor"] if isinstance(first["factor"], str) else None,
        cells=cells if len(done) else {},
        n_seeds=len(done),
        n_planned=len(group),
        note=_note(group, len(done)),
        precision=", ".join(precisions(done)) or None,
    )


def _not_computed(runs: pd.DataFrame) -> set[str]:
    """Metrics that some of ``runs`` declared but could not compute (an unmet need)."""
    names: set[str] = set()
    for text in runs["not_computed"].dropna() if "not_computed" in runs.columns else ():
        try:
            names.update(json.loads(text))
        except (TypeError, ValueError):
            continue
    return names


def precisions(runs: pd.DataFrame) -> list[str]:
    """The distinct resolved precisions of ``runs``, sorted ("auto" where a run did not record one)."""
    if "precision" not in runs.columns:
        return []
    return sorted({str(p) for p in runs["precision"].dropna()})


def _mark_mixed_precision(rows: list[Row]) -> None:
    """Where a table's rows trained in different precisions, each row's note says which it used."""
    if len({r.precision for r in rows if r.precision}) <= 1:
        return
    for row in rows:
        if row.precision:
            row.note = "; ".join(p for p in (row.note, f"precision {row.precision}") if p)


def _gray_row(frame: pd.DataFrame, columns: Sequence[Column]) -> Row | None:
    """The grey baseline (ab = 0) on the same val split, from the runs that measured it."""
    cells = {}
    for column in columns:
        key = GRAY_PREFIX + column.key
        values = frame[key].tolist() if column.kind == METRIC and key in frame.columns else []
        stat = aggregate(values)
        # Every run sees the same val split, so there is no spread: show the value alone.
        cells[column.key] = Cell(Stat(stat.mean, None, None, 1) if stat.n else stat)
    if not any(c.stat.n for c in cells.values()):
        return None
    return Row("gray", "Gray (ab = 0)", "reference", None, cells, 0, 0, None, is_reference=True)


def decimals_for(values: Sequence[float | None], significant: int = 4) -> int:
    """Decimals that give the column's largest magnitude ``significant`` digits (0 to 6)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return 3
    return max(0, min(6, significant - 1 - math.floor(math.log10(max(finite)))))


def apply_analysis(table: Table, marks: Sequence, gray_effects: pd.DataFrame | None) -> None:
    """Bold what :mod:`colorbench.analysis` marks best; sign what beats or trails gray; note ties."""
    by_setting = {row.setting: row for row in table.rows}
    for mark in marks:
        if mark.generator != table.generator or mark.column not in table.decimals:
            continue
        names = [by_setting[s].label if s in by_setting else s for s in mark.tied]
        if mark.status == "best" and mark.setting in by_setting and by_setting[mark.setting].cells:
            by_setting[mark.setting].cells[mark.column].best = True
        elif mark.status == "tied":
            table.column_notes[mark.column] = "top settings tied within noise: " + ", ".join(names)
        elif mark.status == "none beats gray":
            table.column_notes[mark.column] = "no setting beats gray beyond noise"
        else:
            table.column_notes[mark.column] = f"nothing marked: {mark.reason}"
    if gray_effects is None or gray_effects.empty:
        return
    mine = gray_effects[gray_effects["generator"] == table.generator]
    for effect in mine.itertuples(index=False):
        row = by_setting.get(effect.setting)
        if row is None or not row.cells or effect.metric not in row.cells:
            continue
        reading = effect.versus_gray
        row.cells[effect.metric].versus_gray = (
            BETTER if reading.startswith("better") else (WORSE if reading.startswith("worse") else "")
        )


def build_table(runs: pd.DataFrame, generator: str) -> Table | None:
    """The :class:`Table` of one generator from load_runs' rows of one study (marks applied later)."""
    mine = runs[runs["generator"] == generator]
    if mine.empty:
        return None
    columns = table_columns()
    rows = [_row(g, columns) for _, g in mine.groupby("order", sort=True)]
    _mark_mixed_precision(rows)
    gray = _gray_row(mine, columns)
    every = [*rows, *([gray] if gray else [])]
    decimals = {c.key: decimals_for([r.cells[c.key].stat.mean for r in every if r.cells]) for c in columns}
    decimals["parameters"] = 2
    # The truth's colourfulness is the same for every setting: stated once, in the caption.
    reference = next((m.name for m in metric_measures() if m.truth_reference), None)
    truth = mine[reference].dropna() if reference in mine.columns else pd.Series([])
    return Table(
        generator, rows, gray, decimals, truth_colorfulness=float(truth.mean()) if len(truth) else None
    )


def seeds_phrase(tables: Sequence[Table]) -> str:
    """ "3 seeds per setting", "1-3 seeds per setting" or "1 seed per setting" over completed runs."""
    counts = sorted({r.n_seeds for t in tables for r in t.rows if r.n_seeds})
    if not counts:
        return "no completed runs"
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{span} seed{'s' if counts[-1] > 1 else ''} per setting"
