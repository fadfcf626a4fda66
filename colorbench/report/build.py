"""Everything a report shows, assembled once from the store; the formats only lay it out.

:func:`build_report` reads one study (:func:`colorbench.store.reader.load_runs`) and returns a
:class:`Report`: per generator its table, influence ranking, image grid and curves (PNG bytes),
plus the protocol block. :func:`colorbench.report.render.write_report` turns it into HTML, LaTeX,
Markdown or CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from colorbench.errors import ColorbenchError
from colorbench.report.curves import VAL_METRIC, training_curves
from colorbench.report.grids import MAX_IMAGES, image_grid
from colorbench.report.influence import Influence, influence
from colorbench.report.protocol import ProtocolItem, protocol, scale_phrase
from colorbench.report.tables import COLUMNS, INTERVALS, Column, Table, build_tables, seeds_phrase
from colorbench.store.reader import load_runs, load_study


@dataclass
class Figure:
    kind: str  # "grid" or "curves"
    generator: str
    data: bytes  # PNG
    caption: str
    src: str = ""  # set by the writer: a file name beside the report, or a data URI


@dataclass
class Section:
    generator: str
    description: str
    table: Table
    influence: Influence
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    study: dict[str, Any]
    runs: pd.DataFrame
    sections: list[Section]
    protocol: list[ProtocolItem]
    interval: str  # "std" or "ci95"
    interval_text: str
    seeds_text: str
    scale_text: str
    columns: tuple[Column, ...] = COLUMNS

    @property
    def title(self) -> str:
        return f"colorbench study {self.study.get('name')}"


def _description(study: dict[str, Any], runs: pd.DataFrame, generator: str) -> str:
    """As recorded (the study record at planning, else the runs' records): reports never ask a plugin."""
    recorded = (study.get("generators") or {}).get(generator) or {}
    if recorded.get("description"):
        return str(recorded["description"])
    if "plugin_description" in runs.columns:
        known = runs.loc[runs["generator"] == generator, "plugin_description"].dropna()
        if len(known):
            return str(known.iloc[0])
    return ""


def _figures(runs: pd.DataFrame, generator: str, with_figures: bool) -> list[Figure]:
    if not with_figures:
        return []
    figures = []
    grid = image_grid(runs)
    if grid is not None:
        figures.append(
            Figure(
                "grid",
                generator,
                grid,
                f"{generator}: up to {MAX_IMAGES} fixed val images; rows = settings in the table's order, "
                "columns per image = grey input, the setting's prediction (lowest completed seed), ground "
                "truth. Grey tiles: no prediction (see the table).",
            )
        )
    curves = training_curves(runs)
    if curves is not None:
        figures.append(
            Figure(
                "curves",
                generator,
                curves,
                f"{generator}: training losses (batch-weighted epoch means) and val {VAL_METRIC} per epoch, "
                "one row per setting, one line per seed.",
            )
        )
    return figures


def build_report(out_dir, study: str, *, interval: str = "std", with_figures: bool = True) -> Report:
    """Read one study from the store at ``out_dir`` and assemble its report (nothing is written)."""
    if interval not in INTERVALS:
        raise ColorbenchError(f"unknown interval {interval!r}; choose from {', '.join(INTERVALS)}")
    record = load_study(out_dir, study).to_dict()
    runs = load_runs(out_dir, [study])
    generators = list(dict.fromkeys([*(record.get("plugins") or []), *runs["generator"]]))
    tables = build_tables(runs, generators)
    seeds_text, scale_text = seeds_phrase(tables), scale_phrase(runs)
    sections = []
    for table in tables:
        mine = runs[runs["generator"] == table.generator]
        sections.append(
            Section(
                table.generator,
                _description(record, runs, table.generator),
                table,
                influence(runs, table.generator, scale=scale_text, seeds=seeds_text),
                _figures(mine, table.generator, with_figures),
            )
        )
    return Report(
        study=record,
        runs=runs,
        sections=sections,
        protocol=protocol(record, runs, interval),
        interval=interval,
        interval_text=INTERVALS[interval],
        seeds_text=seeds_text,
        scale_text=scale_text,
    )


def aggregated_frame(report: Report) -> pd.DataFrame:
    """The report's numbers, one row per (generator, setting) plus the gray row: the CSV format."""
    rows = []
    for section in report.sections:
        table_rows = [*section.table.rows, *([section.table.gray] if section.table.gray else [])]
        for order, row in enumerate(table_rows):
            out: dict[str, Any] = {
                "study": report.study.get("name"),
                "generator": section.generator,
                "order": order,
                "setting": row.setting,
                "label": row.label,
                "change": row.change,
                "factor": row.factor,
                "n_seeds": row.n_seeds,
                "n_planned": row.n_planned,
                "note": row.note,
            }
            for column, cell in zip(COLUMNS, row.cells or [None] * len(COLUMNS), strict=True):
                stat = cell.stat if cell else None
                out[f"{column.key}_mean"] = stat.mean if stat else None
                out[f"{column.key}_std"] = stat.std if stat else None
                out[f"{column.key}_ci95"] = stat.ci95 if stat else None
                out[f"{column.key}_best"] = bool(cell and cell.best)
            rows.append(out)
    return pd.DataFrame(rows)
