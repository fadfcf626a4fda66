"""Time colorbench.analysis on simulated stores: the quick study's scale and the paper's val split.

Everything :func:`colorbench.analysis.analyze` computes (effects against Default and gray, gray
counts, best marks of every metric and loss column, the claim's verdict on a metric and on loss_G)
for 2 generators x 9 settings x 3 seeds x 7 metrics, B = 2000, at 47 val images and at 2,000, plus
the forest plot of the first case. Prints the CPU model (/proc/cpuinfo) and the load average.

Side by side, interleaved, in the same process: ``analyze`` as it is, and with every plugin
registry lookup reading its distribution's METADATA file again (as before the registries kept what
discovery read; a report asks which way each metric improves once per contrast). ``--write``
puts that comparison in benchmarks/RESULTS.md.

    python benchmarks/bench_analysis.py [--images 47 2000] [--boot 2000] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np
import pandas as pd

from colorbench import entrypoints
from colorbench.analysis import analyze
from colorbench.analysis.simulate import SETTINGS  # the example's nine settings
from colorbench.report.forest import forest_plot

METRICS = ("l1_ab", "psnr", "ssim", "ciede2000", "colorfulness_pred", "colorfulness_true", "dcf")
GENERATORS = ("unet", "zhang")


def cpu_model() -> str:
    from colorbench.training.hardware import cpu_model as model

    return model() or "unknown"


def simulate(
    n_images: int, n_seeds: int = 3, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """per_image, gray and runs frames with image, seed and noise variation (effects are random)."""
    rng = np.random.default_rng(seed)
    k, s, i = (
        a.ravel() for a in np.meshgrid(range(len(SETTINGS)), range(n_seeds), range(n_images), indexing="ij")
    )
    frames, runs = [], []
    image_ids = np.array([f"img{j:05d}" for j in range(n_images)])
    base = 3 * rng.standard_normal((n_images, len(METRICS))) + 10
    for generator in GENERATORS:
        frame = pd.DataFrame(
            {
                "generator": generator,
                "setting": [SETTINGS[j][0] for j in k],
                "factor": [SETTINGS[j][1] for j in k],
                "seed": s,
                "image_id": image_ids[i],
            }
        )
        shape = (len(SETTINGS), n_seeds, n_images, len(METRICS))
        values = (
            base
            + 0.3 * rng.standard_normal((len(SETTINGS), 1, 1, len(METRICS)))
            + 0.1 * rng.standard_normal((*shape[:2], 1, len(METRICS)))
            + 0.7 * rng.standard_normal((shape[0], 1, *shape[2:]))
            + 0.7 * rng.standard_normal(shape)
        ).reshape(-1, len(METRICS))
        frames.append(pd.concat([frame, pd.DataFrame(values, columns=list(METRICS))], axis=1))
        run = frame.drop_duplicates(["setting", "seed"])[["generator", "setting", "factor", "seed"]].copy()
        for loss in ("loss_G_GAN", "loss_G_L1", "loss_G"):
            run[loss] = 5 + rng.standard_normal(len(run))
        runs.append(run)
    gray = pd.DataFrame(base + 1.0, columns=list(METRICS)).assign(image_id=image_ids)
    return pd.concat(frames, ignore_index=True), gray, pd.concat(runs, ignore_index=True)


HEADING = "## Analysis time: plugin metadata read once, or per lookup (bench_analysis.py)"


@contextlib.contextmanager
def metadata_per_lookup():
    """Every registry lookup parses the distribution's METADATA again (the code before the cache)."""
    kept = entrypoints.EntryPointRegistry._dist_of
    entrypoints.EntryPointRegistry._dist_of = lambda self, ep: entrypoints._dist(ep)
    try:
        yield
    finally:
        entrypoints.EntryPointRegistry._dist_of = kept


def section(args: argparse.Namespace, rows: list[str]) -> str:
    command = (
        f"python benchmarks/bench_analysis.py --images {' '.join(map(str, args.images))}"
        f" --boot {args.boot} --repeat {args.repeat} --write"
    )
    return "\n".join(
        [
            HEADING,
            "",
            f"`{command}`: `analyze` on {len(GENERATORS)} generators x {len(SETTINGS)} settings x 3 seeds"
            f" x {len(METRICS)} metrics plus losses, median of {args.repeat} interleaved runs each."
            " *Per lookup*: every plugin-registry lookup parses its distribution's METADATA (the code"
            " before 2026-12-04); *read once*: discovery keeps it.",
            "",
            "| val images | B | per lookup (s) | read once (s) | ratio |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"CPU: `{cpu_model()}`; load average at the end {os.getloadavg()[0]:.1f} (shared machine).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[47, 2000])
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best and median shown)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 47 images, B = 200, one run")
    parser.add_argument("--write", action="store_true", help="put the comparison in benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.images, args.boot, args.repeat = [47], 200, 1
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average {os.getloadavg()[0]:.2f}")
    rows = []
    for n_images in args.images:
        per_image, gray, runs = simulate(n_images)
        times, per_lookup = [], []  # interleaved: metadata read once (the code now), then per lookup
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = analyze(per_image, gray, runs, n_boot=args.boot, seed=0)
            times.append(time.perf_counter() - start)
            with metadata_per_lookup():
                start = time.perf_counter()
                analyze(per_image, gray, runs, n_boot=args.boot, seed=0)
                per_lookup.append(time.perf_counter() - start)
        print(
            f"analyze: {len(GENERATORS)} generators x {len(SETTINGS)} settings x 3 seeds x {n_images} images"
            f" x {len(METRICS)} metrics, B = {args.boot}: best {min(times):.2f} s,"
            f" median {np.median(times):.2f} s"
        )
        once, each = float(np.median(times)), float(np.median(per_lookup))
        rows.append(f"| {n_images} | {args.boot} | {each:.2f} | {once:.2f} | {each / once:.1f}x |")
        print(
            f"analyze at {n_images} images: metadata per lookup {each:.2f} s, read once"
            f" {once:.2f} s: ratio {each / once:.1f}x"
        )
        if n_images == args.images[0]:
            start = time.perf_counter()
            png = forest_plot(result.effects, result.gray_effects, ["l1_ab", "psnr", "ciede2000", "dcf"])
            print(f"forest_plot: {time.perf_counter() - start:.2f} s ({len(png) // 1024} KiB PNG)")
    if args.write and not args.quick:
        from bench_coverage import write  # benchmarks/ is the script's own folder, first on sys.path

        write(section(args, rows), HEADING)


if __name__ == "__main__":
    main()
