"""Everything a report needs, from one set of draws per generator: :func:`analyze`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from colorbench.analysis import effects, marks, profiles, verdict
from colorbench.analysis.effects import N_BOOT
from colorbench.analysis.inputs import DEFAULT_LOSS, DEFAULT_METRIC, ranked
from colorbench.measures import find_measure


@dataclass(frozen=True)
class Analysis:
    """Results of :func:`analyze`; frames have the columns of :class:`~colorbench.analysis.Effect`."""

    effects: pd.DataFrame  # per-image metrics, each setting - Default
    gray_effects: pd.DataFrame  # per-image metrics, each setting - gray, with ``versus_gray``
    gray_counts: pd.DataFrame  # per generator and metric: settings better / tied / worse than gray
    run_effects: pd.DataFrame  # run-level losses, each setting - Default (empty without runs)
    best_marks: tuple[marks.BestMark, ...]  # metric columns, then loss columns
    metric_verdicts: tuple[verdict.ClaimVerdict, ...]  # one per generator, on ``verdict_metric``
    loss_verdicts: tuple[verdict.ClaimVerdict, ...]  # one per generator, on ``verdict_loss``
    n_boot: int
    seed: int
    # Per-image views (module profiles): P(improvement) against Default and gray, mean / median /
    # IQM per setting (ranked val metrics), performance profiles against Default and gray on the
    # verdict metric.
    improvement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=profiles.POI_COLUMNS))
    aggregates: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=profiles.AGGREGATE_COLUMNS))
    profiles: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=profiles.PROFILE_COLUMNS))


def analyze(
    per_image: pd.DataFrame,
    gray: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    metrics: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    verdict_metric: str = DEFAULT_METRIC,
    verdict_loss: str = DEFAULT_LOSS,
    claim: Sequence[str] = verdict.STUDY_CLAIM,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Analysis:
    """Effects, gray comparisons, best marks and both verdicts, each generator's draws made once.

    The results equal those of the separate functions called with the same ``n_boot`` and ``seed``.
    """
    image_rows, gray_rows, run_rows, all_marks, metric_verdicts, loss_verdicts = [], [], [], [], [], []
    improvement, aggregates, profile = [], [], []
    for contrasts in effects.image_contrasts(per_image, gray, metrics=metrics, n_boot=n_boot, seed=seed):
        columns = contrasts.table.layout.columns
        if verdict_metric not in columns:
            raise ValueError(f"per_image: no column {verdict_metric!r} for the claim's verdict")
        if not find_measure(verdict_metric).ranked:
            raise ValueError(f"{verdict_metric!r} is not ranked (a description, not a score): no verdict")
        image_rows += effects.default_rows(contrasts)
        gray_rows += effects.gray_rows(contrasts)
        # Unranked metrics (colourfulness) get effects against Default but no best mark.
        all_marks += [marks.metric_mark(contrasts, c) for c in ranked(columns)]
        metric_verdicts.append(verdict.metric_verdict(contrasts, verdict_metric, claim))
        for reference in ("default", "gray"):
            improvement.append(profiles.improvement_probabilities(contrasts, reference))
            profile.append(profiles.performance_profiles(contrasts, reference, metrics=[verdict_metric]))
        aggregates.append(profiles.robust_aggregates(contrasts))
    if runs is not None:
        for contrasts in effects.run_contrasts(runs, losses=losses, n_boot=n_boot, seed=seed):
            columns = contrasts.table.layout.columns
            if verdict_loss not in columns:
                raise ValueError(f"runs: no column {verdict_loss!r} for the claim's verdict")
            run_rows += effects.default_rows(contrasts)
            all_marks += [marks.loss_mark(contrasts, c) for c in columns]
            loss_verdicts.append(verdict.loss_verdict(contrasts, verdict_loss, claim))
    gray_frame = effects.frame(gray_rows, effects.GRAY_EFFECT_COLUMNS)
    return Analysis(
        effects.frame(image_rows),
        gray_frame,
        effects.gray_counts(gray_frame),
        effects.frame(run_rows),
        tuple(all_marks),
        tuple(metric_verdicts),
        tuple(loss_verdicts),
        n_boot,
        seed,
        _concat(improvement, profiles.POI_COLUMNS),
        _concat(aggregates, profiles.AGGREGATE_COLUMNS),
        _concat(profile, profiles.PROFILE_COLUMNS),
    )


def _concat(frames, columns) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
