"""Read a results store (docs/results-store.md) into one table: a row per (study, setting, generator, seed).

Nothing here trains or imports a network. A study record names every run it planned; each row joins
that entry with its run directory's ``config.json`` and ``summary.json``. Whatever a run directory
lacks (not started, diverged, interrupted, unreadable) shows up as the row's ``status`` with empty
numbers, never as an exception: a store in the middle of a study must still report. Only a store
that is missing, or a study record that is not one, raises :class:`ColorbenchError` (one line).

Row labels and the row order of the study's tables are derived from each setting's factor and level
(:data:`FACTOR_ROWS`), not from positions: a lower learning rate than the baseline's is "Lower LR"
whatever its value, and a depth variant is named by its plugin (``n_down = 7``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from colorbench.errors import ColorbenchError

SUPPORTED_FORMAT_VERSION = 1
LOSS_KEYS = ("loss_D_fake", "loss_D_real", "loss_D", "loss_G_GAN", "loss_G_L1", "loss_G")
GRAY_PREFIX = "gray_"  # columns of the grey (ab = 0) baseline on the same val split
VERSION_PREFIX = "version_"
BASELINE_LABEL = "Default"
# Effective statuses a row can have besides the trainer's own (running, completed, diverged, ...).
NOT_STARTED, UNREADABLE = "not-started", "unreadable"


@dataclass(frozen=True)
class FactorRows:
    """How one factor's settings are named and ordered in the study's tables."""

    field: str  # the RunConfig field the factor changes
    lower: str = ""  # label of a level below the baseline's value (numeric factors)
    higher: str = ""
    level_labels: dict[str, str] = field(default_factory=dict)  # named levels, in the table's order
    from_plugin: bool = False  # levels are generator variants, labelled by the plugin


# The study's row order is this dict's order: Default, learning rate, batch size, init, depth.
FACTOR_ROWS: dict[str | None, FactorRows] = {
    None: FactorRows(field=""),
    "lr": FactorRows("lr", lower="Lower LR", higher="Higher LR"),
    "batch": FactorRows("batch_size", lower="Lower batch", higher="Higher batch"),
    "init": FactorRows(
        "init",
        level_labels={
            "xavier": "Glorot init",
            "kaiming": "He init",
            "orthogonal": "Orthogonal init",
            "normal": "Normal init",
        },
    ),
    "layers": FactorRows("variant", from_plugin=True),
}
FACTOR_TITLES = {"lr": "learning rate", "batch": "batch size", "init": "weight init", "layers": "depth"}


# --------------------------------------------------------------------------- store access
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _store_dir(out_dir: str | Path) -> Path:
    root = Path(out_dir)
    if not root.is_dir():
        raise ColorbenchError(f"no results store at {root} (write one with: colorbench run --out {root})")
    return root


def list_studies(out_dir: str | Path) -> list[str]:
    """Names of the studies recorded in ``out_dir/studies`` (sorted); [] when there are none."""
    studies = _store_dir(out_dir) / "studies"
    if not studies.is_dir():
        return []
    return sorted(p.stem for p in studies.glob("*.json"))


def load_study(out_dir: str | Path, name: str) -> dict[str, Any]:
    """The study record ``out_dir/studies/<name>.json``, checked for the fields a report needs."""
    path = _store_dir(out_dir) / "studies" / f"{name}.json"
    if not path.is_file():
        known = list_studies(out_dir)
        hint = f"studies: {', '.join(known)}" if known else "the store holds no study records"
        raise ColorbenchError(f"no study {name!r} in {out_dir} ({hint})")
    try:
        record = _read_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ColorbenchError(f"study record {path} is not readable JSON: {exc}") from None
    problem = _record_problem(record)
    if problem:
        raise ColorbenchError(f"study record {path} is malformed: {problem}")
    return record


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    version = record.get("format_version", SUPPORTED_FORMAT_VERSION)
    if not isinstance(version, int) or version > SUPPORTED_FORMAT_VERSION:
        return f"format_version {version!r} is newer than this colorbench reads ({SUPPORTED_FORMAT_VERSION})"
    for key in ("settings", "runs"):
        if not isinstance(record.get(key), list):
            return f"'{key}' must be a list"
    for i, setting in enumerate(record["settings"]):
        if not isinstance(setting, dict) or not isinstance(setting.get("id"), str):
            return f"settings[{i}] has no string 'id'"
    for i, run in enumerate(record["runs"]):
        if not isinstance(run, dict):
            return f"runs[{i}] is not an object"
        missing = [k for k in ("setting", "generator", "seed") if k not in run]
        if missing:
            return f"runs[{i}] lacks {', '.join(missing)}"
    return None


def _read_run(run_dir: Path) -> tuple[dict | None, dict | None, str | None]:
    """(config record, summary, problem) of one run directory; problem is one line or None."""
    config = summary = None
    problems = []
    for name in ("config.json", "summary.json"):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            data = _read_json(path)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        if name == "config.json":
            config = data
        else:
            summary = data
    return config, summary, "; ".join(problems) or None


# --------------------------------------------------------------------------- one row
def _numbers(mapping: Any, prefix: str = "") -> dict[str, float]:
    if not isinstance(mapping, dict):
        return {}
    out = {}
    for key, value in mapping.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix + key] = float(value)
    return out


def _status(entry: dict, run_dir: Path | None, summary: dict | None, problem: str | None) -> tuple[str, Any]:
    """The row's effective status and reason: the record's verdict, else the run's own summary."""
    record_status = entry.get("status") or "planned"
    if record_status != "planned":  # infeasible, not-applicable: never trained
        return record_status, entry.get("reason")
    if problem and summary is None:
        return UNREADABLE, problem
    if run_dir is None or summary is None:
        return NOT_STARTED, None
    status = str(summary.get("status") or UNREADABLE)
    if status == "diverged":
        return status, f"losses became NaN or infinite in epoch {summary.get('diverged_epoch', '?')}"
    if status == "failed":
        return status, summary.get("error")
    return status, None


def _run_row(study: dict, entry: dict, setting: dict, out_dir: Path) -> dict[str, Any]:
    run_id = entry.get("run_id")
    run_dir = out_dir / run_id if isinstance(run_id, str) and run_id else None
    config_record, summary, problem = (
        _read_run(run_dir) if run_dir and run_dir.is_dir() else (None, None, None)
    )
    status, reason = _status(entry, run_dir, summary, problem)
    level = setting.get("level")
    row: dict[str, Any] = {
        "study": study.get("name"),
        "generator": entry["generator"],
        "setting": entry["setting"],
        "factor": setting.get("factor"),
        "level": json.dumps(level) if isinstance(level, (dict, list)) else level,
        "changes": json.dumps(setting.get("changes") or {}, sort_keys=True),
        "seed": entry["seed"],
        "run_id": run_id,
        "status": status,
        "reason": reason,
        "run_dir": str(run_dir) if run_dir and run_dir.is_dir() else None,
    }
    config = (config_record or {}).get("config") or {}
    # Without a run directory (infeasible, not started) the setting's own changes are all we know.
    row.update({k: v for k, v in (setting.get("changes") or {}).items() if not isinstance(v, dict)})
    row.update({k: v for k, v in config.items() if k not in ("generator", "seed")})
    row["data_categories"] = ",".join(config.get("data_categories") or []) or None
    plugin = (config_record or {}).get("plugin") or {}
    row["variant_label"] = plugin.get("variant_label")
    row["plugin_description"] = plugin.get("description")
    data = (config_record or {}).get("data") or {}
    spec = data.get("spec") or {}
    row.update(
        data_source=spec.get("source"),
        data_root=spec.get("root"),
        data_key=data.get("key"),
        data_format=data.get("format_version"),
        n_train=data.get("train"),
        n_val=data.get("val"),
    )
    summary = summary or {}
    for key in ("epochs_completed", "diverged_epoch", "train_seconds", "images_per_s", "device_name"):
        row[key] = summary.get(key)
    for key in ("device", "precision"):
        row[key] = summary.get(key, row.get(key))
    row.update(_numbers(summary.get("final_train")))
    row.update(_numbers(summary.get("final_val")))
    row.update(_numbers(summary.get("baseline_gray"), GRAY_PREFIX))
    versions = summary.get("versions") if isinstance(summary.get("versions"), dict) else {}
    row.update({VERSION_PREFIX + k: str(v) for k, v in versions.items()})
    samples = summary.get("samples")
    row["samples"] = ",".join(samples) if isinstance(samples, list) and samples else None
    return row


# --------------------------------------------------------------------------- labels and order
def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _variant_label(generator: str, variant: str, known: dict[tuple[str, str], str]) -> str:
    if (generator, variant) in known:
        return known[(generator, variant)]
    try:  # the plugin names its variants; a store read where the plugin is gone keeps the raw name
        from colorbench.models import get_generator

        return get_generator(generator).label(variant)
    except Exception:
        return str(variant)


def _level_text(value: Any) -> str:
    number = _as_number(value)
    return f"{number:g}" if number is not None and not isinstance(value, str) else str(value)


def _label_and_rank(
    setting: dict, baseline: dict, variant_labels: dict, generator: str
) -> tuple[str, str, Any]:
    """(row label, change text, rank within the factor) of one setting for one generator."""
    factor = setting.get("factor")
    rows = FACTOR_ROWS.get(factor)
    changes = setting.get("changes") or {}
    if factor is None:
        return BASELINE_LABEL, "baseline", 0
    if rows is None:  # a grid cell or a factor this reader does not know: the record's own words
        text = ", ".join(f"{k} = {_level_text(v)}" for k, v in changes.items())
        return str(setting.get("label") or text or setting["id"]), text, 0
    level = changes.get(rows.field, setting.get("level"))
    change = f"{rows.field} = {_level_text(level)}"
    if rows.from_plugin:
        return _variant_label(generator, str(level), variant_labels), change, 0
    if rows.level_labels:
        names = list(rows.level_labels)
        rank = names.index(level) if level in names else len(names)
        return rows.level_labels.get(level, f"{level} init"), change, rank
    value, base = _as_number(level), _as_number(baseline.get(rows.field))
    if value is None or base is None:  # the baseline never started: fall back on the record's label
        return str(setting.get("label") or change), change, value if value is not None else 0
    return (rows.lower if value < base else rows.higher), change, value


def _add_labels(rows: list[dict[str, Any]], settings: dict[str, dict]) -> None:
    """Fill ``label``, ``change`` and ``order`` (the row's position in its generator's table)."""
    factors = list(FACTOR_ROWS)
    appearance = {sid: i for i, sid in enumerate(settings)}
    variant_labels = {
        (r["generator"], r["variant"]): r["variant_label"] for r in rows if r.get("variant_label")
    }
    for generator in dict.fromkeys(r["generator"] for r in rows):
        mine = [r for r in rows if r["generator"] == generator]
        baseline = next((r for r in mine if r["factor"] is None and r.get("run_dir")), {})
        keys = {}
        for row in mine:
            setting = settings.get(row["setting"], {"id": row["setting"], "factor": row["factor"]})
            label, change, rank = _label_and_rank(setting, baseline, variant_labels, generator)
            row["label"], row["change"] = label, change
            factor_pos = factors.index(row["factor"]) if row["factor"] in factors else len(factors)
            keys[row["setting"]] = (factor_pos, rank, appearance.get(row["setting"], len(appearance)))
        for position, setting_id in enumerate(sorted(keys, key=keys.get)):
            for row in mine:
                if row["setting"] == setting_id:
                    row["order"] = position


# --------------------------------------------------------------------------- public
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


def load_runs(out_dir: str | Path, studies: list[str] | None = None) -> pd.DataFrame:
    """One row per (study, setting, generator, seed), in each study's table order.

    Columns: identification (:data:`FIRST_COLUMNS`), the run's resolved configuration fields
    (``lr``, ``batch_size``, ``init``, ``variant``, ``epochs``, ``image_size``, ...), data (``data_source``,
    ``n_train``, ``n_val``), final-epoch training losses (``loss_G_GAN``, ``loss_G_L1``, ``loss_G``, and
    D's), final val losses and metrics (``val_loss_*``, ``l1_ab``, ``psnr``, ...), the grey baseline's
    metrics (``gray_l1_ab``, ...), timings, device, precision and ``version_*``. Numbers a run does
    not have are NaN. ``studies=None`` reads every study in the store.
    """
    root = _store_dir(out_dir)
    names = list_studies(root) if studies is None else list(studies)
    if not names:
        raise ColorbenchError(f"no study records in {root / 'studies'} (write one with: colorbench run)")
    rows: list[dict[str, Any]] = []
    for name in names:
        record = load_study(root, name)
        record.setdefault("name", name)
        settings = {s["id"]: s for s in record["settings"]}
        study_rows = [
            _run_row(record, entry, settings.get(entry["setting"], {"id": entry["setting"]}), root)
            for entry in record["runs"]
        ]
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
