"""The protocol block: what the numbers were measured on and how, so a reader knows what they mean.

Every entry is read from the store (the study record, each run's records) and
from the metrics' declarations (:mod:`colorbench.measures`); where runs differ (two devices,
say) every value is listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from colorbench.measures import metric_measures
from colorbench.report.notes import scale_note
from colorbench.report.tables import INTERVALS, LOSS_NOTE
from colorbench.store import Status
from colorbench.store.reader import VERSION_PREFIX

# Where each switch between the study as it ran and colorbench's protocol is explained (the study's
# choice, ours, why, the option): the protocol block points readers there.
SWITCHES_DOC = "docs/paper-faithful.md"
# The switches a run records (RunSpec fields, flattened to these columns), in reading order. Each is
# listed per generator where the generators differ (the paper-faithful preset initialises the U-Net
# but not a generator passed in, as the tutorial did).
SWITCHES = (
    ("precision requested", "precision_requested"),
    ("resize", "data_resize"),
    ("grayscale images", "data_keep_gray"),
    ("training order", "train_order"),
    ("init applied to", "init_targets"),
    ("val GAN losses with D in mode", "val_discriminator"),
    ("generator options", "generator_options"),
)
SWITCH_TEXT = {
    "data_keep_gray": {True: "kept (ab = 0)", False: "skipped"},
    "data_resize": {"crop": "centre crop", "squash": "squashed (whole photo)"},
}


@dataclass(frozen=True)
class ProtocolItem:
    name: str
    value: str


def _present(values: Iterable[Any]) -> list[Any]:
    return [v for v in values if not pd.isna(v)]


def distinct(frame: pd.DataFrame, column: str, fmt=str) -> str:
    """The column's distinct values over the runs that have one, comma-separated ("unknown" if none)."""
    if column not in frame.columns:
        return "unknown"
    values = list(dict.fromkeys(fmt(v) for v in _present(frame[column].tolist())))
    return ", ".join(values) if values else "unknown"


def _integer(value: Any) -> str:
    if pd.isna(value):  # a run without a record (failed before it started)
        return "unknown"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value))
    return str(value)


def _data_text(started: pd.DataFrame) -> str:
    if "n_train" in started.columns:
        started = started[started["n_train"].notna()]  # a run that failed before it read its data
    if started.empty:
        return "unknown (no run has started)"
    parts = []
    keys = [
        "data_source",
        "data_root",
        "n_train",
        "n_val",
        "data_limit",
        "data_seed",
        "data_val_fraction",
        "data_format",
    ]
    present = [k for k in keys if k in started.columns]
    for values in started[present].drop_duplicates().itertuples(index=False):
        row = dict(zip(present, values, strict=True))
        source = row.get("data_source") or "unknown source"
        if isinstance(row.get("data_root"), str):
            source += f" ({row['data_root']})"
        text = f"{source}: {_integer(row.get('n_train'))} train / {_integer(row.get('n_val'))} val images"
        extras = [
            f"{name} {_integer(row[key]) if key != 'data_val_fraction' else row[key]}"
            for key, name in (
                ("data_limit", "limit"),
                ("data_seed", "split seed"),
                ("data_val_fraction", "val fraction"),
                ("data_format", "cache format"),
            )
            if not pd.isna(row.get(key))
        ]
        parts.append(text + (f" ({', '.join(extras)})" if extras else ""))
    return "; ".join(dict.fromkeys(parts))


def _switch_value(column: str, value: Any) -> str:
    if column == "generator_options":
        try:
            options = json.loads(value) if isinstance(value, str) else dict(value)
        except (json.JSONDecodeError, TypeError, ValueError):
            return str(value)
        return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "none"
    return SWITCH_TEXT.get(column, {}).get(value, str(value))


def per_generator(frame: pd.DataFrame, column: str, fmt=str) -> str:
    """``distinct`` over all runs when every generator has the same values, else per generator."""
    if column not in frame.columns or "generator" not in frame.columns:
        return distinct(frame, column, fmt)
    by_generator = {g: distinct(group, column, fmt) for g, group in frame.groupby("generator", sort=False)}
    if len(set(by_generator.values())) <= 1:
        return distinct(frame, column, fmt)
    return "; ".join(f"{g}: {text}" for g, text in by_generator.items())


def switches_text(started: pd.DataFrame) -> str:
    """Each study-vs-colorbench switch the runs used, and where the table of them is."""
    parts = []
    for name, column in SWITCHES:
        if column in started.columns:
            parts.append(f"{name} {per_generator(started, column, lambda v, c=column: _switch_value(c, v))}")
    return "; ".join(parts) + f" (the study's choice and colorbench's, switch by switch: {SWITCHES_DOC})"


def scale_phrase(runs: pd.DataFrame) -> str:
    """E.g. "64 px, 8 epochs, 189 train images": the size of the experiment, for the ranking sentence."""
    started = runs[runs["run_dir"].notna()] if "run_dir" in runs.columns else runs.iloc[:0]
    size = distinct(started, "image_size", _integer)
    epochs = distinct(started, "epochs", _integer)
    train = distinct(started, "n_train", _integer)
    return f"{size} px, {epochs} epoch{'' if epochs == '1' else 's'}, {train} train images"


def protocol(record: dict[str, Any], runs: pd.DataFrame, interval: str) -> list[ProtocolItem]:
    """The protocol items of one study, in reading order."""
    started = runs[runs["run_dir"].notna()] if "run_dir" in runs.columns else runs.iloc[:0]
    overrides = record.get("overrides") or {}
    versions = sorted(c for c in runs.columns if c.startswith(VERSION_PREFIX))
    items = [
        ("Study", str(record.get("name"))),
        ("Command", str(record.get("command") or "unknown")),
        (
            "Preset and overrides",
            f"{record.get('preset') or 'unknown'}; "
            + (", ".join(f"{k}={v}" for k, v in overrides.items()) if overrides else "no overrides"),
        ),
        (
            "Recorded",
            f"created {record.get('created') or 'unknown'}, updated {record.get('updated') or 'unknown'}",
        ),
        ("Generators", ", ".join(record.get("plugins") or dict.fromkeys(runs["generator"]))),
        (
            "Scale",
            scale_note(runs, scale_phrase(runs), _seeds_text(record)).removeprefix("Scale: "),
        ),
        ("Data", _data_text(started)),
        ("Image size", distinct(started, "image_size", lambda v: f"{int(v)} px")),
        ("Epochs", distinct(started, "epochs", _integer)),
        ("Seeds", ", ".join(str(s) for s in record.get("seeds") or []) or distinct(runs, "seed")),
        (
            "Baseline",
            f"lr {distinct(started[started['factor'].isna()], 'lr', lambda v: f'{v:g}')}, "
            f"batch {distinct(started[started['factor'].isna()], 'batch_size', _integer)}, "
            f"init {distinct(started[started['factor'].isna()], 'init')} "
            f"(gain {distinct(started, 'init_gain', lambda v: f'{v:g}')}), "
            f"depth {distinct(started[started['factor'].isna()], 'variant')}",
        ),
        (
            "Objective",
            f"pix2pix, GAN loss {distinct(started, 'gan_mode')}, "
            f"lambda_L1 {distinct(started, 'lambda_l1', lambda v: f'{v:g}')}, "
            f"Adam betas ({distinct(started, 'betas')})",
        ),
        ("Switches", switches_text(started)),
        ("Precision", _precision_text(started)),
        ("Device", f"{distinct(started, 'device')} ({distinct(started, 'device_name')})"),
        (
            "Versions",
            "; ".join(f"{c.removeprefix(VERSION_PREFIX)} {distinct(runs, c)}" for c in versions) or "unknown",
        ),
        ("Losses", LOSS_NOTE),
        ("Cells", INTERVALS[interval] + "; n = seeds whose run completed"),
        (
            "Intervals and marks",
            "effects against Default and against gray: paired 95% t intervals on the two-way seeds x "
            "val images standard error with Satterthwaite degrees of freedom (colorbench/analysis); "
            "better / worse than gray: Holm over each metric's settings; bold effects: Benjamini-Hochberg "
            "over each generator's effects; best = better than gray (Holm) and than every other setting "
            "beyond noise; |ΔCF| is never counted as beating gray; claim verdict: P(claimed order) is the "
            "share of bootstrap replicates in that order (chance 1/k! for k factors), supported if >= 0.95, "
            "contradicted if a pair of the claim is reversed with probability >= 1 - 0.05/p (p pairs), "
            "else unresolved",
        ),
        (
            "Gray baseline",
            "ab = 0 (the image left grey) on the same val split: the floor every model should beat",
        ),
    ]
    items += [
        (f"Metric {info.name}", f"{info.description}; {info.unit}; {info.reading}; {info.variant}")
        for info in metric_measures()
    ]
    return [ProtocolItem(name, value) for name, value in items]


def _precision_text(started: pd.DataFrame) -> str:
    """The resolved precision of the runs, counted per precision where they differ."""
    done = started[started["status"] == Status.COMPLETED.value] if "status" in started.columns else started
    counts = done["precision"].dropna().astype(str).value_counts() if "precision" in done.columns else []
    if len(counts) > 1:
        resolved = "mixed: " + ", ".join(
            f"{p} ({n} run{'s' * (n != 1)})" for p, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
        )
    else:
        resolved = distinct(started, "precision")
    return (
        f"{resolved}; requested {distinct(started, 'precision_requested')} (resolved where each run "
        "trained: auto is bf16 where the hardware runs it natively, or COLORBENCH_AUTO_PRECISION; "
        "a run is never resumed in another precision)"
    )


def _seeds_text(record: dict) -> str:
    return f"seeds {', '.join(map(str, record.get('seeds') or []))}"
