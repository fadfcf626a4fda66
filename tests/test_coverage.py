"""Calibration of the statistics on simulated studies with known effects (colorbench.analysis.simulate).

The reduced version of benchmarks/bench_coverage.py (full figures: benchmarks/RESULTS.md). 400
studies of 8 intervals give 3,200 intervals per case: the binomial SE of a 95% coverage is 0.39
points, so 94-96% is +/- 2.6 SE (more than the SE inflation from the intervals of one study sharing
Default's runs, measured ~1.1x). Plain Satterthwaite intervals that dropped a seed component reading
negative covered 92.9% (seed-dominated), which this bound fails.

The target, 94-96%, is not reached where the seed term is skewed (lognormal): the paired difference
of two skewed seed terms is symmetric but heavy-tailed, and a t interval with ~2 df is conservative
there (96.3-96.6% over 5,000 studies). No interval fixes it without under-covering normal seed
noise, which 3 seeds barely tell apart from it (benchmarks/bench_seed_shape.py; the last tests here check
its statistic). That case asserts it never under-covers and reports the miss as an expected failure
(xfail) instead of widening the bound.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from colorbench.analysis import simulate
from colorbench.analysis.effects import ImageContrasts
from colorbench.analysis.inputs import image_tables

N_STUDIES = 400
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
BY_NAME = {c.name: c for c in simulate.CASES}


SKEWED = "skewed seed term (lognormal)"


@pytest.mark.parametrize("name", list(BY_NAME))
def test_95_percent_intervals_cover_94_to_96_percent_with_3_seeds(name):
    found = simulate.coverage(BY_NAME[name], N_STUDIES, n_seeds=3, n_boot=100, seed=3)
    assert found.n_intervals == 8 * N_STUDIES
    assert found.coverage >= 0.94, found
    if name == SKEWED and found.coverage > 0.96:
        # Known miss (module docstring): conservative, never below the target.
        assert found.coverage <= 0.975, found
        pytest.xfail(f"skewed seed term: {found.coverage:.1%}, over the 94-96% target (conservative)")
    assert found.coverage <= 0.96, found


def test_skewed_seed_noise_keeps_the_familywise_false_beats_gray_rate_at_5_percent():
    # Three runs of a right-skewed seed term often sit together below the mean with a small spread;
    # against gray (no seed noise of its own) that read as "better than gray" in 8.7% of null
    # studies after Holm. The seed term's floor pooled over the settings brings it to ~1.5%.
    errors = simulate.gray_familywise(BY_NAME[SKEWED], 300, n_seeds=3, n_boot=100, seed=4)
    assert errors.holm <= 0.05, errors


def test_null_studies_keep_the_familywise_false_beats_gray_rate_at_5_percent():
    errors = simulate.null_errors(BY_NAME["seed-dominated"], 300, n_seeds=3, n_boot=100, seed=4)
    assert errors.fwer_beats_gray <= 0.05, errors
    # What the correction removes: at 5% per setting, 9 settings give far more false "beats gray".
    assert errors.fwer_beats_gray_uncorrected >= 0.10, errors
    assert errors.studies_any_significant <= 0.08, errors  # BH: FDR = FWER on null studies
    assert errors.false_exclusion <= 0.06, errors  # per interval: at most 5% + 2.5 SE


def test_the_interval_of_a_minus_b_is_the_negation_of_b_minus_a():
    per_image, gray = simulate.simulate_studies(
        np.random.default_rng(5), BY_NAME["uneven seed sd between settings"], 1
    )
    contrasts = ImageContrasts(image_tables(per_image, gray)[0], n_boot=500, seed=1)
    for a in range(9):
        for b in range(9):
            if a == b:
                continue
            ab, ba = contrasts.contrast(a, b, 0), contrasts.contrast(b, a, 0)
            assert ab.estimate == -ba.estimate and ab.p == ba.p
            assert (ab.low, ab.high) == (-ba.high, -ba.low)
            assert np.array_equal(ab.replicates, -ba.replicates)


def _results_row(case: str, *columns: str) -> list[str]:
    """The cells of RESULTS.md's calibration row for ``case`` whose first cells equal ``columns``."""
    text = (Path(__file__).parents[1] / "benchmarks" / "RESULTS.md").read_text()
    section = text.split("## Calibration of the statistics", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == case and cells[1 : 1 + len(columns)] == list(columns):
            return cells
    raise AssertionError(f"no row {case} {columns} in RESULTS.md")


def test_the_report_states_the_figures_of_benchmarks_results():
    """One set of figures: the report's note on intervals quotes RESULTS.md, and its claim holds there."""
    skewed = simulate.SKEWED_MEASURED
    assert _results_row(skewed.case)[1] == skewed.coverage  # 3 seeds, the first coverage column
    assert _results_row(skewed.case, "3")[6] == skewed.fwer_beats_gray  # beats gray, Holm
    results = (Path(__file__).parents[1] / "benchmarks" / "RESULTS.md").read_text()
    assert f"{skewed.n_null} null studies per row" in results
    for name in BY_NAME:
        if name != skewed.case:
            coverage = float(re.sub("%", "", _results_row(name)[1]))
            assert 94.0 <= coverage <= 96.0, (name, coverage)
    from colorbench.report.notes import calibration_note

    assert skewed.coverage in calibration_note() and skewed.fwer_beats_gray in calibration_note()


def test_the_seed_shape_statistic_is_scale_free_and_sees_the_skewed_term_only_weakly():
    """benchmarks/bench_seed_shape.py's argument rests on this statistic: under normal seed noise its
    null is exact whatever each setting's sd (uneven case: mean 0, sd 1), and with 3 seeds a skewness-6
    seed term moves it by less than one sd on average (so no interval can adapt to the shape)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_seed_shape
    finally:
        sys.path.remove(str(BENCHMARKS))
    cases = {c.name: c for c in simulate.CASES}
    rng = np.random.default_rng(8)
    per_image, _ = simulate.simulate_studies(rng, cases["uneven seed sd between settings"], 600)
    z = np.array(list(bench_seed_shape.pooled_skewness_z(per_image).values()))
    assert len(z) == 600
    assert abs(z.mean()) < 4 / np.sqrt(600) and 0.9 < z.std() < 1.1, (z.mean(), z.std())
    per_image, _ = simulate.simulate_studies(rng, cases[SKEWED], 600)
    z = np.array(list(bench_seed_shape.pooled_skewness_z(per_image).values()))
    assert 0.5 < z.mean() < 1.2, z.mean()


def test_seed_shape_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_seed_shape.py"), "--studies", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| 0.97 |" in result.stdout and "studies flagged" in result.stdout
