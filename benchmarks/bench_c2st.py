"""C2ST: its cost, and how each critic variant grades synthetic colorizations of the built-in photos.

Real set: the built-in sample photos at 64 px (``colorbench data prepare --data sample``), as
8-bit sRGB. "Colorized" sets made from them, each the real photo's L* with altered a*b*: the same
photos (identical), two halves of the real set, ab x 0.8 and x 0.5 (desaturated), gray (ab = 0),
hue rotated 30 and 90 degrees, ab blurred (gaussian, sigma 2 px), ab of another photo (each
photo's L* with the next photo's ab), and a trivial colorizer (each pixel the set's mean ab for
its L*). A graded critic puts real vs real at ~0.5, gray near 1.0 and the mild changes between.

Variants: the default (ridge logistic regression, penalty 1, on 23 colour-given-L statistics),
the same at penalty 0.01 (weakly regularised), the 147-cell ab histogram per L* third, and
(``--cnn``) a two-conv CNN on L*a*b* pixels (as in the issue's first measurement; not part of
colorbench). ``--null N``: N random real-vs-real half splits, how often the interval holds 0.5.
``--shift N``: N random sets of ``--shift-pairs`` photos against their own ab x 0.8, how often the
interval holds the mean accuracy over the N draws (the test's expected accuracy at that size).

Cost: :func:`colorbench.realism.c2st` on the val split (47 photos) and on all photos, with torch's
threads as the trainer sets them; prints the CPU model and the load average.

    python benchmarks/bench_c2st.py [--all-photos] [--null 100] [--shift 200] [--cnn] [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from colorbench.color import denormalize_lab, lab_to_rgb
from colorbench.data import DataSpec, prepare
from colorbench.realism import c2st
from colorbench.realism.c2st import _auc_kernel, _decisions, _log_losses
from colorbench.training.performance import configure_threads


def cpu_model() -> str:
    from colorbench.training.hardware import cpu_model as model

    return model() or "unknown"


def load_lab(cache_dir: str | None, all_photos: bool) -> torch.Tensor:
    data = prepare(DataSpec(source="sample", size=64), cache_dir=cache_dir, progress=False)
    parts = [(data.val_l, data.val_ab)] + ([(data.train_l, data.train_ab)] if all_photos else [])
    lab = [
        denormalize_lab(
            torch.from_numpy(np.array(lum, np.float32)), torch.from_numpy(np.array(ab, np.float32))
        )
        for lum, ab in parts
    ]
    return torch.cat(lab)


def to_rgb8(lab: torch.Tensor) -> torch.Tensor:
    return lab_to_rgb(lab).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _with_ab(lab: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    return torch.cat((lab[:, :1], ab), dim=1)


def _rotate(ab: torch.Tensor, degrees: float) -> torch.Tensor:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return torch.stack((c * ab[:, 0] - s * ab[:, 1], s * ab[:, 0] + c * ab[:, 1]), dim=1)


def _blur(ab: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=ab.dtype)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    flat = ab.reshape(-1, 1, *ab.shape[-2:])
    flat = torch.nn.functional.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = torch.nn.functional.conv2d(flat, k.view(1, 1, 1, -1))
    flat = torch.nn.functional.conv2d(flat, k.view(1, 1, -1, 1))
    return flat.reshape(ab.shape)


def mean_ab_given_l(lab: torch.Tensor, bins: int = 50) -> torch.Tensor:
    """A trivial colorizer: each pixel gets the set's mean a*b* for its L* (what an L1-trained
    generator early in training resembles: the brownish average colour of each lightness)."""
    index = (lab[:, 0] / 100 * bins).long().clamp(0, bins - 1).flatten()
    ab = lab[:, 1:].permute(1, 0, 2, 3).reshape(2, -1)
    counts = torch.zeros(bins).index_add_(0, index, torch.ones_like(index, dtype=torch.float32))
    table = torch.zeros(2, bins).index_add_(1, index, ab) / counts.clamp(min=1)
    return table[:, index].reshape(2, lab.shape[0], *lab.shape[2:]).permute(1, 0, 2, 3)


def fake_sets(lab: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, real rgb8, colorized rgb8) for each synthetic colorization."""
    real = to_rgb8(lab)
    ab = lab[:, 1:]
    half = len(lab) // 2
    return [
        ("real vs real (identical)", real, real),
        ("real vs real (two halves)", real[:half], real[half : 2 * half]),
        ("ab x 0.8", real, to_rgb8(_with_ab(lab, ab * 0.8))),
        ("ab x 0.5", real, to_rgb8(_with_ab(lab, ab * 0.5))),
        ("gray (ab = 0)", real, to_rgb8(_with_ab(lab, ab * 0))),
        ("hue +30 deg", real, to_rgb8(_with_ab(lab, _rotate(ab, 30)))),
        ("hue +90 deg", real, to_rgb8(_with_ab(lab, _rotate(ab, 90)))),
        ("ab blurred (sigma 2 px)", real, to_rgb8(_with_ab(lab, _blur(ab, 2.0)))),
        ("ab of another photo", real, to_rgb8(_with_ab(lab, ab.roll(1, dims=0)))),
        ("mean ab given L* (trivial colorizer)", real, to_rgb8(_with_ab(lab, mean_ab_given_l(lab)))),
    ]


# --------------------------------------------------------------------------- the CNN comparison
class TwoConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(32, 1),
        )

    def forward(self, x):
        return self.body(x).squeeze(1)


def cnn_c2st(real: torch.Tensor, fake: torch.Tensor, folds: int = 5, seed: int = 0, epochs: int = 40) -> dict:
    """The same folds and scores as colorbench's C2ST, with a two-conv CNN on normalised L*a*b* pixels."""
    from colorbench.realism.features import to_lab8

    def prep(images):
        lab = to_lab8(images)
        return torch.cat((lab[:, :1] / 50 - 1, lab[:, 1:] / 110), dim=1)

    xr, xf = prep(real), prep(fake)
    n = len(xr)
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[rng.permutation(n)] = np.arange(n) % folds
    p_real, p_fake = np.empty(n), np.empty(n)
    for k in range(folds):
        held = torch.from_numpy(fold_of == k)
        torch.manual_seed(seed * 1000 + k)
        model = TwoConv()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        x = torch.cat((xr[~held], xf[~held]))
        y = torch.cat((torch.ones(int((~held).sum())), torch.zeros(int((~held).sum()))))
        for _ in range(epochs):
            for idx in torch.randperm(len(x)).split(32):
                opt.zero_grad()
                torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx]), y[idx]).backward()
                opt.step()
        with torch.no_grad():
            p_real[held.numpy()] = torch.sigmoid(model(xr[held])).double().numpy()
            p_fake[held.numpy()] = torch.sigmoid(model(xf[held])).double().numpy()
    return {
        "accuracy": _decisions(p_real, p_fake).mean(),
        "auc": _auc_kernel(p_real, p_fake).mean(),
        "cross_entropy": _log_losses(p_real, p_fake).mean(),
    }


# --------------------------------------------------------------------------- main
VARIANTS = {
    "default: stats, penalty 1": {"features": "colour-given-L", "penalty": 1.0},
    "stats, penalty 0.01": {"features": "colour-given-L", "penalty": 0.01},
    "ab histogram, penalty 1": {"features": "ab-histogram", "penalty": 1.0},
}


def grade(sets, args) -> None:
    """The table: each synthetic set under each critic variant."""
    variants = dict(list(VARIANTS.items())[:1]) if args.quick else VARIANTS
    columns = list(variants) + (["two-conv CNN (pixels)"] if args.cnn else [])
    n = len(sets[0][1])
    print(f"\n{n} photos, 5 folds, seed 0; each cell: accuracy / AUC / cross-entropy (nats)\n")
    print("| colorized set | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, real, fake in sets:
        cells = []
        for options in variants.values():
            r = c2st(real, fake, seed=0, **options)
            cells.append(
                f"{r.accuracy:.2f} [{r.accuracy_interval[0]:.2f}, {r.accuracy_interval[1]:.2f}] / "
                f"{r.auc:.2f} / {r.cross_entropy:.2f}"
            )
        if args.cnn:
            r = cnn_c2st(real, fake)
            cells.append(f"{r['accuracy']:.2f} / {r['auc']:.2f} / {r['cross_entropy']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument(
        "--all-photos", action="store_true", help="grade on train + val photos (237), not val (47)"
    )
    parser.add_argument("--cnn", action="store_true", help="add the two-conv CNN column (minutes on 2 cores)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions of the default C2ST")
    parser.add_argument(
        "--null",
        type=int,
        default=0,
        metavar="N",
        help="also N random real-vs-real half splits: how often the interval holds 0.5",
    )
    parser.add_argument("--null-size", type=int, default=None, help="photos per null split (default all)")
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        metavar="N",
        help="also N random sets of --shift-pairs photos, real vs ab x 0.8: coverage of the mean accuracy",
    )
    parser.add_argument("--shift-pairs", type=int, default=47, help="photos per shift draw (default 47)")
    parser.add_argument("--cost-only", action="store_true", help="only time the default C2ST")
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: val photos, default critic only, 1 repetition"
    )
    args = parser.parse_args()
    if args.quick:
        args.all_photos, args.cnn, args.repeat = False, False, 1
    threads = configure_threads()
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {threads}, "
        f"load {os.getloadavg()[0]:.1f}"
    )

    lab = load_lab(args.cache_dir, args.all_photos)
    sets = fake_sets(lab)
    if not args.cost_only:
        grade(sets, args)

    if args.null:
        null_calibration(lab, args.null, args.null_size)
    if args.shift:
        shift_calibration(lab, args.shift, args.shift_pairs)

    print("\ncost of the default C2ST (features of both sets, 5 fits, then the refit bootstrap), ab x 0.5:")
    for label, take in (("val photos", 47), ("all photos", len(lab))):
        if take > len(lab) or (label == "all photos" and take == 47):
            continue
        real, fake = sets[3][1][:take], sets[3][2][:take]
        times, cpu = [], []
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            c2st(real, fake, seed=0)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        print(
            f"  {label} ({take} photos x 2, 64 px): median {np.median(times):.3f} s, "
            f"best {min(times):.3f} s over {args.repeat} (CPU time median {np.median(cpu):.3f} s), "
            f"load {os.getloadavg()[0]:.1f}"
        )


def null_calibration(lab: torch.Tensor, splits: int, size: int | None = None) -> None:
    """Real vs real: random halves of the photos, ``splits`` times; how often does 0.5 fall inside?"""
    real = to_rgb8(lab)
    size = min(size or len(real), len(real))
    half = size // 2
    rng = np.random.default_rng(12345)
    inside, inside_auc, accuracy, auc, ce, width, cost = 0, 0, [], [], [], [], []
    method = ""
    for split in range(splits):
        order = torch.from_numpy(rng.permutation(len(real)))
        r = c2st(real[order[:half]], real[order[half : 2 * half]], seed=split)  # from `size` photos
        inside += r.accuracy_interval[0] <= 0.5 <= r.accuracy_interval[1]
        inside_auc += r.auc_interval[0] <= 0.5 <= r.auc_interval[1]
        accuracy.append(r.accuracy)
        auc.append(r.auc)
        ce.append(r.cross_entropy)
        width.append(r.accuracy_interval[1] - r.accuracy_interval[0])
        cost.append(r.wall_time_s)
        method = r.interval_method
    print(
        f"\nnull (random halves of {size} of {len(real)} photos, {half} pairs, {splits} splits; "
        f"{method}): accuracy interval holds 0.5 in {inside}/{splits} ({inside / splits:.1%}), "
        f"AUC interval in {inside_auc}/{splits} ({inside_auc / splits:.1%}); accuracy mean "
        f"{np.mean(accuracy):.3f} (sd {np.std(accuracy):.3f}), mean interval width {np.mean(width):.3f}; "
        f"AUC mean {np.mean(auc):.3f}, cross-entropy mean {np.mean(ce):.3f}; "
        f"wall per test median {np.median(cost):.2f} s",
        flush=True,
    )


def shift_calibration(lab: torch.Tensor, draws: int, pairs: int, scale: float = 0.8) -> None:
    """A real difference (each photo's a*b* x ``scale``): ``draws`` random sets of ``pairs`` photos.

    The target is the test's expected accuracy at this many pairs, estimated by the mean accuracy
    over the draws (each draw a different photo subset, fold split and critic); how often does each
    draw's interval hold it? Draws come from the 237 built-in photos, so at large ``pairs`` they
    overlap and the spread over draws understates what independent photos would show.
    """
    real, fake = to_rgb8(lab), to_rgb8(_with_ab(lab, lab[:, 1:] * scale))
    pairs = min(pairs, len(real))
    rng = np.random.default_rng(54321)
    results = []
    for draw in range(draws):
        take = torch.from_numpy(rng.permutation(len(real))[:pairs])
        results.append(c2st(real[take], fake[take], seed=draw))
    accuracy = np.array([r.accuracy for r in results])
    auc = np.array([r.auc for r in results])
    target, target_auc = accuracy.mean(), auc.mean()
    inside = sum(r.accuracy_interval[0] <= target <= r.accuracy_interval[1] for r in results)
    inside_auc = sum(r.auc_interval[0] <= target_auc <= r.auc_interval[1] for r in results)
    width = np.mean([r.accuracy_interval[1] - r.accuracy_interval[0] for r in results])
    print(
        f"\nshift (ab x {scale}, {pairs} pairs drawn from {len(real)} photos, {draws} draws): accuracy "
        f"mean {target:.3f} (sd over draws {accuracy.std():.3f}); the interval holds that mean in "
        f"{inside}/{draws} ({inside / draws:.1%}), mean width {width:.3f}; AUC mean {target_auc:.3f}, "
        f"its interval holds it in {inside_auc}/{draws} ({inside_auc / draws:.1%})",
        flush=True,
    )


if __name__ == "__main__":
    main()
