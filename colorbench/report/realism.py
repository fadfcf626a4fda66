"""Realism per setting: the judges' fooling rate and the per-set metrics (C2ST, ...), each with its
own interval and n, and a headline that names the most realistic setting only beyond noise.

The fooling rate comes from the store's judgments database (:func:`colorbench.judge.rates.fooling_rates`);
a store no one has judged says so, never a number. A per-set metric's interval is the one its
computation gives per run (the C2ST's bootstrap over photos); over seeds, the line shows the mean
and the span of the per-seed intervals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from colorbench.measures import LOWER, Measure, set_measures
from colorbench.store.reader import GRAY_PREFIX
from colorbench.store.status import Status

NOT_JUDGED = "no one has judged this study yet (colorbench judge STORE)"


@dataclass(frozen=True)
class SetCell:
    mean: float
    low: float | None  # the lowest per-seed interval bound, and the highest
    high: float | None
    n: int | None  # items per run (photos)
    n_seeds: int
    std: float | None = None  # the metric's own spread per run (KID: sd over subsets), mean over seeds


def _set_cells(mine: pd.DataFrame, name: str) -> SetCell | None:
    values = []
    for text in mine.get("set_metrics", pd.Series(dtype=object)).dropna():
        value = json.loads(text).get(name)
        if value is not None:
            values.append(value)
    if not values:
        return None
    lows = [v["low"] for v in values if v.get("low") is not None]
    highs = [v["high"] for v in values if v.get("high") is not None]
    mean = sum(v["value"] for v in values) / len(values)
    low, high = (min(lows) if lows else None), (max(highs) if highs else None)
    stds = [v["std"] for v in values if v.get("std") is not None]
    std = sum(stds) / len(stds) if stds else None
    return SetCell(mean, low, high, values[0].get("n"), len(values), std)


def _number(value: float) -> str:
    # Two decimals for shares and distances of order 1; significant digits for small ones (KID ~1e-3).
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"


def _format_set(measure: Measure, cell: SetCell) -> str:
    parts = []
    if cell.low is not None:
        # The interval's name comes from the declaration: its measured coverage, never a bare "95%".
        span = f"{measure.interval} {_number(cell.low)}-{_number(cell.high)}"
        parts.append(span if cell.n_seeds == 1 else f"{span}, span of {cell.n_seeds} seeds' intervals")
    if cell.std is not None:
        parts.append("± its sd" if cell.n_seeds == 1 else f"± its sd, mean of {cell.n_seeds} seeds'")
    parts.append(f"n = {cell.n} photos")
    value = f"{_number(cell.mean)} ± {_number(cell.std)}" if cell.std is not None else _number(cell.mean)
    return f"{measure.label} {value} ({'; '.join(parts)})"


def realism_rows(root: Path, study: str, runs: pd.DataFrame, generator: str, labels: dict[str, str]):
    """[{setting, label, fooling_*, <metric>_*}] per setting of ``generator``, in table order."""
    from colorbench.judge.rates import fooling_rates

    rates = {(r.generator, r.setting): r for r in fooling_rates(root, study, by="setting")}
    mine = runs[(runs["generator"] == generator) & (runs.get("status") == Status.COMPLETED.value)]
    rows = []
    for setting, label in labels.items():
        runs_of = mine[mine["setting"] == setting]
        row: dict = {"setting": setting, "label": label}
        rate = rates.get((generator, setting))
        row.update(
            fooling_rate=rate.rate if rate else None,
            fooling_low=rate.low if rate else None,
            fooling_high=rate.high if rate else None,
            fooling_n_answers=rate.n_answers if rate else 0,
            fooling_n_judges=rate.n_judges if rate else 0,
        )
        for measure in set_measures():
            cell = _set_cells(runs_of, measure.name)
            row[measure.name] = cell
        rows.append(row)
    return rows


def realism_lines(rows: list[dict], runs: pd.DataFrame, generator: str, verdict: str) -> list[str]:
    """The realism headline, then one line per setting (every report format shows these)."""
    measures = {m.name: m for m in set_measures()}
    # The verdict's metric when it is a per-set one, else the first ranked per-set metric declared.
    default = next((m for m in measures.values() if m.ranked), None)
    lines = [_headline(rows, runs, generator, measures.get(verdict) or default)]
    for row in rows:
        if row["fooling_n_answers"]:
            fooling = (
                f"fooling rate {row['fooling_rate']:.0%} (95% Wilson {row['fooling_low']:.0%}-"
                f"{row['fooling_high']:.0%}, n = {row['fooling_n_answers']} answers, "
                f"{row['fooling_n_judges']} judge{'s' if row['fooling_n_judges'] != 1 else ''})"
            )
        else:
            fooling = "fooling rate: not judged"
        parts = [fooling] + [_format_set(m, row[n]) for n, m in measures.items() if row.get(n)]
        lines.append(f"{row['label']}: " + "; ".join(parts))
    n = sum(r["fooling_n_answers"] for r in rows)
    if n:
        from colorbench.judge.rates import wilson_interval

        fooled = sum(
            round(r["fooling_rate"] * r["fooling_n_answers"]) for r in rows if r["fooling_n_answers"]
        )
        low, high = wilson_interval(fooled, n)
        lines.append(
            f"Fooling rate over all settings: {fooled / n:.0%} (95% Wilson {low:.0%}-{high:.0%}, "
            f"n = {n} answers): the share of test trials in which the colorized photo was chosen as real."
        )
    else:
        lines.append(f"Fooling rate: {NOT_JUDGED}.")
    return lines


def _headline(rows, runs, generator, measure) -> str:
    if measure is None:
        return "Realism: no per-set metric is declared."
    cells = [(r["label"], r[measure.name]) for r in rows if r.get(measure.name)]
    gray = runs.loc[runs["generator"] == generator, GRAY_PREFIX + measure.name].dropna() if (
        GRAY_PREFIX + measure.name in runs.columns) else pd.Series(dtype=float)  # fmt: skip
    gray_text = f"; gray: {gray.iloc[0]:.2f}" if len(gray) else ""
    if len(cells) < 2 or any(c.low is None for _, c in cells):
        return f"Realism ({measure.label}): too few settings with intervals to rank{gray_text}."
    sign = 1 if measure.direction == LOWER else -1
    cells.sort(key=lambda lc: sign * lc[1].mean)
    (best, cell), others = cells[0], cells[1:]
    # Beyond noise: the best setting's interval clears every other setting's interval.
    clear = all((cell.high < c.low) if sign == 1 else (cell.low > c.high) for _, c in others)
    verdict = (
        f"{best} is the most realistic setting beyond noise"
        if clear
        else "no setting is more realistic than another beyond noise"
    )
    return (
        f"Realism ({measure.label}, {measure.reading}, per-run {measure.interval} intervals): "
        f"{verdict}{gray_text}."
    )
