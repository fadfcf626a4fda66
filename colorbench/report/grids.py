"""Image grids: one row per val image; columns grey input | each setting's prediction | ground truth.

The images are chosen from the per-image metrics, not taken first-come: the Default setting's
most, typically (median) and least improved over gray (on the report's metric), plus any the user names
(``--images``). Every run saves its predictions for the first val images (``num_samples``), and the
store keeps the grey inputs and truths once per data split, so the choice is made among those.
Each prediction tile is labelled with its seed and its own value of the metric (CIEDE2000 by
default); the image ids and their licences go under the grid (``Figure.credits``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import pil_to_tensor, resize

from colorbench.data.attribution import credit
from colorbench.errors import ColorbenchError
from colorbench.store import RunDirectory, Status, Store
from colorbench.store.rundir import samples_of_kind

TILE_PX = 112  # tiles are scaled to this side: big enough to see colour, a page holds the grid
PADDING, MARGIN, FONT_PX = 3, 6, 13
BLANK_GREY = 0.85


@dataclass(frozen=True)
class GridImage:
    index: int  # position in the val split (= the saved sample's number)
    image_id: str
    why: str  # "most/typically/least improved" (over gray, not quality) or "asked for"


def _font(size: int = FONT_PX):
    # matplotlib's DejaVu Sans (always installed with it) has the Greek of "ΔE00"; PIL's own does not.
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=False), size)
    except (ImportError, OSError, ValueError):
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _caption_value(metric: str, value: float) -> str:
    from colorbench.measures import find_measure

    measure = find_measure(metric)  # its short label and number format, as declared
    return measure.caption(value) if measure is not None else f"{metric} {value:.3g}"


def _default_runs(runs: pd.DataFrame) -> pd.DataFrame:
    done = runs[(runs["status"] == Status.COMPLETED.value) & runs["run_dir"].notna()]
    return done.sort_values(["order", "seed"]).groupby("order", sort=True).head(1)


def choose_images(
    per_image: pd.DataFrame,
    gray: pd.DataFrame,
    image_ids: list[str],
    n_saved: int,
    metric: str,
    direction: str,
    asked: list[str],
) -> list[GridImage]:
    """Most, typically (median) and least improved Default over gray among saved images, then ``asked``."""
    candidates = image_ids[:n_saved]
    default = per_image[(per_image["setting"] == "default") & per_image["image_id"].isin(candidates)]
    chosen: list[GridImage] = []
    if not default.empty and not gray.empty:
        seed = default["seed"].min()
        mine = default[default["seed"] == seed].set_index("image_id")[metric]
        reference = gray.set_index("image_id")[metric].reindex(mine.index)
        gain = (reference - mine) if direction == "lower" else (mine - reference)
        ranked = gain.sort_values(ascending=False)
        picks = [
            ("most improved", ranked.index[0]),
            ("typically improved", ranked.index[len(ranked) // 2]),
            ("least improved", ranked.index[-1]),
        ]
        for why, image_id in picks:
            if all(c.image_id != image_id for c in chosen):
                chosen.append(GridImage(candidates.index(image_id), image_id, why))
    for image_id in asked:
        if image_id not in candidates:
            raise ColorbenchError(
                f"--images {image_id!r}: not among the {len(candidates)} val images whose predictions "
                f"every run saved (raise num_samples to save more); e.g. {', '.join(candidates[:3])}"
            )
        if all(c.image_id != image_id for c in chosen):
            chosen.append(GridImage(candidates.index(image_id), image_id, "asked for"))
    return chosen


def _load(path: Path | None) -> torch.Tensor | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            tensor = pil_to_tensor(image.convert("RGB")).float() / 255.0
    except (OSError, ValueError):
        return None  # a missing or broken sample file shows as a blank tile
    return resize(tensor, [TILE_PX, TILE_PX], antialias=True)


def _reference_path(
    store: Store, data_key: str | None, source_run: RunDirectory, index: int, kind: str
) -> Path | None:
    """Grey input or truth: the store's copy for the split, else (older stores) the run's own."""
    if data_key:
        path = store.baseline(data_key).sample_path(index, kind)
        if path.exists():
            return path
    path = source_run.sample_path(index, kind)
    return path if path.exists() else None


def image_grid(
    runs: pd.DataFrame,
    per_image: pd.DataFrame,
    gray: pd.DataFrame,
    root: Path,
    metric: str,
    direction: str,
    asked,
) -> tuple[bytes, list[str]] | None:
    """(PNG, credit lines) of one generator's grid, or None when no run saved predictions."""
    shown = _default_runs(runs)
    if shown.empty:
        return None
    store = Store(root)
    data_key = shown["data_key"].dropna().iloc[0] if shown["data_key"].notna().any() else None
    record = store.baseline(data_key).read_record() if data_key else None
    n_saved = min(
        (len(samples_of_kind(str(v).split(","), "pred")) for v in shown["samples"].dropna()),
        default=0,
    )
    if not n_saved:
        return None
    image_ids = list(record["image_ids"]) if record else [str(i) for i in range(n_saved)]
    mine = per_image[per_image["generator"] == runs["generator"].iloc[0]]
    chosen = choose_images(mine, gray, image_ids, n_saved, metric, direction, list(asked))
    if not chosen:
        chosen = [GridImage(i, image_ids[i], "first") for i in range(min(3, n_saved))]
    source = RunDirectory(shown["run_dir"].iloc[0])
    blank = torch.full((3, TILE_PX, TILE_PX), BLANK_GREY)
    labels = [
        "grey input",
        *[str(label) for label in runs.groupby("order", sort=True)["label"].first()],
        "ground truth",
    ]
    by_order = {int(r.order): r for r in shown.itertuples(index=False)}
    orders = sorted(int(o) for o in runs["order"].unique())
    tiles, captions = [], []
    for image in chosen:
        tiles.append(_load(_reference_path(store, data_key, source, image.index, "input")))
        gray_value = (
            gray.set_index("image_id")[metric].get(image.image_id) if metric in gray.columns else None
        )
        # Gray's score belongs under the grey input (what gray predicts), never under the truth.
        gray_text = f"\ngray {_caption_value(metric, gray_value)}" if gray_value is not None else ""
        captions.append(image.why + gray_text)
        for order in orders:
            run = by_order.get(order)
            if run is None:
                tiles.append(None)
                captions.append(f"{runs[runs['order'] == order]['status'].iloc[0]}")
                continue
            tiles.append(_load(RunDirectory(run.run_dir).sample_path(image.index, "pred")))
            hit = (mine["run_id"] == run.run_id) & (mine["image_id"] == image.image_id)
            value = mine.loc[hit, metric] if metric in mine.columns else pd.Series([], dtype=float)
            delta = f" · {_caption_value(metric, value.iloc[0])}" if len(value) else ""
            captions.append(f"seed {run.seed}{delta}")
        tiles.append(_load(_reference_path(store, data_key, source, image.index, "truth")))
        captions.append("")
    png = _draw(tiles, captions, labels, len(orders) + 2, blank)
    source_kind = shown["data_source"].dropna().iloc[0] if shown["data_source"].notna().any() else None
    credits = [f"{c.why}: {c.image_id} ({credit(c.image_id, source_kind)})" for c in chosen]
    return png, credits


def _draw(tiles, captions, headers, n_cols: int, blank: torch.Tensor) -> bytes:
    font, small = _font(FONT_PX), _font(FONT_PX - 2)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3]
    header_h = 2 * line_h + 2 * MARGIN
    caption_h = 2 * line_h + MARGIN  # the grey input's: why it was chosen, then gray's score
    n_rows = len(tiles) // n_cols
    cell_w, cell_h = TILE_PX + PADDING, TILE_PX + caption_h + PADDING
    canvas = Image.new("RGB", (MARGIN + n_cols * cell_w, header_h + n_rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for c, header in enumerate(headers):
        x = MARGIN + c * cell_w + TILE_PX / 2
        words, lines, line = header.split(), [], ""
        for word in words:  # wrap a long label onto two lines
            trial = f"{line} {word}".strip()
            if probe.textlength(trial, font=font) > TILE_PX and line:
                lines.append(line)
                line = word
            else:
                line = trial
        lines = [*lines, line][:2]
        for k, text in enumerate(lines):
            draw.text((x, MARGIN + k * line_h), text, fill="black", font=font, anchor="mt")
    for i, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
        r, c = divmod(i, n_cols)
        x, y = MARGIN + c * cell_w, header_h + r * cell_h
        pixels = (blank if tile is None else tile).clamp(0, 1).mul(255).round().to(torch.uint8)
        canvas.paste(Image.fromarray(pixels.permute(1, 2, 0).numpy()), (x, y))
        for k, text in enumerate(caption.split("\n")):
            at = (x + TILE_PX / 2, y + TILE_PX + 2 + k * line_h)
            draw.text(at, text, fill="dimgray", font=small, anchor="mt")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
