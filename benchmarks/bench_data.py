"""Data throughput: colorbench's prepared cache against the plain per-item Dataset, on the built-in photos.

Two comparisons, each timed in interleaved rounds (reference, colorbench, reference, ...) so that
load from other processes on the machine hits both sides alike:

1. Conversion: ``colorbench.data.prepare`` building a fresh cache of every selected photo (decode,
   resize, Lab, float16 on disk; the one-time cost) against one pass of the reference Dataset's
   ``__getitem__`` over the same photos (decode, resize, ``skimage.color.rgb2lab``; paid on every
   epoch by the reference).
2. Loading: ``BatchLoader`` batches from the memory-mapped cache against a torch ``DataLoader``
   over the reference Dataset (``num_workers=0``, as below), both on the train split, batch 16.

The reference Dataset is the one the popular pix2pix colorization tutorial (and the study's code,
built on it) uses: PIL ``open().convert("RGB")``, torchvision ``Resize((S, S), BICUBIC)`` and
``RandomHorizontalFlip`` on the train split, ``rgb2lab``, ``ToTensor``, ``L/50 - 1``, ``ab/110``.

    python benchmarks/bench_data.py [--sizes 64 256] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2lab
from torchvision import transforms

from colorbench.data import BatchLoader, DataSpec, prepare, select

TARGET_PREPARE = 3.0  # issue 7: preparing the cache >= 3x the reference's per-item conversion
TARGET_LOAD = 50.0  # issue 7: loading from the cache >= 50x the reference Dataset


class ReferenceDataset(torch.utils.data.Dataset):
    """The tutorial's ``ColorizationDataset``: everything per item, in ``__getitem__``."""

    def __init__(self, paths: list[Path], size: int, split: str = "train") -> None:
        if split == "train":
            self.transforms = transforms.Compose(
                [
                    transforms.Resize((size, size), transforms.InterpolationMode.BICUBIC),
                    transforms.RandomHorizontalFlip(),
                ]
            )
        else:
            self.transforms = transforms.Resize((size, size), transforms.InterpolationMode.BICUBIC)
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = Image.open(self.paths[idx]).convert("RGB")
        img = self.transforms(img)
        img = np.array(img)
        img_lab = rgb2lab(img).astype("float32")
        img_lab = transforms.ToTensor()(img_lab)
        L = img_lab[[0], ...] / 50.0 - 1.0
        ab = img_lab[[1, 2], ...] / 110.0
        return L, ab


def reference_loader(
    dataset: ReferenceDataset, batch_size: int, workers: int = 0
) -> torch.utils.data.DataLoader:
    """How the tutorial batches it (``pin_memory`` only matters with a GPU, so it is left off here)."""
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True
    )


def sample_spec(size: int, limit: int | None = None) -> DataSpec:
    return DataSpec(source="sample", size=size, limit=limit)


def machine_line() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {model}, {cores} cores usable, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.2f}"
    )


def _ratio_line(name: str, ratios: list[float], target: float) -> str:
    median = statistics.median(ratios)
    verdict = "met" if median >= target else "MISSED"
    rounds = ", ".join(f"{r:.1f}" for r in ratios)
    return f"{name} ratio {median:.1f}x (rounds: {rounds}); target >= {target:g}x: {verdict}"


def bench_conversion(size: int, rounds: int, limit: int | None) -> dict:
    """Fresh ``prepare`` of the whole selection vs one reference pass over the same photos."""
    spec = sample_spec(size, limit)
    selection = select(spec)
    paths = [e.path for e in selection.train + selection.val]
    reference = ReferenceDataset(paths, size, split="val")  # no flip: conversion only
    reference[0]  # imports and first-call costs out of the timing
    ref_rates, cb_rates, ratios = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(len(reference)):
            reference[i]
        ref_rate = len(reference) / (time.perf_counter() - t0)
        cache = tempfile.mkdtemp(prefix="colorbench-bench-")
        try:
            t0 = time.perf_counter()
            data = prepare(spec, cache_dir=cache, progress=False)
            seconds = time.perf_counter() - t0
            used = data.meta["used"]
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        cb_rate = used / seconds
        ref_rates.append(ref_rate)
        cb_rates.append(cb_rate)
        ratios.append(cb_rate / ref_rate)
    return {
        "images": len(paths),
        "reference": statistics.median(ref_rates),
        "colorbench": statistics.median(cb_rates),
        "ratios": ratios,
    }


def _epoch_rate(make_iter, min_seconds: float) -> float:
    """Images/s of whole epochs, repeated until ``min_seconds`` have passed."""
    images, t0 = 0, time.perf_counter()
    while True:
        for l_batch, _ in make_iter():
            images += l_batch.shape[0]
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return images / elapsed


def bench_loading(size: int, rounds: int, limit: int | None, batch: int, cache_dir: str | None) -> dict:
    """Epochs of BatchLoader from the prepared cache vs DataLoader over the reference Dataset."""
    spec = sample_spec(size, limit)
    data = prepare(spec, cache_dir=cache_dir, progress=False)
    selection = select(spec)
    batch = min(batch, data.train_l.shape[0])
    reference = reference_loader(ReferenceDataset([e.path for e in selection.train], size), batch)
    loader = BatchLoader(data.train_l, data.train_ab, batch, shuffle=True, seed=0, flip=True, drop_last=True)
    epoch = {"n": 0}

    def cache_epoch():
        epoch["n"] += 1
        loader.set_epoch(epoch["n"])
        return loader

    next(iter(reference))
    next(iter(cache_epoch()))
    ref_rates, cb_rates, ratios = [], [], []
    for _ in range(rounds):
        ref_rate = _epoch_rate(lambda: reference, 0.0)  # one epoch is long enough
        cb_rate = _epoch_rate(cache_epoch, 0.5)
        ref_rates.append(ref_rate)
        cb_rates.append(cb_rate)
        ratios.append(cb_rate / ref_rate)
    return {
        "images": int(data.train_l.shape[0]),
        "batch": batch,
        "reference": statistics.median(ref_rates),
        "colorbench": statistics.median(cb_rates),
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sizes in px")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per comparison")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="use only this many photos")
    parser.add_argument("--cache-dir", default=None, help="cache for the loading comparison")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 32 px, 24 photos, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.limit, args.batch = [32], 1, 24, 4
    print(machine_line())
    print(
        "reference: PIL decode + torchvision Resize/flip + skimage rgb2lab per item, DataLoader num_workers=0"
    )
    print("| size | step | images | reference img/s | colorbench img/s | ratio (median) | target |")
    print("|---:|---|---:|---:|---:|---:|---|")
    verdicts = []
    for size in args.sizes:
        conv = bench_conversion(size, args.rounds, args.limit)
        print(
            f"| {size} | convert: prepare() vs per-item | {conv['images']} | {conv['reference']:.0f} | "
            f"{conv['colorbench']:.0f} | {statistics.median(conv['ratios']):.1f}x | >= {TARGET_PREPARE:g}x |",
            flush=True,
        )
        verdicts.append(_ratio_line(f"{size} px prepare", conv["ratios"], TARGET_PREPARE))
        load = bench_loading(size, args.rounds, args.limit, args.batch, args.cache_dir)
        print(
            f"| {size} | load: BatchLoader vs DataLoader, batch {load['batch']} | {load['images']} | "
            f"{load['reference']:.0f} | {load['colorbench']:.0f} | "
            f"{statistics.median(load['ratios']):.1f}x | "
            f">= {TARGET_LOAD:g}x |",
            flush=True,
        )
        verdicts.append(_ratio_line(f"{size} px load", load["ratios"], TARGET_LOAD))
    print()
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
