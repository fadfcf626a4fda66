"""What the reduced-scale JPEG decode (``Image.draft``) changes in prepared images, and what it saves.

For the built-in photos at each size: decode time of all photos (one thread, best of 3) with the
draft decode off, with colorbench's margin (never below 2x the target) and with margin 1, and the
Lab difference of each to the full decode: mean |dL|, mean |dab| and the per-image mean CIE76
colour difference (mean and largest over the photos).

    python benchmarks/check_jpeg_draft.py [--sizes 64 128]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np
import torch

from colorbench.color import rgb8_to_lab
from colorbench.data import DataSpec, images, select


def decode_all(paths, size: int, margin: int | None) -> tuple[torch.Tensor, float]:
    """(N, 3, S, S) Lab of every photo and the best-of-3 decode time; ``margin=None``: full decode."""
    patch = (
        mock.patch.object(images, "_draft_jpeg", lambda image, size: None)
        if margin is None
        else mock.patch.object(images, "JPEG_DRAFT_MARGIN", margin)
    )
    times = []
    with patch:
        for _ in range(3):
            t0 = time.perf_counter()
            rgb = [images.decode_image(p, size).rgb for p in paths]
            times.append(time.perf_counter() - t0)
    lab = rgb8_to_lab(torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2))
    return lab, min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    for size in args.sizes:
        selection = select(DataSpec(source="sample", size=size))
        paths = [e.path for e in selection.train + selection.val]
        full, full_s = decode_all(paths, size, None)
        print(f"size {size}: full decode {len(paths) / full_s:.0f} img/s (1 thread)")
        for margin in (images.JPEG_DRAFT_MARGIN, 1):
            lab, seconds = decode_all(paths, size, margin)
            diff = lab - full
            per_image = diff.pow(2).sum(1).sqrt().mean(dim=(1, 2))
            print(
                f"  margin {margin}: {len(paths) / seconds:.0f} img/s; "
                f"mean |dL| {diff[:, 0].abs().mean():.3f}, "
                f"mean |dab| {diff[:, 1:].abs().mean():.3f}; per-image mean dE76 {per_image.mean():.3f} "
                f"(largest {per_image.max():.3f})"
            )


if __name__ == "__main__":
    main()
