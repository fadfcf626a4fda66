"""The notes every format of a report carries: scale, what could not run, units, precision, gaps."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from colorbench.store.status import Status

SHORT_EPOCHS = 50  # fewer epochs than this (the study ran 100) ...
SMALL_TRAIN = 2000  # ... or fewer train images (the study had 8,000): a demonstration, not a result
NOT_RUN = tuple(
    status.value
    for status in (
        Status.INFEASIBLE,
        Status.NOT_APPLICABLE,
        Status.DIVERGED,
        Status.FAILED,
        Status.UNREADABLE,
        Status.NOT_STARTED,
        Status.INTERRUPTED,
    )
)


def _max(runs: pd.DataFrame, column: str) -> float | None:
    if column not in runs.columns:
        return None
    values = pd.to_numeric(runs[column], errors="coerce").dropna()
    return float(values.max()) if len(values) else None


def scale_note(runs: pd.DataFrame, scale: str, seeds: str) -> str:
    epochs, train = _max(runs, "epochs"), _max(runs, "n_train")
    text = f"Scale: {scale}; {seeds}."
    if (epochs is not None and epochs < SHORT_EPOCHS) or (train is not None and train < SMALL_TRAIN):
        text += (
            " Runs this short (the study trained 100 epochs on 8,000 images) are a demonstration of the "
            "harness, not a result about colorization: read every verdict as being about this scale only."
        )
    return text


def _not_run(runs: pd.DataFrame) -> list[str]:
    out = []
    keys = ["generator", "label", "status"]
    rows = runs[runs["status"].isin(NOT_RUN)]
    for (generator, label, status), group in rows.groupby(keys, sort=False):
        reasons = [
            " ".join(str(r).split()) for r in dict.fromkeys(group["reason"]) if isinstance(r, str) and r
        ]
        seeds = f" ({len(group)} seed{'s' * (len(group) != 1)})" if len(group) > 1 else ""
        out.append(f"{generator} {label}: {status}{seeds}" + (f": {reasons[0]}" if reasons else ""))
    return out


def _units(runs: pd.DataFrame) -> list[str]:
    if "generator_options" not in runs.columns:
        return []
    out = []
    for generator, group in runs.groupby("generator", sort=False):
        units = set()
        for text in group["generator_options"].dropna():
            try:
                units.add(json.loads(text).get("units", "normalised"))
            except (json.JSONDecodeError, AttributeError):
                continue
        if "eccv16" in units:
            mixed = (
                " and normalised units, so its rows are not comparable with each other"
                if len(units) > 1
                else ""
            )
            out.append(
                f"{generator} ran in the study's eccv16 units{mixed}: the network's output is raw a*b* "
                "(x110) compared with ab/110 targets, so its Loss G L1 is in those units, as in the study's "
                "Table 1, and not comparable with other generators' rows"
            )
    return out


def _precision(runs: pd.DataFrame) -> list[str]:
    """A study whose completed runs trained in different precisions: say so, and which ran in which."""
    if "precision" not in runs.columns:
        return []
    done = runs[(runs["status"] == Status.COMPLETED.value) & runs["precision"].notna()]
    counts = done["precision"].astype(str).value_counts()
    if len(counts) <= 1:
        return []
    parts = []
    for precision, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        mine = done[done["precision"].astype(str) == precision]
        rows = ", ".join(
            dict.fromkeys(f"{r.generator} {r.label} seed {r.seed}" for r in mine.itertuples(index=False))
        )
        parts.append(f"{precision} ({n} run{'s' * (n != 1)}: {rows})")
    return [
        "Mixed precision: this study's runs trained in different precisions, as each resolved it on "
        f"its own machine: {'; '.join(parts)}. Precision can move a metric more than a seed does, so a "
        "difference between rows of different precisions may be the precision's, not the setting's; "
        "rerun the study at one precision (--set precision=fp32, or COLORBENCH_AUTO_PRECISION) to "
        "compare them"
    ]


def calibration_note() -> str:
    """What the intervals achieve on simulated studies of the example's shape (benchmarks/RESULTS.md)."""
    from colorbench.analysis.simulate import SKEWED_MEASURED as skewed

    return (
        "Calibration, measured on simulated studies of 9 settings x 3 seeds x 47 images: the 95% "
        "intervals against Default hold the true effect 94-96% of the time when image or seed noise "
        "dominates or seed noise differs between settings; with strongly skewed (lognormal) seed noise "
        f"they are conservative, {skewed.coverage} (3 seeds barely tell that shape from normal noise, "
        'so no interval is exact for both), and a false "better than gray" occurs in '
        f"{skewed.fwer_beats_gray} of {skewed.n_null} null studies after Holm (5% allowed)."
    )


def study_notes(runs, record, tables, scale: str, seeds: str, analysis) -> list[str]:
    notes = [scale_note(runs, scale, seeds)]
    if analysis is not None:
        notes.append(
            "Intervals: 95%, paired with Default by seed and val image (a t interval on the two-way "
            "seeds x images standard error, few-seed degrees of freedom); training losses are paired by seed "
            "only. Multiplicity: + / - (better / worse than gray beyond noise) and the count of settings "
            "beating gray use Holm's correction over each metric's settings (family-wise 5%); bold effects "
            "use Benjamini-Hochberg over each generator's effects (false discovery rate 5%); the intervals "
            "shown are uncorrected, the CSV has both. Best (bold in the main table): better than gray "
            "(Holm) and than every other setting beyond noise. |ΔCF| is never counted as beating gray: "
            "gray's |ΔCF| equals the truth's colourfulness, so any tint would. " + calibration_note()
        )
        if any("images only" in b for b in set(analysis.effects.get("basis", []))):
            notes.append(
                "With one seed per setting the intervals cover image sampling only, "
                "not seed-to-seed variation."
            )
    else:
        notes.append(
            "No per-image metrics: no intervals, no marks and no verdicts "
            "(best and gray comparisons need them)."
        )
    notes += _not_run(runs) + _units(runs) + _precision(runs) + _not_computed(runs) + _declared_notes(runs)
    return notes


def _not_computed(runs: pd.DataFrame) -> list[str]:
    """One note per metric and reason: its cells are empty because it was not computed, and why."""
    if "not_computed" not in runs.columns:
        return []
    lines: dict[str, None] = {}
    for text in runs["not_computed"].dropna():
        try:
            missing = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            continue
        for name, reason in missing.items() if isinstance(missing, dict) else ():
            lines.setdefault(f"{name} not computed: {reason}", None)
    return list(lines)


def _declared_notes(runs: pd.DataFrame) -> list[str]:
    """Each metric's declared report note (FID's N and reference set), where it has values."""
    from colorbench.measures import metric_measures

    notes = []
    for measure in metric_measures():
        if not measure.report_note or measure.name not in runs.columns or runs[measure.name].isna().all():
            continue
        counts = runs.loc[runs[measure.name].notna(), "n_val"] if "n_val" in runs.columns else pd.Series()
        counts = sorted({int(c) for c in counts.dropna()})
        n = " / ".join(f"{c:,}" for c in counts) if counts else "?"
        notes.append(measure.report_note.format(n=n))
    return notes


def store_notes(problems: Sequence[str]) -> list[str]:
    return [f"store: {p}" for p in dict.fromkeys(problems)]
