"""The benchmark scripts still run (smallest settings); their figures are not checked here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str, cache: Path) -> str:
    env = {**os.environ, "COLORBENCH_CACHE": str(cache)}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "script, args, ratio",
    [
        ("bench_train.py", ("--case", "unet64", "--rounds", "1"), r"ratio \d+\.\d+x"),
        ("bench_data.py", (), r"prepare ratio \d+\.\d+x.*\n.*load ratio \d+\.\d+x"),
        ("bench_gpu.py", (), r"\| host \| \d+ \| 1\.00x \|\n\| device \| \d+ \| \d+\.\d+x \|"),
    ],
)
def test_benchmark_runs_and_prints_a_ratio(tmp_path, script, args, ratio):
    out = _run(script, *args, "--cache-dir", str(tmp_path / "cache"), cache=tmp_path / "cache")
    assert re.search(ratio, out), out
    if script != "bench_gpu.py":  # its CPU smoke mode has no machine line to give
        assert "machine:" in out


def test_c2st_benchmark_runs_and_grades_gray_above_real(tmp_path):
    out = _run("bench_c2st.py", "--cache-dir", str(tmp_path / "cache"), cache=tmp_path / "cache")
    assert "machine:" in out
    identical = re.search(r"\| real vs real \(identical\) \| 0\.50 \[0\.50, 0\.50\]", out)
    gray = re.search(r"\| gray \(ab = 0\) \| (\d\.\d\d)", out)
    assert identical and gray and float(gray.group(1)) > 0.9, out
    assert re.search(r"val photos \(47 photos x 2, 64 px\): median \d+\.\d+ s", out), out


def test_paper_projection_from_the_h200_figures_uses_the_estimator():
    """benchmarks/projection.py reads the earlier GPU run's table and schedules the study with
    colorbench.study.estimate: one GPU's time is the sum of the runs, eight GPUs' the waves'."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import projection
    finally:
        sys.path.remove(str(BENCHMARKS))
    figures = projection.figures_from_markdown(BENCHMARKS / "results" / "gpu-h200.md")
    assert figures.images_per_s[("unet", 16)] == 982 and figures.images_per_s[("zhang", 64)] == 1623
    assert len(projection.paper_settings()) == 9
    one, eight = projection.project(figures, 1), projection.project(figures, 8)
    assert len(one.runs) == 18
    assert one.wall_s == pytest.approx(sum(r.total_s for r in one.runs))
    # 100 epochs x 8,000 images at the measured 982 images/s: the Default unet run's steps.
    default = next(r for r in one.runs if r.label == "unet Default")
    assert default.train_s == pytest.approx(100 * 8000 / 982)
    assert max(r.total_s for r in one.runs) <= eight.wall_s < one.wall_s / 4
    text = "\n".join(projection.projection_lines(figures))
    assert "| 1 | 1.00x |" in text and "assumed" in text


@pytest.mark.slow
def test_gpu_script_runs_end_to_end_on_the_cpu(tmp_path):
    """bench_gpu.sh at smoke sizes on the CPU: every part, the projection at the end (figures unchecked)."""
    env = {**os.environ, "BENCH_DEVICE": "cpu", "OUT": str(tmp_path), "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "bench_gpu.sh")], capture_output=True, text=True, timeout=900, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scale = (tmp_path / "bench_scale.md").read_text()
    for part in ("| unet n_down_5 | 4 |", "| zhang | 2 |", "Checkpoint at 32 px", "| 2 | "):
        assert part in scale, scale
    assert "status completed" in (tmp_path / "train_cuda.log").read_text()


def test_analysis_benchmark_compares_metadata_read_once_with_per_lookup():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_analysis.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"per lookup \d+\.\d+ s, read once \d+\.\d+ s: ratio \d+\.\dx", result.stdout), (
        result.stdout
    )
