"""Streaming decode -> Lab -> float16 arrays for one selection (the body of a preparation).

Each chunk of images (about 256 x 256 pixels in all) is decoded, converted to Lab
(:func:`colorbench.color.rgb8_to_lab`), normalised and cast to float16 by one worker of a small
thread pool (PIL and torch release the GIL), with a bounded window of pending chunks; the main
thread appends the rows to the ``.npy`` files, so memory stays at a few chunks whatever the
number of images. While the pool runs, torch uses one intra-op thread: the workers already
keep the cores busy, and converting images where they were decoded, while they are in the cache,
measured faster than converting batches of 64 on all cores (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from colorbench.color import normalize_lab, rgb8_to_lab
from colorbench.data import images
from colorbench.data.npyfile import RowWriter
from colorbench.data.sources import ImageEntry, Selection
from colorbench.data.spec import DataSpec

STORE_DTYPE = np.float16
STORE_TORCH_DTYPE = torch.float16
CHUNK_PIXELS = 256 * 256


def decode_workers() -> int:
    """Decoder threads: one per core, at most 8 (``COLORBENCH_DECODE_WORKERS`` overrides)."""
    configured = os.environ.get("COLORBENCH_DECODE_WORKERS")
    if configured:
        return max(1, int(configured))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


Rows = tuple[np.ndarray, np.ndarray]


def rgb_to_normalised_lab(rgb: np.ndarray) -> Rows:
    """(..., S, S, 3) uint8 sRGB -> normalised L (..., 1, S, S) and ab (..., 2, S, S) float16."""
    l_norm, ab_norm = normalize_lab(rgb8_to_lab(torch.from_numpy(rgb).movedim(-1, -3)))
    # torch's float16 cast rounds as numpy's does (to nearest even) and is several times faster.
    return l_norm.to(STORE_TORCH_DTYPE).numpy(), ab_norm.to(STORE_TORCH_DTYPE).numpy()


def chunk_length(size: int) -> int:
    """Images per worker job: about 256 x 256 pixels' worth, so that at small sizes the fixed cost
    of each torch call is shared by many images and at large sizes a job still fits in the cache."""
    return max(1, CHUNK_PIXELS // (size * size))


def decode_and_convert(
    paths: list[Path], size: int, resize: str = "crop", keep_gray: bool = False
) -> list[tuple[images.DecodedImage, Rows | None]]:
    """One worker job: each image decoded (for the report) with its rows if it is kept."""
    # images.decode_image is looked up at call time so tests can replace it.
    decoded = [images.decode_image(path, size, resize=resize, keep_gray=keep_gray) for path in paths]
    kept = [d.rgb for d in decoded if d.ok]
    l_rows, ab_rows = rgb_to_normalised_lab(np.stack(kept)) if kept else ((), ())
    rows = iter(zip(l_rows, ab_rows, strict=True))
    return [(d, next(rows) if d.ok else None) for d in decoded]


def _convert_stream(
    entries: list[ImageEntry], spec: DataSpec, pool: ThreadPoolExecutor, window: int
) -> Iterator[tuple[ImageEntry, images.DecodedImage, Rows | None]]:
    """Decode and convert ``entries`` in order, in chunks, with at most ``window`` chunks in flight."""
    step = chunk_length(spec.size)
    chunks = (entries[i : i + step] for i in range(0, len(entries), step))

    def submit(chunk: list[ImageEntry]):
        paths = [e.path for e in chunk]
        return pool.submit(decode_and_convert, paths, spec.size, spec.resize, spec.keep_gray)

    pending: deque = deque()
    for chunk in itertools.islice(chunks, window):
        pending.append((chunk, submit(chunk)))
    while pending:
        chunk, future = pending.popleft()
        following = next(chunks, None)
        if following is not None:
            pending.append((following, submit(following)))
        for entry, (decoded, rows) in zip(chunk, future.result(), strict=True):
            yield entry, decoded, rows


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Report:
    def __init__(self) -> None:
        self.skipped: Counter = Counter()
        self.skipped_files: list[dict] = []
        self.converted: Counter = Counter()
        self.converted_files: list[dict] = []
        self.upscaled = 0
        self.files: dict[str, list[str]] = {"train": [], "val": []}

    def add(self, split: str, entry: ImageEntry, decoded: images.DecodedImage) -> None:
        if not decoded.ok:
            self.skipped[decoded.skip_reason] += 1
            self.skipped_files.append(
                {"file": entry.name, "split": split, "reason": decoded.skip_reason, "detail": decoded.detail}
            )
            return
        self.files[split].append(entry.name)
        self.upscaled += decoded.upscaled
        if decoded.conversions:
            self.converted.update(decoded.conversions)
            self.converted_files.append(
                {"file": entry.name, "split": split, "conversions": list(decoded.conversions)}
            )

    def as_meta(self) -> dict:
        def ordered(counter: Counter, names: tuple[str, ...]) -> dict:
            return {name: counter[name] for name in names if counter[name]}

        return {
            "used": len(self.files["train"]) + len(self.files["val"]),
            "train": len(self.files["train"]),
            "val": len(self.files["val"]),
            "skipped": ordered(self.skipped, images.SKIP_REASONS),
            "converted": ordered(self.converted, images.CONVERSION_REASONS),
            "upscaled": self.upscaled,
            "skipped_files": self.skipped_files,
            "converted_files": self.converted_files,
            "train_files": self.files["train"],
            "val_files": self.files["val"],
        }


class _SplitWriter:
    """Appends the rows of one split's images to its two ``.npy`` files."""

    def __init__(self, out_dir: Path, split: str, size: int, max_rows: int):
        self.l_file = RowWriter(out_dir / f"{split}_l.npy", (1, size, size), STORE_DTYPE, max_rows)
        self.ab_file = RowWriter(out_dir / f"{split}_ab.npy", (2, size, size), STORE_DTYPE, max_rows)

    def add(self, rows: Rows) -> None:
        l_row, ab_row = rows
        self.l_file.append(l_row[None])
        self.ab_file.append(ab_row[None])

    def close(self) -> None:
        self.l_file.close()
        self.ab_file.close()


def build_arrays(selection: Selection, out_dir: Path, progress: bool = False) -> dict:
    """Write ``{train,val}_{l,ab}.npy`` for ``selection`` into ``out_dir``; return the meta report."""
    from tqdm import tqdm

    size = selection.spec.size
    report = _Report()
    workers = decode_workers()
    window = 2 * workers
    bar = tqdm(total=selection.selected, desc="preparing images", unit="img", disable=not progress)
    threads = _torch_threads(1) if workers > 1 else contextlib.nullcontext()
    with images.strict_pil(), threads, ThreadPoolExecutor(max_workers=workers) as pool, bar:
        for split, entries in (("train", selection.train), ("val", selection.val)):
            writer = _SplitWriter(out_dir, split, size, len(entries))
            for entry, decoded, rows in _convert_stream(entries, selection.spec, pool, window):
                report.add(split, entry, decoded)
                if rows is not None:
                    writer.add(rows)
                bar.update(1)
            writer.close()
    return report.as_meta()
