"""Statistics of a study's results: paired effects with intervals, gray comparisons, best marks, verdicts.

Pure numpy / pandas / scipy: nothing here reads files or runs a network. Every number carries its
uncertainty, and "we cannot tell at this scale" is a valid answer.

Inputs
------
``per_image`` (long DataFrame, one row per generator, setting, seed and val image)
    ``generator`` str; ``setting`` str, the baseline's id is ``"default"``; ``factor`` str, or
    None / NaN for Default (and for a setting outside the one-factor design; such a setting gets
    effects but takes no part in the claim's verdict); ``seed`` int; ``image_id`` str; metric
    columns among :data:`colorbench.metrics.METRICS` (``l1_ab, psnr, ssim, ciede2000,
    colorfulness_pred, colorfulness_true, dcf``, ``auc``), finite floats. Optional ``label`` str:
    the setting's row label. Every run of a generator scores the same images; a setting may lack
    seeds (a run diverged): effects pair only the seeds both sides have.
``gray`` (DataFrame, one row per val image)
    ``image_id`` and the same metric columns: the gray baseline (ab = 0), deterministic, no seed.
``runs`` (DataFrame, one row per completed run)
    ``generator, setting, factor, seed`` (as above), optional ``label``, and loss columns among
    ``loss_G_GAN, loss_G_L1, loss_G`` (one final training loss per run, lower is better).

Problems (a missing column, a duplicate row, a run scoring other images than its siblings, a
non-finite value, no ``default`` setting) raise a one-line ``ValueError``.

Outputs
-------
Frames with the columns of :class:`Effect` (``estimate, low, high, n_seeds, n_images, df, basis,
method``, ...) from :func:`paired_effects`, :func:`run_effects` and :func:`gray_effects` (plus
``versus_gray``); :func:`gray_counts` per generator and metric; frozen dataclasses
:class:`BestMark` (:func:`best_marks`) and :class:`ClaimVerdict` (:func:`claim_verdicts`,
:func:`loss_verdicts`, :func:`verdict_sentence`); :func:`analyze` computes all of them from one set
of draws per generator, plus the per-image views of :mod:`.profiles` (probability of improvement,
median and IQM, performance profiles). Each effect frame carries the uncorrected p-value and
interval and the family's adjusted ones (:mod:`.multiplicity`: Holm against gray, Benjamini-Hochberg
against Default). How intervals are made: :mod:`.bootstrap`; how well they cover, on the simulated
studies of :mod:`.simulate`: ``benchmarks/RESULTS.md``.

Cost (``benchmarks/bench_analysis.py``, B = 2000): the whole :func:`analyze` of 2 generators x 9
settings x 3 seeds x 7 metrics, with three losses, took 0.45 s with 47 images and 0.74 s with 2,000
(the paper's val split) on an "Intel(R) Xeon(R) Processor" (/proc/cpuinfo;
2 shared cores, load ~1.7); the forest plot of 4 metrics 0.9 s. Those figures predate the per-image
views (:mod:`.profiles`: weighted quantiles and profiles per replicate), which add to them; not
re-measured yet (the machine was at load 12-17 when they landed).
"""

from colorbench.analysis.effects import (
    Effect,
    GrayEffect,
    gray_counts,
    gray_effects,
    paired_effects,
    run_effects,
)
from colorbench.analysis.inputs import BASELINE, LOSS_COLUMNS
from colorbench.analysis.marks import BestMark, best_marks
from colorbench.analysis.profiles import aggregates, probabilities_of_improvement, profile_frame
from colorbench.analysis.summary import Analysis, analyze
from colorbench.analysis.verdict import (
    STUDY_CLAIM,
    ClaimVerdict,
    FactorInfluence,
    PairProbability,
    claim_verdicts,
    loss_verdicts,
    verdict_sentence,
)

__all__ = [
    "BASELINE",
    "LOSS_COLUMNS",
    "STUDY_CLAIM",
    "Analysis",
    "BestMark",
    "ClaimVerdict",
    "Effect",
    "FactorInfluence",
    "GrayEffect",
    "PairProbability",
    "aggregates",
    "analyze",
    "best_marks",
    "claim_verdicts",
    "gray_counts",
    "gray_effects",
    "loss_verdicts",
    "paired_effects",
    "probabilities_of_improvement",
    "profile_frame",
    "run_effects",
    "verdict_sentence",
]
