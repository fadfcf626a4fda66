"""Shared fixtures: small image sets written by the tests themselves (every bad-image case)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests never download weights (FID's Inception, LPIPS's AlexNet): a missing file is "not computed".
os.environ.setdefault("COLORBENCH_NO_DOWNLOAD", "1")
# Dry runs estimate from the store only: no probe's training steps in every plan check
# (tests/test_estimate.py runs the probe itself).
os.environ.setdefault("COLORBENCH_NO_PROBE", "1")

TEST_IMAGE_SIZE = (40, 30)  # width, height: tiny, so preparing is fast


def colour_image(seed: int, size=TEST_IMAGE_SIZE) -> Image.Image:
    """A colourful RGB image: smooth random gradients plus noise (clearly not grey)."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        a, b, c = rng.uniform(-1, 1, 3)
        channels.append(128 + 100 * np.sin(3 * a * xx + 3 * b * yy + 6 * c))
    rgb = np.stack(channels, axis=-1) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def png_rgb16(path: Path, rgb16: np.ndarray) -> None:
    """Write a 16-bit-per-channel RGB PNG (PIL cannot write one)."""
    height, width, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _write_bad_cases(root: Path) -> dict[str, tuple[str, str | None]]:
    """Write one file per bad-image case; return name -> (outcome, reason).

    outcome is "skipped" (reason = skip reason) or "converted" (reason = conversion) or "kept".
    """
    width, height = TEST_IMAGE_SIZE
    cases: dict[str, tuple[str, str | None]] = {}

    def path(name: str) -> Path:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    buffer = path("bad/truncated.jpg")
    colour_image(900).save(buffer, quality=95)
    data = buffer.read_bytes()
    buffer.write_bytes(data[: len(data) * 6 // 10])
    cases["bad/truncated.jpg"] = ("skipped", "truncated")

    path("bad/random_bytes.jpg").write_bytes(np.random.default_rng(1).bytes(2000))
    cases["bad/random_bytes.jpg"] = ("skipped", "unreadable")
    path("bad/empty.png").write_bytes(b"")
    cases["bad/empty.png"] = ("skipped", "unreadable")

    colour_image(901).convert("L").save(path("gray/gray_l.jpg"))
    cases["gray/gray_l.jpg"] = ("skipped", "grayscale")
    gray = np.asarray(colour_image(902).convert("L"))
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path("gray/gray_rgb.png"))
    cases["gray/gray_rgb.png"] = ("skipped", "grayscale-rgb")
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path("gray/gray_rgb.jpg"), quality=90)
    cases["gray/gray_rgb.jpg"] = ("skipped", "grayscale-rgb")
    Image.fromarray(np.asarray(gray, np.uint16) * 257).save(path("gray/gray16.png"))
    cases["gray/gray16.png"] = ("skipped", "grayscale")
    # Channel tolerance boundary: R = G + 2 is still grey, R = G + 3 is colour.
    flat = np.full((height, width), 120, np.int16) + np.arange(width)[None, :].astype(np.int16)
    for offset, outcome in ((2, ("skipped", "grayscale-rgb")), (3, ("kept", None))):
        rgb = np.stack([flat + offset, flat, flat], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(path(f"gray/tinted_{offset}.png"))
        cases[f"gray/tinted_{offset}.png"] = outcome

    colour_image(903).convert("CMYK").save(path("convert/cmyk.jpg"), quality=95)
    cases["convert/cmyk.jpg"] = ("converted", "cmyk")
    colour_image(904).convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(
        path("convert/palette.png")
    )
    cases["convert/palette.png"] = ("converted", "palette")
    png_rgb16(path("convert/rgb16.png"), np.asarray(colour_image(905)).astype(np.uint16) * 257)
    cases["convert/rgb16.png"] = ("converted", "16-bit")
    rgba = np.dstack([np.asarray(colour_image(906)), np.full((height, width), 255, np.uint8)])
    rgba[:, : width // 2, :3] = 0  # black under fully transparent pixels: must come out white
    rgba[:, : width // 2, 3] = 0
    Image.fromarray(rgba, "RGBA").save(path("convert/rgba.png"))
    cases["convert/rgba.png"] = ("converted", "alpha")
    write_exif_rotated(path("convert/exif_rotated.jpg"))
    cases["convert/exif_rotated.jpg"] = ("converted", "exif-rotated")
    return cases


def write_exif_rotated(path: Path) -> None:
    """A landscape JPEG stored red-left / blue-right with EXIF orientation 6 (rotate 90 degrees
    clockwise to display): shown upright it is a portrait with red on top, blue at the bottom."""
    width, height = TEST_IMAGE_SIZE
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (220, 30, 30)
    rgb[:, width // 2 :] = (30, 30, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(path, quality=95, exif=exif.tobytes())


@pytest.fixture
def make_image_folder(tmp_path):
    """Factory: ``make_image_folder(n_good=12, bad_cases=True, name="images")`` writes colour JPEG/PNG
    files (in sub-folders, one with an upper-case extension, plus a non-image file) and, if asked,
    one file per bad-image case. Returns ``(root, cases)``; ``cases`` maps relative names to
    (outcome, reason) for the bad cases."""

    def make(n_good: int = 12, bad_cases: bool = True, name: str = "images"):
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for i in range(n_good):
            sub = root / ("a" if i % 2 else "b/c")
            sub.mkdir(parents=True, exist_ok=True)
            ext = ".JPG" if i == 0 else (".png" if i % 3 == 0 else ".jpg")
            colour_image(i).save(sub / f"good_{i:03d}{ext}", quality=90)
        (root / "notes.txt").write_text("not an image")
        cases = _write_bad_cases(root) if bad_cases else {}
        return root, cases

    return make


@pytest.fixture
def make_coco_set(tmp_path):
    """Factory: a COCO-format set -- a flat image folder and an instances JSON.

    ``make_coco_set(n_good=12, bad_cases=True)`` -> ``(images_dir, annotations_path, cases, cats)``.
    Good images alternate between categories "cat" and "dog" (every third also has "person");
    bad cases are "person" only; one listed file ("missing.jpg", category "dog") is not on disk.
    ``cats`` maps file name -> set of category names.
    """

    def make(n_good: int = 12, bad_cases: bool = True):
        images_dir = tmp_path / "coco" / "train2017"
        images_dir.mkdir(parents=True, exist_ok=True)
        cats: dict[str, set[str]] = {}
        for i in range(n_good):
            name = f"{i:012d}.jpg"
            colour_image(100 + i).save(images_dir / name, quality=90)
            cats[name] = {"cat" if i % 2 else "dog"} | ({"person"} if i % 3 == 0 else set())
        cases = {}
        if bad_cases:
            nested = _write_bad_cases(tmp_path / "coco_bad")
            for rel, outcome in nested.items():
                flat = rel.replace("/", "_")
                (images_dir / flat).write_bytes((tmp_path / "coco_bad" / rel).read_bytes())
                cases[flat] = outcome
                cats[flat] = {"person"}
            cases["missing.jpg"] = ("skipped", "missing")
            cats["missing.jpg"] = {"dog"}
        categories = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]
        ids = {c["name"]: c["id"] for c in categories}
        images, annotations = [], []
        for image_id, name in enumerate(sorted(cats), start=1):
            images.append({"id": image_id, "file_name": name, "width": 40, "height": 30})
            for cat in sorted(cats[name]):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": ids[cat],
                        "bbox": [1, 1, 10, 10],
                        "area": 100,
                        "iscrowd": 0,
                    }
                )
        annotations_path = tmp_path / "coco" / "instances_train2017.json"
        annotations_path.write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories})
        )
        return images_dir, annotations_path, cases, cats

    return make


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory):
    """Factory: ``module_tmp(name)`` is a new folder for one module's shared results, removed when
    that module's tests end. A smoke run's checkpoint is ~220 MB (the full-width U-Net with Adam
    state), so studies kept to the session's end filled CI's disk (tests errored on copytree)."""
    import shutil

    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_dir(tmp_path_factory):
    """Tests never read or write the user's prepared-data cache (~/.cache/colorbench)."""
    import os

    previous = os.environ.get("COLORBENCH_CACHE")
    os.environ["COLORBENCH_CACHE"] = str(tmp_path_factory.mktemp("colorbench-cache"))
    yield
    if previous is None:
        os.environ.pop("COLORBENCH_CACHE", None)
    else:
        os.environ["COLORBENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    """20 real colour photo crops (scikit-image's sample photos), 48x40 px: training-sized data."""
    from skimage import data as skdata

    root = tmp_path_factory.mktemp("photos")
    sources = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    k = 0
    for img in sources:
        h, w = img.shape[:2]
        for i in range(5):
            y, x = (i * 37) % (h - 160), (i * 53) % (w - 192)
            crop = Image.fromarray(img[y : y + 160, x : x + 192]).resize((48, 40), Image.BICUBIC)
            crop.save(root / f"photo_{k:02d}.png")
            k += 1
    return root


@pytest.fixture
def bridged_venv():
    """Factory: ``bridged_venv(path)`` makes a virtualenv that also sees this interpreter's
    site-packages (torch, colorbench...), so that installing a test plugin into it leaves the shared
    environment untouched; returns its python."""
    import site
    import subprocess
    import sys

    def make(path: Path) -> Path:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        python = path / "bin" / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        lines = [f"import site; site.addsitedir({p!r})" for p in site.getsitepackages()]
        Path(purelib, "_colorbench_test_bridge.pth").write_text("\n".join(lines) + "\n")
        return python

    return make
