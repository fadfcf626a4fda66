"""Validate the three input frames (schemas in the package docstring) and lay them out as arrays.

Every problem is one ``ValueError`` line naming the frame and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from colorbench.measures import (
    IMAGE,
    LOSS,
    METRIC,
    default_verdict,
    find_measure,
    loss_measures,
    metric_measures,
)

BASELINE = "default"  # the id of the setting every other setting is compared with
# The study's losses (run level, lower is better) and the default verdict measures, as declared.
LOSS_COLUMNS = tuple(m.name for m in loss_measures() if m.table)
DEFAULT_METRIC = default_verdict(METRIC)
DEFAULT_LOSS = default_verdict(LOSS)
IMAGE_KEY = ("generator", "setting", "seed", "image_id")
RUN_KEY = ("generator", "setting", "seed")


def ranked(columns) -> list[str]:
    """The columns where one value is better than another (not colourfulness: a description)."""
    declared = {m.name: m for m in metric_measures()}
    return [c for c in columns if c not in declared or declared[c].ranked]


def direction(column: str) -> str:
    """ "lower" or "higher": which way a metric or loss column is better (as declared)."""
    measure = find_measure(column)
    if measure is None:
        raise ValueError(
            f"unknown column {column!r}: neither a declared metric nor a loss (colorbench.measures)"
        )
    return measure.direction


def image_metric_names() -> tuple[str, ...]:
    """The per-image metrics a per_image frame may hold (every usable declared one)."""
    return tuple(m.name for m in metric_measures() if m.scope == IMAGE)


@dataclass(frozen=True)
class Layout:
    """One generator's settings (Default first, then in order of appearance) and seeds."""

    generator: str
    settings: tuple[str, ...]
    factors: tuple[str | None, ...]  # None: Default, or a setting outside the one-factor design
    labels: tuple[str, ...]  # the `label` column where given, else the setting id
    seeds: tuple[int, ...]
    columns: tuple[str, ...]  # metric or loss columns, in the order of values' last axis
    present: np.ndarray  # (settings, seeds) bool: that run exists


@dataclass(frozen=True)
class ImageTable:
    """Per-image values of one generator: ``values[setting, seed, image, column]`` (NaN: no run)."""

    layout: Layout
    images: tuple[str, ...]
    values: np.ndarray
    gray: np.ndarray | None  # (images, columns): the gray baseline, None when not given


@dataclass(frozen=True)
class RunTable:
    """Run-level values of one generator: ``values[setting, seed, column]`` (NaN: no run)."""

    layout: Layout
    values: np.ndarray


def _check_frame(frame: object, name: str, required: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{name} has no rows")
    return frame


def _value_columns(frame: pd.DataFrame, name: str, known: Sequence[str], wanted: Sequence[str] | None):
    if wanted is None:
        columns = tuple(c for c in known if c in frame.columns)
        if not columns:
            raise ValueError(f"{name}: no value column; expected some of {', '.join(known)}")
        return columns
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"{name}: unknown column(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    return tuple(wanted)


def _finite(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> np.ndarray:
    try:
        values = frame[list(columns)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: value columns {', '.join(columns)} must be numeric") from None
    bad = ~np.isfinite(values)
    if bad.any():
        column = columns[int(np.nonzero(bad.any(axis=0))[0][0])]
        raise ValueError(f"{name}: column {column} has {int(bad.sum())} missing or non-finite value(s)")
    return values


def _seeds(frame: pd.DataFrame, name: str) -> np.ndarray:
    seeds = frame["seed"]
    if not pd.api.types.is_numeric_dtype(seeds) or seeds.isna().any():
        raise ValueError(f"{name}: column seed must hold integers")
    as_float = seeds.to_numpy(dtype=float)
    if not np.array_equal(as_float, np.round(as_float)):
        raise ValueError(f"{name}: column seed must hold integers")
    return as_float.astype(np.int64)


def _no_duplicates(frame: pd.DataFrame, name: str, key: Sequence[str]) -> None:
    duplicated = frame.duplicated(list(key))
    if duplicated.any():
        first = frame.loc[duplicated, list(key)].iloc[0].tolist()
        raise ValueError(
            f"{name}: {int(duplicated.sum())} duplicate row(s) of ({', '.join(key)}), e.g. {first}"
        )


def _is_missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # None, NaN and pd.NA alike


def _layout(frame: pd.DataFrame, name: str, generator: str, seeds: np.ndarray, columns) -> Layout:
    """Settings, factors and labels of one generator's rows; ``seeds`` are those rows' seeds."""
    settings = [str(s) for s in frame["setting"].astype(str).unique()]  # in order of appearance
    if BASELINE not in settings:
        raise ValueError(f"{name}: generator {generator!r} has no {BASELINE!r} setting (the baseline)")
    settings.remove(BASELINE)
    settings.insert(0, BASELINE)
    factors, labels = [], []
    has_label = "label" in frame.columns
    frame = frame.assign(setting=frame["setting"].astype(str))
    n_factors = frame.groupby("setting", sort=False)["factor"].nunique(dropna=False)
    if (n_factors > 1).any():
        setting = n_factors.index[n_factors > 1][0]
        raise ValueError(f"{name}: setting {setting!r} of {generator!r} has rows with different factors")
    by_setting = frame.drop_duplicates("setting").set_index("setting")
    for setting in settings:
        factor = by_setting.at[setting, "factor"]
        factors.append(None if setting == BASELINE or _is_missing(factor) else str(factor))
        label = by_setting.at[setting, "label"] if has_label else None
        labels.append(setting if _is_missing(label) else str(label))
    seed_ids = tuple(sorted(set(seeds.tolist())))
    setting_code = pd.Categorical(frame["setting"], categories=settings).codes
    seed_code = np.searchsorted(seed_ids, seeds)
    present = np.zeros((len(settings), len(seed_ids)), dtype=bool)
    present[setting_code, seed_code] = True
    return Layout(
        generator, tuple(settings), tuple(factors), tuple(labels), seed_ids, tuple(columns), present
    )


def image_tables(
    per_image: pd.DataFrame, gray: pd.DataFrame | None = None, metrics: Sequence[str] | None = None
) -> list[ImageTable]:
    """One :class:`ImageTable` per generator (in order of appearance), gray aligned by image_id."""
    frame = _check_frame(per_image, "per_image", (*IMAGE_KEY, "factor")).reset_index(drop=True)
    columns = _value_columns(frame, "per_image", image_metric_names(), metrics)
    values = _finite(frame, "per_image", columns)
    seeds = _seeds(frame, "per_image")
    frame = frame.assign(image_id=frame["image_id"].astype(str), generator=frame["generator"].astype(str))
    _no_duplicates(frame.assign(seed=seeds), "per_image", IMAGE_KEY)
    gray_by_image = None
    if gray is not None:
        gray_frame = _check_frame(gray, "gray", ("image_id", *columns))
        gray_values = _finite(gray_frame, "gray", columns)
        gray_ids = gray_frame["image_id"].astype(str)
        if gray_ids.duplicated().any():
            raise ValueError(f"gray: image_id {gray_ids[gray_ids.duplicated()].iloc[0]!r} appears twice")
        gray_by_image = pd.DataFrame(gray_values, index=gray_ids.to_numpy())
    tables = []
    for generator, rows in frame.groupby("generator", sort=False):
        positions = rows.index.to_numpy()  # the frame's index is positional (reset above)
        layout = _layout(rows, "per_image", generator, seeds[positions], columns)
        image_ids = pd.Categorical(rows["image_id"])  # hashing: fast on 10^5 rows of strings
        images = tuple(str(i) for i in image_ids.categories)  # sorted
        setting_code = pd.Categorical(rows["setting"].astype(str), categories=layout.settings).codes
        seed_code = np.searchsorted(layout.seeds, seeds[positions])
        image_code = image_ids.codes
        shape = (len(layout.settings), len(layout.seeds), len(images), len(columns))
        array = np.full(shape, np.nan)
        array[setting_code, seed_code, image_code] = values[positions]
        counts = np.bincount(setting_code * shape[1] + seed_code, minlength=shape[0] * shape[1])
        short = np.nonzero(layout.present.ravel() & (counts < len(images)))[0]
        if short.size:
            k, s = divmod(int(short[0]), shape[1])
            raise ValueError(
                f"per_image: run {generator}/{layout.settings[k]}/seed {layout.seeds[s]} has "
                f"{counts[short[0]]} of the generator's {len(images)} images"
                " (every run must score the same images)"
            )
        aligned = None
        if gray_by_image is not None:
            aligned = gray_by_image.reindex(list(images))
            lacking = aligned.index[aligned.isna().any(axis=1)]
            if len(lacking):
                raise ValueError(
                    f"gray: no values for {len(lacking)} of {generator}'s images, e.g. {lacking[0]!r}"
                )
            aligned = aligned.to_numpy()
        tables.append(ImageTable(layout, images, array, aligned))
    return tables


def run_tables(runs: pd.DataFrame, losses: Sequence[str] | None = None) -> list[RunTable]:
    """One :class:`RunTable` per generator (in order of appearance)."""
    frame = _check_frame(runs, "runs", (*RUN_KEY, "factor")).reset_index(drop=True)
    columns = _value_columns(frame, "runs", LOSS_COLUMNS, losses)
    values = _finite(frame, "runs", columns)
    seeds = _seeds(frame, "runs")
    frame = frame.assign(generator=frame["generator"].astype(str))
    _no_duplicates(frame.assign(seed=seeds, setting=frame["setting"].astype(str)), "runs", RUN_KEY)
    tables = []
    for generator, rows in frame.groupby("generator", sort=False):
        positions = rows.index.to_numpy()
        layout = _layout(rows, "runs", generator, seeds[positions], columns)
        setting_code = pd.Categorical(rows["setting"].astype(str), categories=layout.settings).codes
        seed_code = np.searchsorted(layout.seeds, seeds[positions])
        array = np.full((len(layout.settings), len(layout.seeds), len(columns)), np.nan)
        array[setting_code, seed_code] = values[positions]
        tables.append(RunTable(layout, array))
    return tables
