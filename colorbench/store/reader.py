"""Read a results store into one table: a row per (study, setting, generator, seed).

Nothing here trains, imports a network or asks a plugin anything: labels, descriptions and the row
order come from the study record (written at planning) and the runs' own records. Whatever a run
directory lacks (not started, diverged, interrupted, damaged records) shows up as the row's
``status`` and ``reason`` with empty numbers, never as an exception: a store in the middle of a
study must still report. Only a store that is missing, or a study record that is not one, raises
:class:`ColorbenchError` (one line). Study records of format 1 (no labels per generator) get their
labels from the factor table (``colorbench.factors``), as format 2 records were given theirs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from colorbench.errors import ColorbenchError
from colorbench.factors import BASELINE_LABEL, FACTORS, level_label, level_rank, level_text, row_order_key
from colorbench.store.records import StudyRecord, UnreadableRecordError
from colorbench.store.rundir import RunDirectory
from colorbench.store.status import Status
from colorbench.store.store import Store
from colorbench.store.studies import STUDIES

GRAY_PREFIX = "gray_"  # columns of the grey (ab = 0) baseline on the same val split
VERSION_PREFIX = "version_"
FIRST_COLUMNS = [
    "study",
    "generator",
    "order",
    "setting",
    "label",
    "change",
    "factor",
    "level",
    "seed",
    "status",
    "reason",
    "run_id",
]


def store_root(out_dir: str | Path) -> Path:
    return open_store(out_dir).root


def open_store(out_dir: str | Path) -> Store:
    """The store at ``out_dir``; one line if there is none."""
    store = Store(out_dir)
    if not store.exists():
        raise ColorbenchError(
            f"no results store at {store.root} (write one with: colorbench run --out {store.root})"
        )
    return store


def no_studies_message(out_dir: str | Path) -> str:
    return f"no study records in {Path(out_dir) / STUDIES} (write one with: colorbench run)"


# --------------------------------------------------------------------------- one row
def _numbers(mapping: Any, prefix: str = "") -> dict[str, float]:
    if not isinstance(mapping, dict):
        return {}
    return {
        prefix + k: float(v)
        for k, v in mapping.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _run_row(study: StudyRecord, entry: dict, setting: dict, store: Store) -> dict[str, Any]:
    run_id = entry.get("run_id")
    bad_id = None
    try:
        run = store.run(run_id) if isinstance(run_id, str) and run_id else None
    except ColorbenchError as exc:  # a record naming a path, not a run: reported, never followed
        run, bad_id = None, f"study record of {study.name}: {exc}"
    record_status = Status.parse(entry.get("status") or Status.PLANNED.value)
    level = setting.get("level")
    row: dict[str, Any] = {
        "study": study.name,
        "generator": entry["generator"],
        "setting": entry["setting"],
        "factor": setting.get("factor"),
        "level": json.dumps(level) if isinstance(level, (dict, list)) else level,
        "changes": json.dumps(setting.get("changes") or {}, sort_keys=True),
        "seed": entry["seed"],
        "run_id": run_id,
        "run_dir": str(run.path) if run is not None and run.exists() else None,
    }
    # Without a run directory (infeasible, not started) the setting's own changes are all we know.
    row.update({k: v for k, v in (setting.get("changes") or {}).items() if not isinstance(v, dict)})
    if record_status.never_trained:
        row.update(status=record_status.value, reason=entry.get("reason"))
        return row
    if bad_id is not None:
        row.update(status=Status.UNREADABLE.value, reason=bad_id)
        return row
    if run is None:
        row.update(status=Status.NOT_STARTED.value, reason=None)
        return row
    status, detail = run.state()
    row.update(status=status.value, reason=detail)
    problems = [detail] if status is Status.UNREADABLE else []
    try:
        record = run.read_record() if run.has_record() else None
    except UnreadableRecordError as exc:
        record, problems = None, [*problems, str(exc)]
    if record is not None:
        row.update(record.table_fields())
        plugin = record.plugin
        row["variant_label"] = plugin.get("variant_label")
        row["plugin_description"] = plugin.get("description")
        row["plugin_display_name"] = plugin.get("display_name")
        row["plugin_fingerprint"] = plugin.get("fingerprint")
        data = record.data
        spec = data.get("spec") or {}
        row.update(
            data_source=spec.get("source"),
            data_root=spec.get("root"),
            data_key=data.get("key"),
            data_format=data.get("format_version"),
            n_train=data.get("train"),
            n_val=data.get("val"),
        )
    if problems:
        row.update(status=Status.UNREADABLE.value, reason="; ".join(dict.fromkeys(problems)))
    if status is Status.UNREADABLE:
        return row
    summary = run.read_summary() if status is not Status.NOT_STARTED else None
    if summary is None:
        return row
    for key in (
        "epochs_completed",
        "diverged_epoch",
        "train_seconds",
        "images_per_s",
        "device_name",
        "generator_parameters",
    ):
        row[key] = getattr(summary, key)
    # The spec's precision is what was asked for (auto, say); the summary's what it resolved to.
    row["precision_requested"] = row.get("precision")
    for key in ("device", "precision"):
        row[key] = getattr(summary, key) or row.get(key)
    row.update(_numbers(summary.final_train))
    row.update(_numbers(summary.final_val))
    # Declared metrics this run could not compute (an unmet need), and why: {name: reason} as JSON.
    not_computed = summary.extra.get("not_computed")
    if isinstance(not_computed, dict) and not_computed:
        row["not_computed"] = json.dumps({str(k): str(v) for k, v in not_computed.items()})
    # Per-set metrics with their own interval and n: {name: SetValue fields} as JSON.
    set_metrics = summary.extra.get("set_metrics")
    if isinstance(set_metrics, dict) and set_metrics:
        row["set_metrics"] = json.dumps(set_metrics)
    row.update(_numbers(summary.baseline_gray, GRAY_PREFIX))
    row.update({VERSION_PREFIX + k: v for k, v in summary.versions.items()})
    row["samples"] = ",".join(summary.samples) if summary.samples else None
    return row


# --------------------------------------------------------------------------- labels and order
def _legacy_settings(study: StudyRecord, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Format 1: one settings list for all generators, labels from the factor table (as format 2)."""
    out = []
    for generator in dict.fromkeys(r["generator"] for r in rows):
        mine = [r for r in rows if r["generator"] == generator]
        variant_labels = {r.get("variant"): r.get("variant_label") for r in mine if r.get("variant_label")}
        baseline = next((r for r in mine if r["factor"] is None and r.get("run_dir")), {})
        used = {r["setting"] for r in mine}
        entries = []
        for appearance, setting in enumerate(s for s in study.settings if s["id"] in used):
            factor = FACTORS.get(setting.get("factor"))
            level = (setting.get("changes") or {}).get(factor.field, setting.get("level")) if factor else None
            entries.append((appearance, setting, factor, level, None))
        for appearance, setting, factor, level, _side in entries:
            if setting.get("factor") is None:
                label, rank = BASELINE_LABEL, ()
            elif factor is None:  # a grid cell or a factor this reader does not know: the record's words
                label, rank = str(setting.get("label") or setting["id"]), ()
            elif factor.from_plugin_depth:  # the run's recorded label, else the plan's; record order
                label, rank = variant_labels.get(level) or str(setting.get("label") or level), ()
            elif baseline.get(factor.field) is None and not factor.level_labels:
                label, rank = str(setting.get("label") or setting["id"]), level_rank(factor, level)
            else:
                label = level_label(factor, level, baseline.get(factor.field))
                rank = level_rank(factor, level)
            key = row_order_key(setting.get("factor"), rank, appearance)
            out.append({**setting, "generator": generator, "label": label, "_key": key})
    out.sort(key=lambda s: (s["generator"], s["_key"]))
    return [{k: v for k, v in s.items() if k != "_key"} for s in out]


def _change_text(setting: dict) -> str:
    changes = setting.get("changes") or {}
    if not changes:
        return "baseline"
    return ", ".join(f"{k} = {level_text(v)}" for k, v in changes.items())


def _add_labels(rows: list[dict[str, Any]], settings: list[dict[str, Any]]) -> None:
    """Fill ``label``, ``change`` and ``order`` (the row's position in its generator's table)."""
    position: dict[tuple[str, str], int] = {}
    labels: dict[tuple[str, str], dict] = {}
    for setting in settings:
        key = (setting["generator"], setting["id"])
        if key not in position:
            position[key] = sum(1 for g, _ in position if g == setting["generator"])
            labels[key] = setting
    for row in rows:
        key = (row["generator"], row["setting"])
        setting = labels.get(key, {"id": row["setting"], "label": row["setting"]})
        row["label"] = str(setting.get("label") or row["setting"])
        row["change"] = _change_text(setting)
        row["order"] = position.get(key, len(position))


# --------------------------------------------------------------------------- public
def _study_settings(study: StudyRecord) -> dict[str, dict]:
    return {s["id"]: s for s in study.settings}


def load_runs(
    out_dir: str | Path,
    studies: list[str] | None = None,
    *,
    include_stale: bool = False,
    problems: list[str] | None = None,
) -> pd.DataFrame:
    """One row per (study, setting, generator, seed), in each study's table order.

    Columns: identification (:data:`FIRST_COLUMNS`), the run's settings (``lr``, ``batch_size``,
    ``init``, ``variant``, ``epochs``, ``image_size``, ``data_*`` ...), data counts (``n_train``,
    ``n_val``), final-epoch training losses (``loss_G_GAN``, ``loss_G_L1``, ``loss_G``, and D's),
    final val losses and metrics (``val_loss_*``, ``l1_ab``, ``psnr``, ...), the grey baseline's
    metrics (``gray_l1_ab``, ...), timings, device, precision and ``version_*``. Numbers a run does
    not have are NaN. ``status`` holds :class:`Status` values as plain strings (compare with
    ``Status.X.value``), so CSV, Parquet and groupby see what the records hold.
    ``studies=None`` reads every study in the store. ``include_stale``: also the runs a plugin
    change superseded (status ``stale``), next to their replacements.
    ``problems``: when given and every study is read, a malformed study record is added to it as
    one line and skipped (the other studies go on); else it raises (one line).
    """
    store = open_store(out_dir)
    names = store.studies() if studies is None else list(studies)
    if not names:
        raise ColorbenchError(no_studies_message(store.root))
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            study = store.study(name)
        except ColorbenchError as exc:
            if problems is None or studies is not None or len(names) == 1:
                raise
            problems.append(str(exc))
            continue
        by_id = _study_settings(study)
        study_rows = []
        for entry in study.runs:
            setting = next(
                (
                    s
                    for s in study.settings
                    if s["id"] == entry["setting"] and s.get("generator") == entry["generator"]
                ),
                by_id.get(entry["setting"], {"id": entry["setting"]}),
            )
            study_rows.append(_run_row(study, entry, setting, store))
            if include_stale:
                for old in entry.get("superseded") or []:
                    stale = _run_row(study, {**entry, "run_id": old}, setting, store)
                    if stale["status"] == Status.COMPLETED.value:
                        stale.update(status=Status.STALE.value, reason=f"superseded by {entry.get('run_id')}")
                    study_rows.append(stale)
        settings = (
            study.settings
            if study.format_version >= 2 and all("generator" in s for s in study.settings)
            else _legacy_settings(study, study_rows)
        )
        _add_labels(study_rows, settings)
        rows.extend(study_rows)
    if not rows:
        return pd.DataFrame(columns=FIRST_COLUMNS)
    frame = pd.DataFrame(rows)
    # A column of ints with gaps (a run without config.json) would turn float; keep it integer.
    for column in frame.columns:
        present = [row[column] for row in rows if row.get(column) is not None]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            frame[column] = frame[column].astype("Int64")
    if frame["seed"].dtype != "Int64":
        frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame = frame.sort_values(["study", "generator", "order", "seed"], kind="stable", ignore_index=True)
    rest = [c for c in frame.columns if c not in FIRST_COLUMNS]
    return frame[[c for c in FIRST_COLUMNS if c in frame.columns] + rest]


def load_study(out_dir: str | Path, name: str) -> StudyRecord:
    """The study record ``name`` of the store at ``out_dir`` (one-line errors)."""
    return open_store(out_dir).study(name)


def study_names(out_dir: str | Path) -> list[str]:
    return open_store(out_dir).studies()


def store_warnings(frame: pd.DataFrame) -> list[str]:
    """One line per damaged thing behind ``load_runs``' rows, for the commands to print.

    Unreadable records (their row says ``unreadable``), torn or corrupt lines of metrics.jsonl
    (ignored by the curves) and completed runs without their samples/ folder (left out of the
    image grids): none stops a report, but none should pass without a word.
    """
    lines: list[str] = []
    if frame.empty:
        return lines
    for row in frame.to_dict("records"):
        if row.get("status") == Status.UNREADABLE.value and row.get("reason"):
            lines.append(str(row["reason"]))
        run_dir = row.get("run_dir")
        if not isinstance(run_dir, str) or not run_dir:
            continue
        run = RunDirectory(run_dir)
        _, bad = run.read_history()
        if bad:
            lines.append(
                f"warning: {run.history_path}: {bad} unreadable line(s) ignored "
                "(the curves leave those epochs out)"
            )
        if (
            row.get("status") == Status.COMPLETED.value
            and row.get("samples")
            and not run.samples_dir.is_dir()
        ):
            lines.append(f"warning: {run.samples_dir} is missing (this run is left out of the image grids)")
    return list(dict.fromkeys(lines))
