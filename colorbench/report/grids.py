"""Image grids of the fixed val images: rows = settings, columns = grey input, prediction, ground truth.

Each run saves the same val images (``samples/NNN_{input,pred,truth}.png``, same indices in every
run of a study). Per generator one PNG: a block of three columns (grey input, the setting's
prediction, ground truth) per val image, side by side, one row per setting in the table's order,
built with :func:`torchvision.utils.make_grid`. A setting without samples (infeasible, diverged,
not started) gets a blank tile; the prediction shown is the lowest completed seed's.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import pil_to_tensor, resize
from torchvision.utils import make_grid

MAX_IMAGES = 4  # val images per grid; more make the page too wide to read
# Tiles are scaled to a side between these: small samples (32 px smoke runs) up so the column
# names fit over them, large ones (256 px) down so a page holds the grid; it is for looking, not measuring.
MIN_TILE_PX, MAX_TILE_PX = 72, 128
PADDING, BLOCK_GAP, MARGIN = 2, 10, 6
BLANK_GREY = 0.85
COLUMN_NAMES = ("grey input", "prediction", "ground truth")
SHORT_COLUMN_NAMES = ("grey", "prediction", "truth")  # for tiles too narrow for the full names
_SAMPLE = re.compile(r"^(\d+)_(input|pred|truth)\.png$")


@dataclass(frozen=True)
class GridRow:
    label: str
    run_dir: Path | None  # None: nothing to show (blank tiles)
    seed: int | None


def _font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _samples(value) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for name in str(value or "").split(","):
        match = _SAMPLE.match(name.strip())
        if match:
            found.setdefault(int(match.group(1)), set()).add(match.group(2))
    return found


def grid_rows(runs: pd.DataFrame) -> list[GridRow]:
    """One row per setting (table order): the lowest completed seed that saved samples, if any."""
    rows = []
    for _, group in runs.groupby("order", sort=True):
        done = group[(group["status"] == "completed") & group["samples"].notna() & group["run_dir"].notna()]
        done = done.sort_values("seed")
        label = str(group["label"].iloc[0])
        if done.empty:
            rows.append(GridRow(f"{label} ({group['status'].iloc[0]})", None, None))
        else:
            rows.append(GridRow(label, Path(done["run_dir"].iloc[0]), int(done["seed"].iloc[0])))
    return rows


def _load(path: Path, size: tuple[int, int] | None) -> torch.Tensor | None:
    try:
        with Image.open(path) as image:
            tensor = pil_to_tensor(image.convert("RGB")).float() / 255.0
    except (OSError, ValueError):
        return None  # a missing or broken sample file shows as a blank tile
    if size is not None and tuple(tensor.shape[-2:]) != size:
        tensor = resize(tensor, list(size), antialias=True)
    return tensor


def _tile_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        w, h = image.size
    scale = min(max(1.0, MIN_TILE_PX / max(w, h)), MAX_TILE_PX / max(w, h))
    return max(1, round(h * scale)), max(1, round(w * scale))


def image_grid(runs: pd.DataFrame) -> bytes | None:
    """The grid PNG for one generator of one study (load_runs' rows), or None without any samples."""
    rows = grid_rows(runs)
    source = next((r for r in rows if r.run_dir is not None), None)
    if source is None:
        return None
    first = runs[runs["run_dir"] == str(source.run_dir)]["samples"].iloc[0]
    indices = [i for i, kinds in sorted(_samples(first).items()) if kinds >= {"input", "pred", "truth"}]
    indices = indices[:MAX_IMAGES]
    if not indices:
        return None
    size = _tile_size(source.run_dir / "samples" / f"{indices[0]:03d}_input.png")
    blank = torch.full((3, *size), BLANK_GREY)

    def tile(run_dir: Path | None, index: int, kind: str) -> torch.Tensor:
        loaded = _load(run_dir / "samples" / f"{index:03d}_{kind}.png", size) if run_dir else None
        return blank if loaded is None else loaded

    blocks = []
    for index in indices:
        grey, truth = tile(source.run_dir, index, "input"), tile(source.run_dir, index, "truth")
        tiles = [t for r in rows for t in (grey, tile(r.run_dir, index, "pred"), truth)]
        blocks.append(make_grid(tiles, nrow=3, padding=PADDING, pad_value=1.0))
    gap = torch.ones(3, blocks[0].shape[1], BLOCK_GAP)
    body = torch.cat([t for b in blocks for t in (b, gap)][:-1], dim=2)
    return _annotate(body, rows, size, len(indices), blocks[0].shape[2])


_ANCHORS = {"left-middle": "lm", "center-top": "mt", "center-baseline": "ms"}


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, align: str, fill: str) -> None:
    """Text placed by anchor ("left-middle": row labels, "center-top", "center-baseline": headers).

    The bitmap fallback font has no anchors; there the bounding box places it, close enough.
    """
    try:
        draw.text(xy, text, fill=fill, font=font, anchor=_ANCHORS[align])
        return
    except ValueError:
        pass
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = xy
    x = x - left if align.startswith("left") else x - (left + right) / 2
    y = {"middle": y - (top + bottom) / 2, "top": y - top, "baseline": y - bottom}[align.split("-")[1]]
    draw.text((x, y), text, fill=fill, font=font)


def _annotate(body: torch.Tensor, rows: list[GridRow], size: tuple[int, int], n_images: int, block_w: int):
    """Row labels on the left and column names on top (PIL text), then PNG bytes."""
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    seeds = {r.seed for r in rows if r.seed is not None}
    labels = [r.label + (f" (seed {r.seed})" if len(seeds) > 1 and r.seed is not None else "") for r in rows]
    label_w = max(int(probe.textlength(t, font=font)) for t in labels) + 2 * MARGIN
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3]
    header_h = 2 * line_h + 3 * MARGIN
    pixels = (body.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    canvas = Image.new("RGB", (label_w + pixels.shape[1], header_h + pixels.shape[0]), "white")
    canvas.paste(Image.fromarray(pixels), (label_w, header_h))
    draw = ImageDraw.Draw(canvas)
    h, w = size
    fits = all(probe.textlength(n, font=font) <= w + PADDING for n in COLUMN_NAMES)
    names = COLUMN_NAMES if fits else SHORT_COLUMN_NAMES
    for r, text in enumerate(labels):
        _text(
            draw, (MARGIN, header_h + PADDING + r * (h + PADDING) + h / 2), text, font, "left-middle", "black"
        )
    for b in range(n_images):
        x0 = label_w + b * (block_w + BLOCK_GAP)
        _text(draw, (x0 + block_w / 2, MARGIN), f"val image {b + 1}", font, "center-top", "black")
        for c, name in enumerate(names):
            x = x0 + PADDING + c * (w + PADDING) + w / 2
            _text(draw, (x, header_h - MARGIN - 2), name, font, "center-baseline", "dimgray")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
