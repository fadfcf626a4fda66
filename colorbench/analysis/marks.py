"""Best marks: which setting, if any, a table may bold in each column.

The leader is the best setting by mean in the column's good direction (Default included). On a
per-image metric it is marked only if it beats gray beyond noise (Holm over the column's settings,
family-wise 5%) *and* its paired interval against every other setting excludes zero (5% each: an
intersection-union test, :mod:`.multiplicity`). Where gray is a degenerate reference
(declared ``gray_degenerate``: |ΔCF|) only the second condition applies. Otherwise the column reads "tied"
(the settings whose paired interval against the leader includes zero, leader first) or "none
beats gray". Run-level losses have no gray: only the runner-up condition applies, and with one
seed nothing is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from colorbench.analysis.effects import (
    BETTER,
    N_BOOT,
    ImageContrasts,
    RunContrasts,
    gray_column,
    gray_degenerate,
    image_contrasts,
    run_contrasts,
)
from colorbench.analysis.inputs import direction, ranked

BEST, TIED, NONE_BEATS_GRAY, NOT_MARKED = "best", "tied", "none beats gray", "not marked"


@dataclass(frozen=True)
class BestMark:
    """The mark of one column of one generator's table.

    ``status``: "best" (``setting`` is marked), "tied" (``tied`` lists the settings within noise of
    the leader, leader first), "none beats gray" or "not marked" (``reason`` says why). The
    difference fields hold leader minus runner-up (NaN where there is no interval or runner-up).
    """

    generator: str
    column: str
    status: str
    setting: str | None  # the marked setting; None unless status is "best"
    leader: str  # best by mean
    runner_up: str | None
    difference: float
    difference_low: float
    difference_high: float
    tied: tuple[str, ...]
    reason: str


def _ranked(means: np.ndarray, column: str) -> list[int]:
    """Setting indices, best mean first (NaN means, settings without runs, left out)."""
    order = [int(k) for k in np.argsort(means, kind="stable") if np.isfinite(means[k])]
    return order if direction(column) == "lower" else order[::-1]


def _column_mark(contrasts, column: str, means: np.ndarray, gray_ok: dict[int, bool] | None) -> BestMark:
    """The mark for one column, given each setting's mean and (metrics) whether it beats gray."""
    layout = contrasts.table.layout
    ranked = _ranked(means, column)
    leader, others = ranked[0], ranked[1:]
    index = contrasts.column(column)
    within_noise = [leader]
    nan = float("nan")
    difference = (nan, nan, nan)
    for position, other in enumerate(others):
        found = contrasts.contrast(leader, other, index)
        low, high = (nan, nan) if found is None else found.interval()
        if position == 0:
            difference = (nan if found is None else found.estimate, low, high)
        if not (low > 0 or high < 0):  # NaN (no interval) cannot tell them apart either
            within_noise.append(other)
    name = layout.settings

    def mark(status: str, reason: str, setting: int | None = None, tied=()) -> BestMark:
        runner_up = name[others[0]] if others else None
        return BestMark(
            layout.generator,
            column,
            status,
            None if setting is None else name[setting],
            name[leader],
            runner_up,
            *difference,
            tuple(name[k] for k in tied),
            reason,
        )

    if gray_ok is not None and not any(gray_ok.values()):
        return mark(NONE_BEATS_GRAY, "no setting is better than gray beyond noise")
    if not others:
        return mark(NOT_MARKED, "one setting: nothing to compare with")
    if not np.isfinite(difference[1]):
        return mark(NOT_MARKED, "one seed: no measure of noise")
    if len(within_noise) > 1:
        return mark(TIED, f"{len(within_noise)} settings within noise of the best mean", tied=within_noise)
    if gray_ok is not None and not gray_ok[leader]:
        return mark(NOT_MARKED, "the best mean is not better than gray beyond noise")
    return mark(
        BEST,
        "beats the runner-up" + (" and gray" if gray_ok is not None else "") + " beyond noise",
        setting=leader,
    )


def metric_mark(contrasts: ImageContrasts, column: str) -> BestMark:
    """The mark of a per-image metric column (needs the gray baseline)."""
    index = contrasts.column(column)
    values, present = contrasts.table.values[..., index], contrasts.table.layout.present
    # A setting's column value: the mean over its runs of the per-run image means.
    run_means = values.mean(axis=2)
    means = np.array(
        [run_means[k, present[k]].mean() if present[k].any() else np.nan for k in range(len(present))]
    )
    if column in gray_degenerate():  # gray is no reference to beat there: only the runner-up condition
        return _column_mark(contrasts, column, means, None)
    # "Beats gray" after Holm over this column's settings, as the + marks and the headline count it.
    index_of = {name: k for k, name in enumerate(contrasts.table.layout.settings)}
    beats = {index_of[e.setting]: e.versus_gray == BETTER for e in gray_column(contrasts, column)}
    return _column_mark(contrasts, column, means, beats)


def loss_mark(contrasts: RunContrasts, column: str) -> BestMark:
    """The mark of a run-level loss column (no gray; one seed: not marked)."""
    values = contrasts.table.values[..., contrasts.column(column)]
    present = contrasts.table.layout.present
    means = np.array(
        [values[k, present[k]].mean() if present[k].any() else np.nan for k in range(len(present))]
    )
    return _column_mark(contrasts, column, means, None)


def best_marks(
    per_image: pd.DataFrame,
    gray: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    metrics: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> list[BestMark]:
    """The mark of every metric column (and loss column, with ``runs``) of every generator."""
    marks = []
    for contrasts in image_contrasts(per_image, gray, metrics=metrics, n_boot=n_boot, seed=seed):
        marks += [metric_mark(contrasts, c) for c in ranked(contrasts.table.layout.columns)]
    if runs is not None:
        for contrasts in run_contrasts(runs, losses=losses, n_boot=n_boot, seed=seed):
            marks += [loss_mark(contrasts, c) for c in contrasts.table.layout.columns]
    return marks
