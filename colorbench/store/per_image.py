"""The per-image val metrics of a study's runs, and of the gray baseline of their data split.

Each run writes one row per (evaluation epoch, val image) (``RunDirectory.write_per_image``); the
gray baseline of a split is written once under ``baselines/<data key>/``. These readers turn them
into the long tables of ``colorbench results --per-image`` and of the report's statistics.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from colorbench.store.baselines import BaselineDirectory
from colorbench.store.records import UnreadableRecordError
from colorbench.store.rundir import RunDirectory
from colorbench.store.status import Status

ID_COLUMNS = ["study", "generator", "order", "setting", "label", "factor", "seed", "run_id", "data_key"]


def load_per_image(runs: pd.DataFrame, *, final_only: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """(long table, problems) for the completed runs of ``runs`` (``load_runs``' frame).

    One row per (run, evaluation epoch, val image): the identification columns, ``epoch``,
    ``image_id`` and the metrics. ``final_only``: the run's final evaluation only (what its
    summary reports). ``problems``: one line per completed run without readable per-image values
    (an older store, or a damaged file).
    """
    frames, problems = [], []
    done = runs[(runs["status"] == Status.COMPLETED.value) & runs["run_dir"].notna()]
    for _, row in done.iterrows():
        try:
            frame = RunDirectory(row["run_dir"]).read_per_image()
        except UnreadableRecordError as exc:
            problems.append(str(exc))
            continue
        if frame is None or frame.empty:
            problems.append(f"{row['run_id']} has no per-image metrics (written by an older colorbench)")
            continue
        if final_only:
            frame = frame[frame["epoch"] == frame["epoch"].max()]
        frame = frame.copy()
        for column in ID_COLUMNS:
            frame[column] = row.get(column)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*ID_COLUMNS, "epoch", "image_id"]), problems
    out = pd.concat(frames, ignore_index=True)
    metrics = [c for c in out.columns if c not in ID_COLUMNS and c not in ("epoch", "image_id")]
    return out[[*ID_COLUMNS, "epoch", "image_id", *metrics]], problems


def load_gray(root: str | Path, data_keys) -> tuple[pd.DataFrame, list[str]]:
    """(gray per-image table with a ``data_key`` column, problems) for the given data splits."""
    frames, problems = [], []
    for key in dict.fromkeys(k for k in data_keys if isinstance(k, str) and k):
        try:
            frame = BaselineDirectory(root, key).read_per_image()
        except UnreadableRecordError as exc:
            problems.append(str(exc))
            continue
        if frame is None:
            problems.append(f"no gray baseline per image for data split {key[:12]} (an older store)")
            continue
        frames.append(frame.assign(data_key=key))
    if not frames:
        return pd.DataFrame(columns=["data_key", "image_id"]), problems
    return pd.concat(frames, ignore_index=True), problems
