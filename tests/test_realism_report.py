"""Realism in reports: the C2ST per-set metric in a real smoke study, and the judges' fooling rate."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from colorbench.judge import db
from colorbench.judge.trials import draw_plan, study_candidates
from colorbench.measures.builtin import C2ST_ACCURACY
from colorbench.store import judgments_db_path

FORMATS = {
    "markdown": "report.md",
    "html": "report.html",
    "latex": "report.tex",
    "csv": "report.csv",
}
READ = {**FORMATS, "latex": "report-unet-verdict.tex"}  # LaTeX's realism lines: the verdict paragraph


def colorbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def smoke_study(module_tmp) -> Path:
    store = module_tmp("realism") / "runs"
    result = colorbench(
        "run", "--plugin", "unet", "--vary", "init", "--preset", "smoke",
        "--set", "num_samples=4", "--out", str(store),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return store


def report(store: Path, fmt: str, out: Path, *args: str) -> str:
    result = colorbench(
        "report", "--out", str(store), "--study", "unet-init", "--format", fmt, "--no-figures",
        "--output", str(out / FORMATS[fmt]), *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return (out / READ[fmt]).read_text()


def test_smoke_study_holds_c2st_and_every_format_shows_it_with_an_interval(smoke_study, tmp_path):
    summaries = [json.loads(p.read_text()) for p in smoke_study.rglob("summary.json")]
    assert len(summaries) == 3
    for summary in summaries:
        accuracy = summary["set_metrics"]["c2st_accuracy"]
        assert 0 <= accuracy["low"] <= accuracy["value"] <= accuracy["high"] <= 1
        assert accuracy["n"] == 5 and accuracy["cost_s"] > 0
        assert summary["final_val"]["c2st_accuracy"] == accuracy["value"]
        assert summary["baseline_gray"]["c2st_accuracy"] >= 0.9  # gray is told from real
    for fmt in FORMATS:
        text = report(smoke_study, fmt, tmp_path)
        # the interval is named as its declaration says (its measured coverage), in every format
        # (LaTeX escapes the label's "~" and "%": look for its number there)
        named = C2ST_ACCURACY.interval
        named = named.strip("~").replace("%", "\\%") if fmt == "latex" else f"({named} "
        assert "C2ST acc" in text and named in text, fmt
        assert "no one has judged this study yet" in text, fmt
        assert "gray: 1.00" in text, fmt
    frame = pd.read_csv(tmp_path / "report.csv")
    settings = frame[frame["setting"].isin(["default", "init=xavier", "init=kaiming"])]
    assert settings["c2st_accuracy_low"].notna().all() and (settings["c2st_accuracy_n"] == 5).all()
    assert (settings["fooling_n_answers"] == 0).all() and settings["fooling_rate"].isna().all()
    # A verdict may use a per-set metric; an unknown one is a one-line usage error.
    assert "Realism (C2ST AUC" in report(smoke_study, "markdown", tmp_path, "--metric", "c2st_auc")
    bad = colorbench(
        "report", "--out", str(smoke_study), "--study", "unet-init", "--format", "csv", "--metric", "x"
    )
    assert bad.returncode != 0 and "c2st_accuracy" in bad.stderr and "Traceback" not in bad.stderr


def test_twenty_judge_answers_give_the_fooling_rate_with_n_20(smoke_study, tmp_path):
    store = tmp_path / "runs"
    shutil.copytree(smoke_study, store, symlinks=True)
    connection = db.connect(db.initialize(judgments_db_path(store)))
    plan = draw_plan(
        study_candidates(store, "unet-init"), study="unet-init", judge="judge-aaaa", n_practice=2,
        n_test=20, show_ms=1000, planned={}, rng=random.Random(0),
    )  # fmt: skip
    db.insert_plan(connection, plan)
    fooled = 0
    for i, trial in enumerate(plan):  # every third test answer picks the colorized photo
        colorized = not trial.practice and i % 3 == 0
        fooled += colorized
        assert db.record_answer(
            connection, trial, trial.colorized_side if colorized else trial.real_side, 900.0
        )
    connection.close()
    text = report(store, "markdown", tmp_path)
    assert "n = 20 answers" in text and f"{fooled / 20:.0%} (95% Wilson" in text
    assert "no one has judged" not in text
    csv = report(store, "csv", tmp_path)
    frame = pd.read_csv(tmp_path / "report.csv")
    assert csv and frame["fooling_n_answers"].sum() == 20 and frame["fooling_n_judges"].max() == 1


def test_kid_is_shown_with_its_standard_deviation_and_small_values_keep_their_digits(tmp_path):
    """KID (unbiased) is read from a run's set metrics with its sd over subsets, never rounded to
    0.00, and a metric without an interval prints no empty bracket."""
    from colorbench.measures.builtin import KID
    from colorbench.report.realism import realism_lines, realism_rows

    def run(setting: str, seed: int, kid: float, sd: float) -> dict:
        metrics = {"kid": {"value": kid, "low": None, "high": None, "std": sd, "n": 47}}
        return {"generator": "unet", "setting": setting, "seed": seed, "status": "completed",
                "set_metrics": json.dumps(metrics)}  # fmt: skip

    runs = pd.DataFrame([run("baseline", 0, 0.0031, 0.0004), run("baseline", 1, 0.0035, 0.0006)])
    rows = realism_rows(tmp_path, "s", runs, "unet", {"baseline": "Default"})
    (line,) = [line for line in realism_lines(rows, runs, "unet", KID.name)[1:] if "KID" in line]
    assert "KID 0.0033 ± 0.0005 (± its sd, mean of 2 seeds'; n = 47 photos)" in line, line
    assert "(," not in line and "0.00 " not in line
