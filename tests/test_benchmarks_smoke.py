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
