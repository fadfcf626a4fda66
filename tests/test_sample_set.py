"""Checks of the built-in sample photo set (colorbench/data/sample); fast, no network."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image, ImageChops

ALLOWED_LICENCE = re.compile(r"^(public-domain|CC0-1\.0|CC-BY-\d\.\d|CC-BY-SA-\d\.\d)$")
COLUMNS = [
    "file",
    "source_package",
    "package_version",
    "original_path",
    "author",
    "licence",
    "original_url",
    "licence_evidence",
]
MAX_TOTAL_BYTES = 15 * 1024 * 1024


def _sample_dir() -> Path:
    try:
        d = Path(str(resources.files("colorbench") / "data" / "sample"))
        if (d / "ATTRIBUTION.csv").is_file():
            return d
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[1] / "colorbench" / "data" / "sample"


SAMPLE = _sample_dir()
IMAGES = sorted((SAMPLE / "images").glob("*.jpg"))


@pytest.fixture(scope="module")
def rows():
    with open(SAMPLE / "ATTRIBUTION.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def _colour_fraction(im: Image.Image, tol: int = 12) -> float:
    """Fraction of pixels where some pair of channels differs by more than `tol`."""
    r, g, b = im.split()
    d = ImageChops.lighter(
        ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b)),
        ImageChops.difference(r, b),
    )
    h = d.histogram()
    return sum(h[tol + 1 :]) / sum(h)


def test_enough_images():
    assert len(IMAGES) >= 150
    assert {p.suffix for p in (SAMPLE / "images").iterdir()} == {".jpg"}


def test_names_follow_pattern():
    for p in IMAGES:
        assert re.fullmatch(r"[a-z]+__[A-Za-z0-9_-]+\.jpg", p.name), p.name


def test_total_size_under_limit():
    total = sum(p.stat().st_size for p in IMAGES)
    assert total < MAX_TOTAL_BYTES, total


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_image_is_rgb_jpeg_256_colour(path):
    with Image.open(path) as im:
        assert im.format == "JPEG"
        assert im.mode == "RGB"
        assert min(im.size) == 256, im.size
        assert "exif" not in im.info or im.getexif().get(0x0112, 1) == 1
        assert _colour_fraction(im.convert("RGB")) >= 0.005, "grayscale image"


def test_one_row_per_image_and_vice_versa(rows):
    files = [r["file"] for r in rows]
    assert len(files) == len(set(files)), "duplicate rows"
    assert sorted(files) == sorted("images/" + p.name for p in IMAGES)


def test_licences_allowed_and_documented(rows):
    for r in rows:
        assert ALLOWED_LICENCE.match(r["licence"]), (r["file"], r["licence"])
        for col in ("source_package", "package_version", "original_path", "author", "licence_evidence"):
            assert r[col].strip(), (r["file"], col)
        assert r["original_url"] == "" or r["original_url"].startswith(("http://", "https://"))


def test_readme_matches(rows):
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert f"{len(rows)} real colour photographs" in text
    for lic in {r["licence"] for r in rows}:
        n = sum(r["licence"] == lic for r in rows)
        assert f"| {lic} | {n} |" in text
