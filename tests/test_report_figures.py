"""Figures with one run far off the rest: the forest plot and the curves keep the bulk readable.

He init's +20.9 ΔE00 (the example study) squashed every other interval and curve. Both figures now
clip the axis to the bulk and draw the outlier off scale at the panel's edge, its value printed and
explained in the legend; panel titles come from the measures' declarations. The tests read the
matplotlib artists (text, limits, legend), so each fails if the outlier's value is not printed or
still sets the axis.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from colorbench.analysis.profiles import PROFILE_COLUMNS
from colorbench.report.curves import curves_figure, far_runs
from colorbench.report.forest import forest_figure, off_scale
from colorbench.report.per_image import profile_figure
from colorbench.store.reader import GRAY_PREFIX

SETTINGS = ["Lower LR", "Higher LR", "Lower batch", "Higher batch", "Glorot init", "He init", "n_down = 5"]
ESTIMATES = [-0.3, 0.2, -0.1, 0.4, 0.25, 20.9, -0.5]


def _effects(estimates) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        {
            "generator": "unet",
            "setting": f"s{k}",
            "label": label,
            "metric": "ciede2000",
            "estimate": e,
            "low": e - 0.3,
            "high": e + 0.3,
            "basis": "seeds and images",
        }
        for k, (label, e) in enumerate(zip(SETTINGS, estimates, strict=True))
    ]
    gray = pd.DataFrame(
        [
            {
                "generator": "unet",
                "setting": "default",
                "metric": "ciede2000",
                "estimate": -1.0,
                "low": -1.3,
                "high": -0.7,
            }
        ]
    )
    return pd.DataFrame(rows), gray


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_off_scale_picks_the_effect_far_beyond_the_median():
    assert off_scale(ESTIMATES) == [False] * 5 + [True, False]
    assert off_scale([0.1, 20.0, 0.2]) == [False] * 3  # too few effects to call one typical
    assert off_scale([0.0] * 5) == [False] * 5


def test_forest_draws_the_outlier_off_scale_with_its_value_and_keeps_the_bulk_readable():
    effects, gray = _effects(ESTIMATES)
    fig = forest_figure(effects, gray, ["ciede2000"], generator_labels={"unet": "U-Net"})
    (ax,) = [a for a in fig.findobj(lambda a: hasattr(a, "get_xlim") and a.get_visible()) if a.get_title()]
    low, high = ax.get_xlim()
    assert high < 5 and low > -5  # the axis spans the bulk (and gray), not +20.9
    texts = _texts(fig)
    assert "+20.9 [20.6, 21.2]" in texts  # the off-scale effect's value and interval, printed
    assert any(t.startswith("off scale") for t in _legend_texts(fig))
    assert ax.get_title() == "ΔE00"  # the declared short label, not the key
    assert any(t.startswith("U-Net: change from Default") for t in texts)
    assert not any("unet" in t or "ciede2000" in t for t in texts)
    legend = " ".join(_legend_texts(fig))
    assert "grey band" in legend and "interval excludes 0" in legend and "interval includes 0" in legend


def test_forest_without_an_outlier_draws_every_effect_on_scale():
    effects, gray = _effects([e if e < 5 else 0.3 for e in ESTIMATES])
    fig = forest_figure(effects, gray, ["ciede2000"])
    assert not any(t.startswith("off scale") for t in _legend_texts(fig))
    assert not any("[" in t for t in _texts(fig) if t.startswith(("+", "−")))


def test_far_runs_flags_only_a_run_far_from_the_others():
    assert far_runs([14.0, 14.2, 13.9, 14.1, 35.0, 14.05]) == [False] * 4 + [True, False]
    assert far_runs([14.0, 14.0, 14.0, 14.0]) == [False] * 4
    assert far_runs([14.0, 35.0, 14.1]) == [False] * 3  # too few runs


@pytest.fixture
def curve_runs(tmp_path) -> pd.DataFrame:
    """Four settings x 2 seeds, val ΔE00 around 14; He init's seed 1 sits near 35 (final 35.1)."""
    rows = []
    for order, label in enumerate(["Default", "Lower LR", "Higher LR", "He init"]):
        for seed in (0, 1):
            run_dir = tmp_path / f"run{order}{seed}"
            run_dir.mkdir()
            far = label == "He init" and seed == 1
            lines = []
            for epoch in range(1, 7):
                value = 35.1 + 0.1 * (6 - epoch) if far else 14 + 0.3 * np.sin(epoch + order + seed)
                lines.append(
                    {
                        "epoch": epoch,
                        "loss_G_GAN": 1.0 + 0.01 * epoch,
                        "loss_D": 0.6,
                        "loss_G_L1": 5.0,
                        "ciede2000": value,
                    }
                )
            (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
            rows.append(
                {
                    "order": order,
                    "label": label,
                    "seed": seed,
                    "status": "completed",
                    "run_dir": str(run_dir),
                    GRAY_PREFIX + "ciede2000": 16.0,
                }
            )
    return pd.DataFrame(rows)


def test_curves_clip_a_far_run_and_print_its_value(curve_runs):
    fig = curves_figure(curve_runs, "ciede2000")
    metric_axes = [a for a in fig.axes if a.get_ylabel() in ("Default", "Lower LR", "Higher LR", "He init")]
    assert metric_axes
    val_axes = [a for a in fig.axes if a.get_title().startswith("val ΔE00")]
    assert len(val_axes) == 1  # the declared short label, not "val ciede2000"
    low, high = val_axes[0].get_ylim()
    assert high < 20 and low > 10  # the bulk (14 +- 0.3 and gray's 16), not 35
    texts = _texts(fig)
    assert "35.1" in texts  # the far run's last value, printed at the edge
    assert any(t.startswith("off scale") for t in _legend_texts(fig))


def test_curves_without_a_far_run_mark_nothing(curve_runs):
    near = curve_runs[curve_runs["label"] != "He init"]
    fig = curves_figure(near, "ciede2000")
    assert not any(t.startswith("off scale") for t in _legend_texts(fig))


def _axes_legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def _profiles(medians: dict[str, float]) -> pd.DataFrame:
    """Profiles of settings whose per-image improvements are spread evenly around ``medians``."""
    rows = []
    taus = np.linspace(-25, 5, 121)
    for label, centre in medians.items():
        for tau in taus:
            share = float(np.clip(0.5 - (tau - centre) / 4, 0, 1))
            band = (share * 0.9, min(1, share * 1.1))
            rows.append(("g", label, label, "ciede2000", "default", tau, share, *band, 3, 20))
    return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))


def test_profile_names_a_far_setting_with_its_median_and_keeps_the_others_readable():
    medians = {"Lower LR": 0.4, "Higher LR": -0.3, "Lower batch": -1.0, "Higher batch": 0.8, "He init": -21.0}
    fig = profile_figure(_profiles(medians), "g", "ciede2000", "G")
    legend = _axes_legend(fig)
    assert any(t.startswith("He init: off scale, median −2") for t in legend), legend
    low, high = fig.axes[0].get_xlim()
    assert low > -6 and high < 6  # the bulk's range, not -25
    lines = {line.get_label() for line in fig.axes[0].get_lines()}
    assert {"Lower LR", "Higher LR", "Lower batch", "Higher batch"} <= lines


def test_profile_without_a_far_setting_draws_them_all():
    medians = {"Lower LR": 0.4, "Higher LR": -0.3, "Lower batch": -1.0, "Higher batch": 0.8}
    fig = profile_figure(_profiles(medians), "g", "ciede2000", "G")
    assert not any("off scale" in t for t in _axes_legend(fig))
