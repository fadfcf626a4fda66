"""Multiplicity control, gray-degenerate metrics, the verdict's wording and the per-image views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from colorbench.analysis import (
    analyze,
    best_marks,
    gray_counts,
    gray_effects,
    paired_effects,
    simulate,
    verdict_sentence,
)
from colorbench.analysis import profiles as views
from colorbench.analysis.effects import NOT_COMPARED, gray_degenerate
from colorbench.analysis.multiplicity import benjamini_hochberg, holm

REALISTIC = simulate.CASES[0]


def test_holm_and_benjamini_hochberg_match_hand_computed_values():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005 0.01 0.03 0.04 times 4 3 2 1 -> 0.02 0.03 0.06 0.04, running max.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1 4/2 4/3 4/4 -> 0.02 0.02 0.04 0.04, running min from the top.
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_effects_carry_uncorrected_and_adjusted_numbers_that_agree():
    per_image, _ = simulate.simulate_studies(np.random.default_rng(1), REALISTIC, 3)
    effects = paired_effects(per_image, n_boot=200)
    assert (effects["p_adjusted"] >= effects["p"]).all()
    assert effects["adjustment"].str.startswith("Benjamini-Hochberg over").all()
    # The FCR-adjusted interval excludes 0 exactly where BH selects the effect.
    excludes = (effects["low_adjusted"] > 0) | (effects["high_adjusted"] < 0)
    assert (excludes == effects["significant"]).all()
    assert (
        (effects["high_adjusted"] - effects["low_adjusted"]) >= (effects["high"] - effects["low"]) - 1e-12
    ).all()


def _with_dcf(per_image: pd.DataFrame, gray: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """|ΔCF| as it behaves: gray's equals the truth's colourfulness (large), every tint's is smaller."""
    rng = np.random.default_rng(2)
    per_image = per_image.assign(dcf=20 + rng.standard_normal(len(per_image)))
    gray = gray.assign(dcf=40.0)
    return per_image, gray


def test_dcf_never_counts_as_beating_gray():
    per_image, gray = simulate.simulate_studies(np.random.default_rng(2), REALISTIC, 1, gray_offset=-3.0)
    per_image, gray = _with_dcf(per_image, gray)
    assert "dcf" in gray_degenerate()
    frame = gray_effects(per_image, gray, n_boot=200)
    dcf = frame[frame["metric"] == "dcf"]
    assert len(dcf) == 9 and (dcf["versus_gray"] == NOT_COMPARED).all()
    assert (dcf["high"] < 0).all()  # every setting's |ΔCF| is far below gray's: "better" by construction
    assert set(gray_counts(frame)["metric"]) == {"ciede2000"}
    marks = {m.column: m for m in best_marks(per_image, gray, n_boot=200)}
    # Nothing beats gray on ΔE00 here; on |ΔCF| gray is not a condition, so no "none beats gray".
    assert marks["ciede2000"].status == "none beats gray"
    assert marks["dcf"].status != "none beats gray"


def test_the_verdict_says_what_p_is_its_chance_level_and_when_power_is_missing():
    per_image, gray = simulate.simulate_studies(np.random.default_rng(3), REALISTIC, 1, effects={})
    result = analyze(per_image, gray, n_boot=500)
    (verdict,) = result.metric_verdicts
    assert verdict.chance == pytest.approx(1 / 24)
    sentence = verdict_sentence(verdict)
    assert "share of bootstrap replicates" in sentence and "1/24 = 0.042 for 4 factors" in sentence
    assert "not a p-value" in sentence
    assert 0 <= verdict.power < 0.2 and "almost no power for the claim" in sentence


def test_power_is_high_when_the_claim_holds_clearly():
    effects = {"init_kaiming": 3.0, "batch_low": 2.0, "layers_down": 1.0, "lr_high": 0.2}
    per_image, gray = simulate.simulate_studies(np.random.default_rng(4), REALISTIC, 1, effects=effects)
    (verdict,) = analyze(per_image, gray, n_boot=1000).metric_verdicts
    assert verdict.verdict == "supported" and verdict.power > 0.5  # measured 0.70


def test_probability_of_improvement_aggregates_and_profiles():
    per_image, gray = simulate.simulate_studies(np.random.default_rng(5), REALISTIC, 1)
    copy = per_image["setting"] == "lr_low"
    default = per_image[per_image["setting"] == "default"].set_index(["seed", "image_id"])["ciede2000"]
    per_image.loc[copy, "ciede2000"] = [
        default[(s, i)] for s, i in per_image.loc[copy, ["seed", "image_id"]].to_numpy()
    ]
    better = per_image["setting"] == "lr_high"
    per_image.loc[better, "ciede2000"] = (
        per_image.loc[copy, "ciede2000"].to_numpy() - 0.5
    )  # better on every pair
    result = analyze(per_image, gray, n_boot=500)
    poi = result.improvement.set_index(["reference", "setting"])
    assert poi.loc[("default", "lr_low"), "probability"] == 0.5  # ties throughout
    assert poi.loc[("default", "lr_high"), "probability"] == 1.0
    assert (poi["low"] <= poi["probability"]).all() and (poi["probability"] <= poi["high"]).all()
    assert set(result.improvement["reference"]) == {"default", "gray"}
    agg = result.aggregates.set_index(["setting", "statistic"])
    values = per_image.loc[per_image["setting"] == "init_xavier", "ciede2000"].to_numpy()
    assert agg.loc[("init_xavier", "mean"), "estimate"] == pytest.approx(values.mean())
    assert agg.loc[("init_xavier", "median"), "estimate"] == pytest.approx(np.sort(values)[len(values) // 2])
    middle = np.sort(values)[int(len(values) * 0.25) : int(np.ceil(len(values) * 0.75))]
    assert agg.loc[("init_xavier", "iqm"), "estimate"] == pytest.approx(middle.mean(), abs=0.05)
    assert (agg["low"] <= agg["high"]).all()
    profile = result.profiles
    assert set(profile["reference"]) == {"default", "gray"} and set(profile["metric"]) == {"ciede2000"}
    for _, curve in profile.groupby(["reference", "setting"]):
        share = curve.sort_values("threshold")["share"].to_numpy()
        assert (np.diff(share) <= 0).all() and share[0] >= share[-1]
    assert (
        (profile["low"] <= profile["share"] + 1e-12) & (profile["share"] <= profile["high"] + 1e-12)
    ).mean() > 0.95
    lr_high = profile[(profile["reference"] == "default") & (profile["setting"] == "lr_high")]
    assert (lr_high.loc[lr_high["threshold"] < 0.5, "share"] == 1).all()  # every image improves by 0.5
    frame = views.profile_frame(
        per_image, gray, reference="gray", metrics=["ciede2000"], thresholds=[0.0, 1.0], n_boot=200
    )
    assert len(frame) == 9 * 2 and set(frame["threshold"]) == {0.0, 1.0}
