"""Streaming decode -> Lab -> float16 arrays for one selection (the body of a preparation).

Images are decoded by a small thread pool (PIL releases the GIL while decoding and resampling)
with a bounded window of pending results, converted to Lab in batches with
:func:`colorbench.color.rgb_to_lab`, normalised, and appended to memory-mapped ``.npy`` files, so
memory stays at a few batches whatever the number of images.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from colorbench.color import normalize_lab, rgb_to_lab
from colorbench.data import images
from colorbench.data.npyfile import RowWriter
from colorbench.data.sources import ImageEntry, Selection

LAB_BATCH = 64
STORE_DTYPE = np.float16


def decode_workers() -> int:
    """Decoder threads: one per core, at most 8 (``COLORBENCH_DECODE_WORKERS`` overrides)."""
    configured = os.environ.get("COLORBENCH_DECODE_WORKERS")
    if configured:
        return max(1, int(configured))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


def _decode_stream(
    entries: Iterable[ImageEntry], size: int, pool: ThreadPoolExecutor, window: int
) -> Iterator[tuple[ImageEntry, images.DecodedImage]]:
    """Decode ``entries`` in order, with at most ``window`` decodes in flight."""
    pending: deque = deque()
    it = iter(entries)
    for entry in itertools.islice(it, window):
        # images.decode_image is looked up at call time so tests can replace it.
        pending.append((entry, pool.submit(images.decode_image, entry.path, size)))
    while pending:
        entry, future = pending.popleft()
        following = next(it, None)
        if following is not None:
            pending.append((following, pool.submit(images.decode_image, following.path, size)))
        yield entry, future.result()


def rgb_batch_to_normalised_lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, S, S, 3) uint8 sRGB -> normalised L (B, 1, S, S) and ab (B, 2, S, S) float16."""
    tensor = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0)
    l_norm, ab_norm = normalize_lab(rgb_to_lab(tensor))
    return l_norm.numpy().astype(STORE_DTYPE), ab_norm.numpy().astype(STORE_DTYPE)


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
    """Collects decoded images of one split into Lab batches appended to its two ``.npy`` files."""

    def __init__(self, out_dir: Path, split: str, size: int, max_rows: int):
        self.l_file = RowWriter(out_dir / f"{split}_l.npy", (1, size, size), STORE_DTYPE, max_rows)
        self.ab_file = RowWriter(out_dir / f"{split}_ab.npy", (2, size, size), STORE_DTYPE, max_rows)
        self.batch: list[np.ndarray] = []

    def add(self, rgb: np.ndarray) -> None:
        self.batch.append(rgb)
        if len(self.batch) == LAB_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            l_rows, ab_rows = rgb_batch_to_normalised_lab(np.stack(self.batch))
            self.l_file.append(l_rows)
            self.ab_file.append(ab_rows)
            self.batch.clear()

    def close(self) -> None:
        self.flush()
        self.l_file.close()
        self.ab_file.close()


def build_arrays(selection: Selection, out_dir: Path, progress: bool = False) -> dict:
    """Write ``{train,val}_{l,ab}.npy`` for ``selection`` into ``out_dir``; return the meta report."""
    from tqdm import tqdm

    size = selection.spec.size
    report = _Report()
    workers = decode_workers()
    window = max(LAB_BATCH, 4 * workers)
    bar = tqdm(total=selection.selected, desc="preparing images", unit="img", disable=not progress)
    with images.strict_pil(), ThreadPoolExecutor(max_workers=workers) as pool, bar:
        for split, entries in (("train", selection.train), ("val", selection.val)):
            writer = _SplitWriter(out_dir, split, size, len(entries))
            for entry, decoded in _decode_stream(entries, size, pool, window):
                report.add(split, entry, decoded)
                if decoded.ok:
                    writer.add(decoded.rgb)
                bar.update(1)
            writer.close()
    return report.as_meta()
