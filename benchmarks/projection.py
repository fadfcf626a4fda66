"""Projected wall time of the paper's study on GPUs, with the dry run's own estimator.

The study: both generators, the nine one-factor-at-a-time settings of ``colorbench.factors``
(Default, lr x2, batch 8 and 32, init x2, two depth variants), 100 epochs of 8,000 train images
(256 px), one final evaluation on 2,000 val images, checkpoints on the trainer's default time
budget. Every run is costed and scheduled by :func:`colorbench.study.estimate.estimate_study`,
the same arithmetic ``colorbench run --dry-run`` prints, from measured figures:

- training images/s per generator and batch (``bench_gpu.py`` measures 8, 16 and 32);
- the packed throughput of N runs sharing one GPU relative to one run (``bench_gpu.py``);
- one checkpoint save at 256 px, and each worker's start-up.

``bench_gpu.py`` calls :func:`projection_lines` with what it measured; run as a script, this module
projects from the figures of an earlier GPU run's Markdown (``benchmarks/results/gpu-h200.md``),
which lack some of them: what is assumed instead is printed with the projection.

    python benchmarks/projection.py benchmarks/results/gpu-h200.md
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from colorbench.factors import ALL_FACTORS, FACTORS
from colorbench.study.estimate import Costs, RunShape, duration, estimate_study, train_images_per_epoch

PAPER_EPOCHS = 100
PAPER_TRAIN_IMAGES = 8000
PAPER_VAL_IMAGES = 2000
PAPER_BATCH = 16
DEPTH_VARIANTS = 2  # the layers factor: the default depth's two neighbours
TARGET_S = 3600.0  # issue 23: the paper study in under an hour on one H200


def paper_settings() -> list[tuple[str, int]]:
    """(label, batch size) of the study's nine settings per generator, from the factor table."""
    settings = [("Default", PAPER_BATCH)]
    for name in ALL_FACTORS:
        factor = FACTORS[name]
        if factor.from_plugin_depth:
            settings += [(f"{name} {i + 1}", PAPER_BATCH) for i in range(DEPTH_VARIANTS)]
        else:
            for level in factor.levels:
                batch = level if factor.field == "batch_size" else PAPER_BATCH
                settings.append((f"{name}={level}", batch))
    return settings


@dataclass
class Figures:
    """What a projection is made from; ``assumed`` says which of it is not measured."""

    images_per_s: dict[tuple[str, int], float]  # (generator, batch) -> training images/s, one run
    packing_speedup: dict[int, dict[str, float]] = field(default_factory=dict)  # N -> generator -> x
    checkpoint_s: float = 0.0  # one save at 256 px
    worker_start_s: float = 0.0  # a worker's start-up (process, CUDA, data onto the GPU)
    eval_images_per_s: dict[str, float] = field(default_factory=dict)  # generator -> val images/s
    gflop_per_image: dict[str, float] = field(default_factory=dict)  # generator -> one training step's
    peak_tflops: float | None = None  # the measured bf16 matmul peak
    packing_assumed: bool = False  # packing_speedup is an assumption, not a measurement
    source: str = ""
    assumed: list[str] = field(default_factory=list)


def project(figures: Figures, devices: int, runs_per_device: int = 1):
    """The paper study's estimate on ``devices`` GPUs with ``runs_per_device`` runs on each."""
    generators = sorted({g for g, _ in figures.images_per_s})
    shapes = []
    for generator in generators:
        costs = {}
        for label, batch in paper_settings():
            if batch not in costs:
                rate = figures.images_per_s[(generator, batch)]
                eval_rate = figures.eval_images_per_s.get(generator) or rate
                costs[batch] = Costs(
                    train_s_per_image=1 / rate,
                    eval_s_per_image=1 / eval_rate,
                    checkpoint_s=figures.checkpoint_s,
                    source=figures.source,
                )
            shape = RunShape(
                label=f"{generator} {label}",
                generator=generator,
                epochs=PAPER_EPOCHS,
                total_epochs=PAPER_EPOCHS,
                train_images_per_epoch=train_images_per_epoch(PAPER_TRAIN_IMAGES, batch),
                val_images=PAPER_VAL_IMAGES,
            )
            shapes.append((shape, costs[batch]))
    # The packed gain measured for each generator; the study mixes both: their mean.
    gains = figures.packing_speedup.get(runs_per_device, {})
    speedup = sum(gains.values()) / len(gains) if gains else 1.0
    return estimate_study(
        shapes,
        workers=devices * runs_per_device,
        runs_per_device=runs_per_device,
        packing_speedup=min(speedup, runs_per_device),
        worker_start_s=figures.worker_start_s,
    )


def projection_lines(figures: Figures, packings: tuple[int, ...] = (1, 2, 4, 8)) -> list[str]:
    """A Markdown table: the projected wall time on 1 and 8 GPUs for each runs-per-device N."""
    n_runs = len(paper_settings()) * len({g for g, _ in figures.images_per_s})
    lines = [
        f"Projected wall time of the paper study ({n_runs} runs: both generators x {len(paper_settings())} "
        f"settings, {PAPER_EPOCHS} epochs x {PAPER_TRAIN_IMAGES:,} images at 256 px, final evaluation on "
        f"{PAPER_VAL_IMAGES:,}), from {figures.source}, by colorbench.study.estimate:",
        "",
        "| runs per GPU | packed speedup | 1 GPU | 8 GPUs | longest run (8 GPUs) | 1 GPU under 1 h? |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for n in packings:
        gains = figures.packing_speedup.get(n)
        if n > 1 and not gains:
            continue
        one, eight = project(figures, 1, n), project(figures, 8, n)
        speedup = "1.00x" if n == 1 else f"{sum(gains.values()) / len(gains):.2f}x"
        if n > 1 and figures.packing_assumed:
            speedup += " (assumed)"
        longest = max(r.total_s for r in eight.runs)
        lines.append(
            f"| {n} | {speedup} | {duration(one.wall_s)} | {duration(eight.wall_s)} | {duration(longest)} | "
            f"{'yes' if one.wall_s < TARGET_S else 'no'} |"
        )
    lines += ["", *limits(figures)]
    lines += [f"- assumed: {a}" for a in figures.assumed]
    return lines


def limits(figures: Figures) -> list[str]:
    """What bounds the projection: the GPU's work per image, and on 8 GPUs the longest runs."""
    single = project(figures, 1)
    steps = sum(r.train_s for r in single.runs)
    other = single.wall_s - steps
    eight = project(figures, 8)
    longest = max(single.runs, key=lambda r: r.total_s)
    waves = math.ceil(len(single.runs) / 8)
    lines = []
    if figures.gflop_per_image and figures.peak_tflops:
        images = PAPER_EPOCHS * sum(
            train_images_per_epoch(PAPER_TRAIN_IMAGES, b) for _, b in paper_settings()
        )
        flop = sum(images * g * 1e9 for g in figures.gflop_per_image.values())
        at_peak = flop / (figures.peak_tflops * 1e12)
        left = TARGET_S - other  # the hour, less evaluation, saves and start-up
        need = (
            f"under 1 hour on one GPU needs about {100 * at_peak / left:.0f}% utilisation, averaged"
            if left > 0
            else "evaluation, saves and start-up alone take more than the hour"
        )
        lines.append(
            f"- the study's training steps are {flop / 1e18:.2f} EFLOP: {duration(at_peak)} at 100% of the "
            f"measured bf16 peak ({figures.peak_tflops:.0f} TFLOP/s); {need}"
        )
    return lines + [
        f"- one GPU, one run at a time: {duration(steps)} of training steps of {duration(single.wall_s)} "
        f"({100 * steps / single.wall_s:.0f}%; evaluation, saves and start-up {duration(other)}): the "
        "limit is the step's throughput at the study's small batches, i.e. its FLOP utilisation",
        f"- 8 GPUs: {len(single.runs)} runs in {waves} waves; the longest run ({longest.label}, "
        f"{duration(longest.total_s)} alone) bounds the wall time ({duration(eight.wall_s)}) unless "
        "packing shortens it",
    ]


# ---------------------------------------------------------------------- from a results file
ROW = re.compile(r"^\| (unet|zhang) \S+ 256px b(\d+) \| (\d+) \|", re.M)
GFLOP_ROW = re.compile(r"^\| (unet|zhang) \S+ 256px b\d+ \| \d+ \| ([\d.]+) \|", re.M)


def figures_from_markdown(path: Path) -> Figures:
    """The throughput table of ``bench_gpu.py``'s output (an earlier GPU run), with assumptions
    for what it did not measure (stated in ``assumed``)."""
    text = Path(path).read_text()
    measured = {(g, int(b)): float(v) for g, b, v in ROW.findall(text)}
    if not measured:
        raise SystemExit(f"{path}: no throughput rows (| unet ... 256px bN | images/s |) found")
    figures = Figures(dict(measured), source=f"the figures in {path}")
    figures.gflop_per_image = {g: float(f) for g, f in GFLOP_ROW.findall(text)}
    peak = re.search(r"measured bf16 matmul peak (\d+) TFLOP/s", text)
    figures.peak_tflops = float(peak.group(1)) if peak else None
    ratios = {
        g: measured[(g, 64)] / measured[(g, PAPER_BATCH)]
        for g in {g for g, _ in measured}
        if (g, 64) in measured and (g, PAPER_BATCH) in measured
    }
    if ratios:  # four runs of batch 16 at best as fast as one of batch 64
        figures.packing_speedup[4] = ratios
        figures.packing_assumed = True
    for generator in sorted({g for g, _ in measured}):
        batches = sorted(b for g, b in measured if g == generator)
        for batch in sorted({b for _, b in paper_settings()}):
            if (generator, batch) in measured:
                continue
            figures.images_per_s[(generator, batch)] = _power_law(measured, generator, batches, batch)
        figures.assumed.append(
            f"{generator}: images/s at batch "
            + ", ".join(
                f"{b} = {figures.images_per_s[(generator, b)]:.0f}"
                for b in sorted({b for _, b in paper_settings()})
                if (generator, b) not in measured
            )
            + f", on the power law through the measured batches {', '.join(map(str, batches))}"
        )
    figures.checkpoint_s = CPU_CHECKPOINT_256_S
    figures.assumed += [
        "depth variants train at their generator's default-depth rate",
        f"a checkpoint save at 256 px takes {CPU_CHECKPOINT_256_S} s, as measured on the CPU machine's disk "
        "(benchmarks/RESULTS.md; the GPU machine's disk was not measured)",
        "evaluation runs at the training rate (forward only is faster: an over-estimate, seconds per run)",
        "no worker start-up; packing was not measured in that run: the 4-per-GPU row takes four packed "
        "batch-16 runs to reach one batch-64 run's images/s, an optimistic bound",
    ]
    return figures


CPU_CHECKPOINT_256_S = 26.93  # benchmarks/RESULTS.md, "Checkpoint cost", unet n_down_8 686 MB


def _power_law(measured: dict, generator: str, batches: list[int], batch: int) -> float:
    """images/s at ``batch`` on images/s = c * batch^k through the two nearest measured batches."""
    if len(batches) == 1:
        return measured[(generator, batches[0])]
    lo, hi = batches[0], batches[1]
    k = math.log(measured[(generator, hi)] / measured[(generator, lo)]) / math.log(hi / lo)
    return measured[(generator, lo)] * (batch / lo) ** k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="an earlier bench_gpu output (Markdown)")
    args = parser.parse_args()
    print("\n".join(projection_lines(figures_from_markdown(args.results))))


if __name__ == "__main__":
    main()
