"""A real (tiny) study, trained by the CLI, then ``colorbench report --format all``: every file, every figure.

The other report tests use stores built to known answers (tests/store_builder.py); this one checks
that what the trainer really writes (per-image Parquet, samples, the gray baseline, histories)
is what the reporter reads.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest
from PIL import Image


def _colorbench(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *map(str, args)], capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def real_study(module_tmp):
    out = module_tmp("real") / "runs"
    result = _colorbench(
        "run", "--plugin", "unet", "--vary", "init", "--seeds", "2", "--preset", "smoke",
        "--set", "epochs=2", "--set", "eval_every=1", "--set", "num_samples=4",
        "--study", "real", "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "colorbench report" in result.stdout  # the closing line names the next command
    return out


def test_report_all_formats_from_a_real_study(real_study, tmp_path):
    target = tmp_path / "report"
    result = _colorbench(
        "report", "--out", real_study, "--study", "real", "--format", "all", "--output", target / "r"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = {p.name for p in target.iterdir()}
    for name in ("r.html", "r.md", "r.tex", "r.csv"):
        assert name in written, written

    pngs = sorted(n for n in written if n.endswith(".png"))
    for kind in ("grid", "curves", "forest"):
        assert any(kind in name for name in pngs), pngs
    for name in pngs:
        with Image.open(target / name) as image:
            assert image.width > 300 and image.height > 200, name

    html = (target / "r.html").read_text()
    # Every figure the page shows exists beside it.
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        assert (target / src).exists(), src
    # The grid's images are credited from the sample set's attribution file (licence named).
    credits = re.findall(r"((?:most|typically|least) improved)[^:<]*: [^<]+\(([^)<]+)\)", html)
    assert {why for why, _ in credits} >= {"most improved", "typically improved", "least improved"}, credits
    assert all("user data" not in text for _, text in credits)
    # The scale note, the verdict and the gray headline reach every text format.
    for name in ("r.html", "r.md", "r.tex"):
        text = (target / name).read_text()
        assert "demonstration" in text, name
        assert "beat gray" in text, name
    rows = list(csv.DictReader((target / "r.csv").open()))
    assert {r["label"] for r in rows} >= {"Default", "Glorot init", "He init"}


def test_report_of_user_data_says_user_data(photo_dir, tmp_path):
    out = tmp_path / "runs"
    result = _colorbench(
        "run", "--plugin", "unet", "--vary", "init", "--preset", "smoke", "--data", f"folder:{photo_dir}",
        "--set", "data_limit=none", "--set", "data_seed=1", "--study", "mine", "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    result = _colorbench(
        "report", "--out", out, "--study", "mine", "--format", "markdown", "--output", tmp_path / "r.md"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "user data" in (tmp_path / "r.md").read_text()
