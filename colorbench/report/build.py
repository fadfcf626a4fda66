"""Everything a report shows, assembled once from the store; the formats only lay it out.

:func:`build_report` reads one study (runs, their per-image metrics, the gray baseline of their
data split), runs :func:`colorbench.analysis.analyze` on them, and returns a :class:`Report`: per
generator its table (marks earned by the statistics), its effects against Default with intervals,
its verdict sentences and gray headline, its figures; the notes every format carries; the protocol.
Nothing here imports a plugin: labels and descriptions come from the store's records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from colorbench.analysis import Analysis, analyze, verdict_sentence
from colorbench.analysis.inputs import DEFAULT_METRIC, LOSS_COLUMNS
from colorbench.errors import ColorbenchError
from colorbench.measures import metric_measures, set_measures
from colorbench.report import notes as report_notes
from colorbench.report.effects import EffectsTable, build_effects
from colorbench.report.labels import generator_label, measure_label
from colorbench.report.per_image import per_image_lines
from colorbench.report.protocol import ProtocolItem, protocol, scale_phrase
from colorbench.report.realism import realism_lines, realism_rows
from colorbench.report.tables import (
    INTERVALS,
    Column,
    Table,
    apply_analysis,
    build_table,
    seeds_phrase,
    table_columns,
)
from colorbench.store.per_image import load_gray, load_per_image
from colorbench.store.reader import load_runs, load_study, store_root
from colorbench.store.status import Status

DEFAULT_VERDICT_METRIC = DEFAULT_METRIC


def val_metrics() -> tuple[str, ...]:
    """The per-image val metrics the tables show and the statistics compare (as declared)."""
    return tuple(m.name for m in metric_measures() if m.table and m.per_image)


def ranked_val_metrics() -> tuple[str, ...]:
    """Those a verdict can use: a verdict needs a "better"."""
    ranked = {m.name for m in metric_measures() if m.ranked}
    return tuple(m for m in val_metrics() if m in ranked)


N_BOOT = 2000


@dataclass
class Figure:
    kind: str  # "grid", "curves" or "forest"
    generator: str  # "" for a figure of every generator
    data: bytes  # PNG
    caption: str
    src: str = ""  # set by the writer: a file name beside the report, or a data URI
    credits: list[str] = field(default_factory=list)  # image ids and licences shown in a grid


@dataclass
class Section:
    generator: str
    description: str
    table: Table
    effects: EffectsTable | None
    verdicts: list[str]
    headline: str | None
    figures: list[Figure] = field(default_factory=list)
    realism: list[str] = field(default_factory=list)  # realism headline, then one line per setting
    realism_rows: list[dict[str, Any]] = field(default_factory=list)
    per_image: list[str] = field(default_factory=list)  # P(better), median, IQM: a lead, then per setting
    label: str = ""  # the generator's name in prose and headings (labels.generator_label); "": the key

    @property
    def name(self) -> str:
        return self.label or self.generator


@dataclass
class Report:
    study: dict[str, Any]
    runs: pd.DataFrame
    per_image: pd.DataFrame
    sections: list[Section]
    notes: list[str]
    protocol: list[ProtocolItem]
    interval: str  # "std" or "ci95"
    interval_text: str
    seeds_text: str
    scale_text: str
    columns: tuple[Column, ...] = field(default_factory=table_columns)
    figures: list[Figure] = field(default_factory=list)  # figures of the whole study (forest plot)
    analysis: Analysis | None = None
    analysis_seconds: float = 0.0

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


def _analysis_inputs(runs: pd.DataFrame, per_image: pd.DataFrame, gray: pd.DataFrame):
    """(per_image, gray, runs) in colorbench.analysis' schemas, one data split per generator."""
    metrics = [m for m in val_metrics() if m in per_image.columns]
    image_frame = per_image[
        ["generator", "setting", "label", "factor", "seed", "image_id", "data_key", *metrics]
    ]
    image_frame = image_frame.assign(factor=image_frame["factor"].where(image_frame["factor"].notna(), None))
    done = runs[runs["status"] == Status.COMPLETED.value]
    losses = [c for c in LOSS_COLUMNS if c in done.columns]
    run_frame = done[["generator", "setting", "label", "factor", "seed", *losses]].dropna(subset=losses)
    run_frame = run_frame.assign(factor=run_frame["factor"].where(run_frame["factor"].notna(), None))
    return image_frame, gray, run_frame, metrics


def _analyze(runs, per_image, gray, verdict_metric: str, notes: list[str]) -> Analysis | None:
    """The statistics of every generator, each against the gray baseline of its own data split."""
    if per_image.empty or gray.empty:
        return None
    image_frame, gray, run_frame, metrics = _analysis_inputs(runs, per_image, gray)
    if verdict_metric not in metrics:
        raise ColorbenchError(f"--metric {verdict_metric}: the runs have no per-image {verdict_metric}")
    results = []
    for generator, mine in image_frame.groupby("generator", sort=False):
        keys = list(dict.fromkeys(mine["data_key"]))
        if len(keys) > 1:
            notes.append(f"{generator}: its runs used different data splits, so they were not compared")
            continue
        if not (mine["setting"] == "default").any():
            notes.append(f"{generator}: Default has no completed run, so nothing is compared with it")
            continue
        gray_one = gray[gray["data_key"] == keys[0]]
        if gray_one.empty:
            continue
        losses = run_frame[run_frame["generator"] == generator]
        try:
            results.append(
                analyze(
                    mine.drop(columns=["data_key"]),
                    gray_one[["image_id", *metrics]],
                    losses if len(losses) else None,
                    metrics=metrics,
                    verdict_metric=verdict_metric,
                    n_boot=N_BOOT,
                )
            )
        except ValueError as exc:  # the statistics' own input checks, in one line
            notes.append(f"{generator}: no paired statistics ({exc})")
    if not results:
        return None
    first = results[0]
    return Analysis(
        effects=pd.concat([r.effects for r in results], ignore_index=True),
        gray_effects=pd.concat([r.gray_effects for r in results], ignore_index=True),
        gray_counts=pd.concat([r.gray_counts for r in results], ignore_index=True),
        run_effects=pd.concat([r.run_effects for r in results], ignore_index=True),
        best_marks=tuple(m for r in results for m in r.best_marks),
        metric_verdicts=tuple(v for r in results for v in r.metric_verdicts),
        loss_verdicts=tuple(v for r in results for v in r.loss_verdicts),
        n_boot=first.n_boot,
        seed=first.seed,
        improvement=pd.concat([r.improvement for r in results], ignore_index=True),
        aggregates=pd.concat([r.aggregates for r in results], ignore_index=True),
        profiles=pd.concat([r.profiles for r in results], ignore_index=True),
    )


def _headline(analysis: Analysis, generator: str, metric: str, scale: str, shown: str) -> str | None:
    """The gray headline, with the generator's name ``shown`` and the metrics' declared labels."""
    counts = analysis.gray_counts[analysis.gray_counts["generator"] == generator]
    if counts.empty:
        return None
    by_metric = {r.metric: r for r in counts.itertuples(index=False)}
    main = by_metric.get(metric)
    if main is None:
        return None
    others = ", ".join(f"{measure_label(m)} {r.n_better}" for m, r in by_metric.items() if m != metric)
    return (
        f"{main.n_better} of {main.n_settings} {shown} settings beat gray on {measure_label(metric)} "
        f"at this scale ({scale}); on the other val metrics: {others} (of {main.n_settings}). "
        "Beating gray is tested with Holm's correction over each metric's settings (family-wise 5%)."
    )


def _verdicts(analysis: Analysis, generator: str, shown: str) -> list[str]:
    """The claim's verdict sentences, naming the generator ``shown`` and the column by its label."""
    out = []
    for verdicts in (analysis.loss_verdicts, analysis.metric_verdicts):
        for verdict in verdicts:
            if verdict.generator == generator and verdict.influences:
                labelled = replace(verdict, generator=shown, column=measure_label(verdict.column))
                out.append(verdict_sentence(labelled))
    return out


def build_report(
    out_dir,
    study: str,
    *,
    interval: str = "std",
    with_figures: bool = True,
    verdict_metric: str = DEFAULT_VERDICT_METRIC,
    images: list[str] | None = None,
) -> Report:
    """Read one study from the store at ``out_dir`` and assemble its report (nothing is written)."""
    if interval not in INTERVALS:
        raise ColorbenchError(f"unknown interval {interval!r}; choose from {', '.join(INTERVALS)}")
    set_names = [m.name for m in set_measures() if m.ranked]
    if verdict_metric not in (*ranked_val_metrics(), *set_names):
        choices = ", ".join((*ranked_val_metrics(), *set_names))
        raise ColorbenchError(f"--metric {verdict_metric!r}: choose one of {choices}")
    # A per-set metric's verdict is the realism headline; the paired per-image analysis keeps its default.
    realism_metric = verdict_metric
    verdict_metric = DEFAULT_VERDICT_METRIC if verdict_metric in set_names else verdict_metric
    root = store_root(out_dir)
    record = load_study(root, study).to_dict()
    runs = load_runs(root, [study])
    per_image, problems = load_per_image(runs)
    gray, gray_problems = load_gray(root, per_image["data_key"] if "data_key" in per_image else [])
    notes = report_notes.store_notes(problems + gray_problems)
    started = time.perf_counter()
    analysis = _analyze(runs, per_image, gray, verdict_metric, notes)
    seconds = time.perf_counter() - started
    generators = list(dict.fromkeys([*(record.get("plugins") or []), *runs["generator"]]))
    tables = [t for t in (build_table(runs, g) for g in generators) if t is not None]
    seeds_text, scale_text = seeds_phrase(tables), scale_phrase(runs)
    sections = []
    for table in tables:
        generator = table.generator
        effects = None
        if analysis is not None:
            apply_analysis(table, analysis.best_marks, analysis.gray_effects)
            effects = build_effects(analysis, generator, table)
        labels = {row.setting: row.label for row in table.rows}
        shown = generator_label(record, runs, generator)
        headline = None
        if analysis is not None:
            headline = _headline(analysis, generator, verdict_metric, scale_text, shown)
        realism = realism_rows(root, str(record.get("name") or study), runs, generator, labels)
        sections.append(
            Section(
                generator,
                _description(record, runs, generator),
                table,
                effects,
                _verdicts(analysis, generator, shown) if analysis is not None else [],
                headline,
                realism=realism_lines(realism, runs, generator, realism_metric),
                realism_rows=realism,
                per_image=per_image_lines(analysis, generator, verdict_metric, labels),
                label=shown,
            )
        )
    notes = report_notes.study_notes(runs, record, tables, scale_text, seeds_text, analysis) + notes
    report = Report(
        study=record,
        runs=runs,
        per_image=per_image,
        sections=sections,
        notes=notes,
        protocol=protocol(record, runs, interval),
        interval=interval,
        interval_text=INTERVALS[interval],
        seeds_text=seeds_text,
        scale_text=scale_text,
        analysis=analysis,
        analysis_seconds=seconds,
    )
    if with_figures:
        from colorbench.report.figures import add_figures

        add_figures(report, root, verdict_metric, images or [])
    return report


# Every number of the statistics beside a cell, for the CSV: (frame attribute, filter, prefix, columns).
_EFFECT_EXTRA = (
    "df",
    "basis",
    "p",
    "p_adjusted",
    "significant",
    "low_adjusted",
    "high_adjusted",
    "adjustment",
)
_GRAY_EXTRA = ("estimate", "low", "high", "df", "basis", "p", "p_adjusted", "low_adjusted", "high_adjusted")


def _statistics(analysis: Analysis | None, generator: str, setting: str, metric: str) -> dict[str, Any]:
    """Uncorrected and adjusted intervals with df and basis, P(improvement), median and IQM of a cell.

    ``_effect_*``: against Default (BH over the generator's effects); ``_gray_*``: against gray
    (Holm over the metric's settings); ``_poi_default`` / ``_poi_gray``: P(better on a random image
    and seed); ``_median`` / ``_iqm``: robust aggregates (percentile bootstrap).
    """
    out: dict[str, Any] = {}
    if analysis is None:
        return out

    def pick(frame: pd.DataFrame, **where) -> Any:
        if frame is None or frame.empty:
            return None
        mask = (frame["generator"] == generator) & (frame["setting"] == setting) & (frame["metric"] == metric)
        for key, value in where.items():
            mask &= frame[key] == value
        found = frame[mask]
        return found.iloc[0] if len(found) else None

    effects = pd.concat([f for f in (analysis.effects, analysis.run_effects) if len(f)] or [pd.DataFrame()])
    effect = pick(effects if len(effects) else None)
    for name in _EFFECT_EXTRA:
        out[f"{metric}_effect_{name}"] = None if effect is None else effect[name]
    gray = pick(analysis.gray_effects)
    for name in _GRAY_EXTRA:
        out[f"{metric}_gray_{name}"] = None if gray is None else gray[name]
    for reference in ("default", "gray"):
        poi = pick(analysis.improvement, reference=reference)
        for name, key in (("", "probability"), ("_low", "low"), ("_high", "high"), ("_df", "df")):
            out[f"{metric}_poi_{reference}{name}"] = None if poi is None else poi[key]
    for statistic in ("median", "iqm"):
        found = pick(analysis.aggregates, statistic=statistic)
        for name, key in (("", "estimate"), ("_low", "low"), ("_high", "high")):
            out[f"{metric}_{statistic}{name}"] = None if found is None else found[key]
    return out


def _verdict_numbers(analysis: Analysis | None, sentence: str) -> dict[str, Any]:
    """The verdict behind a sentence as numbers: P(order), its chance level, power, weakest pair."""
    if analysis is None:
        return {}
    for verdict in (*analysis.loss_verdicts, *analysis.metric_verdicts):
        if verdict.influences and verdict_sentence(verdict) == sentence:
            weakest = verdict.weakest_pair
            return {
                "verdict": verdict.verdict,
                "verdict_column": verdict.column,
                "p_order": verdict.p_order,
                "p_order_chance": verdict.chance,
                "power_upper_bound": verdict.power,
                "weakest_pair": f"{weakest.more} > {weakest.less}" if weakest else None,
                "weakest_pair_probability": weakest.probability if weakest else None,
                "contradiction_threshold": verdict.threshold,
            }
    return {}


def _realism_numbers(section: Section, setting: str) -> dict[str, Any]:
    """The fooling rate (Wilson interval, n answers, n judges) and each per-set metric's interval."""
    found = next((r for r in section.realism_rows if r["setting"] == setting), None)
    if found is None:
        return {}
    out = {k: v for k, v in found.items() if k.startswith("fooling_")}
    for measure in set_measures():
        cell = found.get(measure.name)
        out[f"{measure.name}_low"] = cell.low if cell else None
        out[f"{measure.name}_high"] = cell.high if cell else None
        out[f"{measure.name}_n"] = cell.n if cell else None
        out[f"{measure.name}_sd"] = cell.std if cell else None  # its own spread (KID: over subsets)
    return out


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
                "precision": row.precision,  # as the completed runs resolved it
                "note": row.note,
            }
            for column in report.columns:
                cell = row.cells.get(column.key)
                stat = cell.stat if cell else None
                out[f"{column.key}_mean"] = stat.mean if stat else None
                out[f"{column.key}_std"] = stat.std if stat else None
                out[f"{column.key}_ci95"] = stat.ci95 if stat else None
                out[f"{column.key}_best"] = bool(cell and cell.best)
                out[f"{column.key}_vs_gray"] = cell.versus_gray if cell else ""
                effect = section.effects.cell(row.setting, column.key) if section.effects else None
                out[f"{column.key}_effect"] = effect.estimate if effect else None
                out[f"{column.key}_effect_low"] = effect.low if effect else None
                out[f"{column.key}_effect_high"] = effect.high if effect else None
                out.update(_statistics(report.analysis, section.generator, row.setting, column.key))
            out.update(_realism_numbers(section, row.setting))
            rows.append(out)
    frame = pd.DataFrame(rows)
    # The notes and verdicts every format carries, as rows of their own kind.
    extra = [
        {"study": report.study.get("name"), "generator": "", "setting": "note", "note": n}
        for n in report.notes
    ]
    for section in report.sections:
        for sentence in section.realism:
            row = {"study": report.study.get("name"), "generator": section.generator, "setting": "realism"}
            extra.append({**row, "note": sentence})
        for sentence in [*section.verdicts, *([section.headline] if section.headline else [])]:
            row = {"study": report.study.get("name"), "generator": section.generator, "setting": "verdict"}
            extra.append({**row, "note": sentence, **_verdict_numbers(report.analysis, sentence)})
    # Last, what each measure column is, from its declaration: label, unit and which way is better.
    for column in report.columns:
        if column.measure is not None:
            m = column.measure
            extra.append(
                {
                    "study": report.study.get("name"),
                    "generator": "",
                    "setting": "measure",
                    "label": m.label,
                    "note": f"{m.name}: {m.label} [{m.unit}], {m.reading}",
                }
            )
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True) if extra else frame
