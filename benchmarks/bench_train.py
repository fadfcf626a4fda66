"""Training throughput: colorbench's trainer path against the plain reference loop, in one process.

(a) reference: the plain way users train this today (the popular pix2pix colorization tutorial
    the study builds on): a Dataset that decodes each photo with PIL, resizes it, converts it
    with ``skimage.color.rgb2lab`` and normalises it in ``__getitem__``; a torch ``DataLoader``
    (``num_workers=0`` unless ``--ref-workers``; the tutorial's 4 workers would oversubscribe
    2 cores); fp32, NCHW; ``torch.optim.Adam(lr, betas=(0.5, 0.999))`` with its defaults; the
    pix2pix step written out as the tutorial writes it, with ``loss.item()`` per loss per step.
(b) colorbench: the prepared memory-mapped float16 cache, ``BatchLoader``, the modules and Adam
    set up by ``colorbench.training.performance`` (what ``train_run`` uses), ``pix2pix_train_step``
    and on-device loss sums (no host synchronisation inside the step).

Same photos (the built-in sample set's train split), same generator and PatchGAN discriminator
with the same init, same batch size and image size. Both are warmed up, then timed in
interleaved blocks (a, b, a, b, ...) of whole steps, data loading included. The ratio reported is
the median over rounds of (b's images/s / a's images/s) of adjacent blocks. Achieved GFLOP/s use
the step's FLOPs from ``torch.utils.flop_counter.FlopCounterMode`` and are given as a fraction of
fp32 and bf16 matmul peaks (2048^3) measured in the same run.

    python benchmarks/bench_train.py                     # the three cases of issue 7
    python benchmarks/bench_train.py --case unet64 --rounds 6
    python benchmarks/bench_train.py --levers --case unet64   # each lever alone vs the plain step
    python benchmarks/bench_train.py --quick             # smoke mode, well under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import ReferenceDataset, machine_line, reference_loader  # noqa: E402

from colorbench.data import BatchLoader, DataSpec, prepare, select  # noqa: E402
from colorbench.metrics import MeanAccumulator  # noqa: E402
from colorbench.models import PatchDiscriminator, get_generator, init_weights  # noqa: E402
from colorbench.training import performance  # noqa: E402
from colorbench.training.objective import GANLoss, pix2pix_train_step  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    generator: str
    variant: str | None  # None: the plugin's default (the study default)
    size: int
    batch: int
    block: int  # steps per timed block
    target: float  # issue 7's end-to-end ratio target on 2 CPU cores


CASES = {
    "unet64": Case("unet64", "unet", "n_down_6", 64, 16, 3, 3.0),
    "zhang64": Case("zhang64", "zhang", None, 64, 16, 3, 2.0),
    "unet256": Case("unet256", "unet", "n_down_8", 256, 4, 2, 2.0),
}
# --quick: every case shrunk to 32 px, batch 4 (a smoke test that the script runs, not a figure).
QUICK_VARIANTS = {"unet": "n_down_5"}
LR = 5e-4
LAMBDA_L1 = 100.0
SEED = 0


# --------------------------------------------------------------------------- peak
def matmul_peak_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best of ``repeats`` n^3 matmuls (the best is the peak; load from others only slows)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


# --------------------------------------------------------------------------- models
def build_models(case: Case) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(SEED)
    plugin = get_generator(case.generator)
    generator = plugin.build(case.variant or plugin.default_variant, case.size)
    discriminator = PatchDiscriminator(in_channels=3)
    init_weights(generator, "normal")
    init_weights(discriminator, "normal")
    return generator.train(), discriminator.train()


# --------------------------------------------------------------------------- (a) reference
class ReferenceTrainer:
    """The tutorial's ``MainModel.optimize`` and training loop, NCHW fp32, default Adam."""

    def __init__(self, case: Case, paths: list[Path], workers: int) -> None:
        self.G, self.D = build_models(case)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=LR, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=LR, betas=(0.5, 0.999))
        self.GANcriterion = nn.BCEWithLogitsLoss()
        self.L1criterion = nn.L1Loss()
        self.loader = reference_loader(ReferenceDataset(paths, case.size), case.batch, workers)
        self.batches = iter(self.loader)
        self.meters: dict[str, list[float]] = {}

    def _gan(self, preds: torch.Tensor, real: bool) -> torch.Tensor:
        labels = torch.ones_like(preds) if real else torch.zeros_like(preds)
        return self.GANcriterion(preds, labels)

    def _next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)  # a new epoch
            return next(self.batches)

    def step(self) -> int:
        with record_function("data"):
            L, ab = self._next_batch()
        fake_color = self.G(L)
        self.D.train()
        self.D.requires_grad_(True)
        self.opt_D.zero_grad()
        fake_preds = self.D(torch.cat([L, fake_color], dim=1).detach())
        loss_D_fake = self._gan(fake_preds, False)
        real_preds = self.D(torch.cat([L, ab], dim=1))
        loss_D_real = self._gan(real_preds, True)
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_D.backward()
        self.opt_D.step()
        self.G.train()
        self.D.requires_grad_(False)
        self.opt_G.zero_grad()
        fake_preds = self.D(torch.cat([L, fake_color], dim=1))
        loss_G_GAN = self._gan(fake_preds, True)
        loss_G_L1 = self.L1criterion(fake_color, ab) * LAMBDA_L1
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        self.opt_G.step()
        losses = (loss_D_fake, loss_D_real, loss_D, loss_G_GAN, loss_G_L1, loss_G)
        for name, loss in zip(("D_fake", "D_real", "D", "G_GAN", "G_L1", "G"), losses, strict=True):
            self.meters.setdefault(name, []).append(loss.item())  # the tutorial's AverageMeter
        return L.shape[0]


# --------------------------------------------------------------------------- (b) colorbench
class ColorbenchTrainer:
    """What ``train_run``'s inner loop does: cache + BatchLoader + performance setup + the step."""

    def __init__(self, case: Case, data, device: str = "cpu") -> None:
        self.G, self.D = build_models(case)
        performance.prepare_modules(self.G, self.D, device)
        self.opt_g, self.opt_d = performance.make_optimizers(self.G, self.D, LR, device)
        self.gan_loss = GANLoss("vanilla")
        self.device = device
        self.loader = BatchLoader(
            data.train_l, data.train_ab, case.batch, shuffle=True, seed=SEED, flip=True, drop_last=True
        )
        self.epoch = 0
        self.batches = self._new_epoch()
        self.means = MeanAccumulator()
        self.steps = 0

    def _new_epoch(self):
        self.epoch += 1
        self.loader.set_epoch(self.epoch)
        return iter(self.loader)

    def _next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = self._new_epoch()
            return next(self.batches)

    def step(self) -> int:
        with record_function("data"):
            l_batch, ab_batch = self._next_batch()
        l_norm = l_batch.to(self.device, non_blocking=True)
        ab_true = ab_batch.to(self.device, non_blocking=True)
        losses = pix2pix_train_step(
            self.G,
            self.D,
            self.gan_loss,
            self.opt_g,
            self.opt_d,
            l_norm,
            ab_true,
            LAMBDA_L1,
            contextlib.nullcontext,
        )
        self.means.update(losses, l_norm.shape[0])
        self.steps += 1
        if self.steps % 20 == 0:  # the trainer's LOG_EVERY_STEPS finite check
            self.means.all_finite()
        return l_norm.shape[0]


def step_gflop(trainer: ColorbenchTrainer) -> float:
    """FLOPs of one training step (G forward, D forward x3, both backward) in GFLOP."""
    with FlopCounterMode(display=False) as counter:
        trainer.step()
    return counter.get_total_flops() / 1e9


def timed_block(step, steps: int) -> tuple[int, float]:
    """Run ``steps`` calls of ``step`` (each returns its batch's image count): (images, seconds)."""
    images, t0 = 0, time.perf_counter()
    for _ in range(steps):
        images += step()
    return images, time.perf_counter() - t0


def bench_case(case: Case, args, peaks: dict[str, float]) -> dict:
    spec = DataSpec(source="sample", size=case.size)
    data = prepare(spec, cache_dir=args.cache_dir, progress=False)
    used = set(data.meta["train_files"])
    paths = [e.path for e in select(spec).train if e.name in used]  # the photos of the cache's train split
    reference = ReferenceTrainer(case, paths, args.ref_workers)
    ours = ColorbenchTrainer(case, data)
    gflop = step_gflop(ours)
    for _ in range(args.warmup):
        reference.step()
        ours.step()
    block = args.block or case.block
    ref_rates, cb_rates, ratios = [], [], []
    ref_total, cb_total = [0, 0.0], [0, 0.0]
    for _ in range(args.rounds):
        n, s = timed_block(reference.step, block)
        ref_rates.append(n / s)
        ref_total = [ref_total[0] + n, ref_total[1] + s]
        n, s = timed_block(ours.step, block)
        cb_rates.append(n / s)
        cb_total = [cb_total[0] + n, cb_total[1] + s]
        ratios.append(cb_rates[-1] / ref_rates[-1])
    ref_ips = ref_total[0] / ref_total[1]
    cb_ips = cb_total[0] / cb_total[1]
    per_image = gflop / case.batch
    return {
        "case": case,
        "variant": case.variant or get_generator(case.generator).default_variant,
        "gflop_per_image": per_image,
        "ref_ips": ref_ips,
        "cb_ips": cb_ips,
        "ref_best": max(ref_rates),
        "cb_best": max(cb_rates),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "ref_gflops": ref_ips * per_image,
        "cb_gflops": cb_ips * per_image,
        "cb_best_gflops": max(cb_rates) * per_image,
        "peaks": peaks,
    }


# --------------------------------------------------------------------------- profile
def _breakdown(step, steps: int) -> dict[str, float]:
    """Seconds per step in data loading, convolutions (forward and backward), Adam, and the rest."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        total = time.perf_counter() - t0
    data = conv = optim = 0.0
    for event in prof.key_averages():
        if event.key == "data":
            data += event.cpu_time_total
        elif event.key.startswith(("Optimizer.step", "Optimizer.zero_grad")):
            optim += event.cpu_time_total
        elif "conv" in event.key and not event.key.startswith("autograd::"):
            conv += event.self_cpu_time_total
    data, conv, optim = (x / 1e6 / steps for x in (data, conv, optim))
    total /= steps
    return {"total": total, "data": data, "conv": conv, "adam": optim, "other": total - data - conv - optim}


def profile_case(case: Case, args) -> None:
    """Where a step's time goes, for both sides (torch.profiler, after warm-up)."""
    spec = DataSpec(source="sample", size=case.size)
    data = prepare(spec, cache_dir=args.cache_dir, progress=False)
    used = set(data.meta["train_files"])
    reference = ReferenceTrainer(
        case, [e.path for e in select(spec).train if e.name in used], args.ref_workers
    )
    ours = ColorbenchTrainer(case, data)
    for _ in range(args.warmup):
        reference.step()
        ours.step()
    steps = args.block or case.block
    rows = {"reference": _breakdown(reference.step, steps), "colorbench": _breakdown(ours.step, steps)}
    print(
        f"\nprofile, {case.generator} {case.variant or 'default'} {case.size}px b{case.batch}, {steps} steps:"
    )
    print(
        "| side | s/step | data | convolutions (fwd+bwd) | Adam | other (BN, activations, losses, autograd) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for side, r in rows.items():
        shares = " | ".join(
            f"{r[k]:.3f} s ({r[k] / r['total']:.0%})" for k in ("data", "conv", "adam", "other")
        )
        print(f"| {side} | {r['total']:.3f} | {shares} |")
    ref = rows["reference"]
    print(
        f"bound: with everything but the reference's own convolutions removed, the ratio could reach "
        f"{ref['total'] / ref['conv']:.2f}x at the same convolution speed",
        flush=True,
    )


# --------------------------------------------------------------------------- levers
def _lever_step(case: Case, lever: str, batches: list[tuple[torch.Tensor, torch.Tensor]]):
    """A step closure for one lever applied alone to the plain setup (NCHW, default Adam, fp32)."""
    parts = set(lever.split("+"))
    g, d = build_models(case)
    fmt = torch.channels_last if "channels_last" in parts else torch.contiguous_format
    g.to(memory_format=fmt)
    d.to(memory_format=fmt)
    options = {"foreach": True} if "foreach" in parts else {"fused": True} if "fused_adam" in parts else {}
    if "compile" in parts:  # not in the default list: compiling takes minutes on 2 cores
        g, d = torch.compile(g), torch.compile(d)
    opt_g = torch.optim.Adam(g.parameters(), lr=LR, betas=(0.5, 0.999), **options)
    opt_d = torch.optim.Adam(d.parameters(), lr=LR, betas=(0.5, 0.999), **options)
    autocast = (
        functools.partial(torch.autocast, device_type="cpu", dtype=torch.bfloat16)
        if "bf16_autocast" in parts
        else contextlib.nullcontext
    )
    gan = GANLoss("vanilla")
    threads = 1 if "1_thread" in parts else torch.get_num_threads()
    state = {"i": 0}
    trajectory: list[float] = []

    def step() -> int:
        torch.set_num_threads(threads)
        l_norm, ab = batches[state["i"] % len(batches)]
        torch.manual_seed(state["i"])  # the same dropout masks for every lever at step i
        state["i"] += 1
        losses = pix2pix_train_step(g, d, gan, opt_g, opt_d, l_norm, ab, LAMBDA_L1, autocast)
        if "sync_each_step" in parts:  # what a loop that reads every loss each step does
            for value in losses.values():
                value.item()
        trajectory.append(losses["loss_G"].detach())
        return l_norm.shape[0]

    return step, trajectory


LEVERS = (
    "plain",
    "channels_last",
    "foreach",
    "fused_adam",
    "channels_last+fused_adam",
    "sync_each_step",
    "1_thread",
    "bf16_autocast",
)


def bench_levers(case: Case, args) -> list[dict]:
    """Each lever alone against the plain step, interleaved, on the same fixed batches."""
    data = prepare(DataSpec(source="sample", size=case.size), cache_dir=args.cache_dir, progress=False)
    loader = BatchLoader(
        data.train_l, data.train_ab, case.batch, shuffle=True, seed=SEED, flip=True, drop_last=True
    )
    batches = list(loader)
    levers = args.lever or LEVERS
    threads = torch.get_num_threads()
    if "plain" not in levers:
        levers = ("plain", *levers)
    steps = {name: _lever_step(case, name, batches) for name in levers}
    first: dict[str, float] = {}
    for name, (step, _) in steps.items():
        for i in range(max(1, args.warmup)):
            t0 = time.perf_counter()
            step()
            if i == 0:
                first[name] = time.perf_counter() - t0  # includes torch.compile's compilation
    block = args.block or case.block
    times: dict[str, list[float]] = {name: [] for name in levers}
    for _ in range(args.rounds):
        for name, (step, _) in steps.items():
            n, s = timed_block(step, block)
            times[name].append(n / s)
    torch.set_num_threads(threads)
    plain_loss = torch.stack(steps["plain"][1]).float()
    rows = []
    for name in levers:
        loss = torch.stack(steps[name][1]).float()
        speedups = [x / p for x, p in zip(times[name], times["plain"], strict=True)]
        rows.append(
            {
                "lever": name,
                "ips": statistics.median(times[name]),
                "speedup": statistics.median(speedups),
                "speedups": speedups,
                "best_speedup": max(times[name]) / max(times["plain"]),
                "first_step_s": first[name],
                # loss_G along the same steps from the same init: the lever's effect on results
                "max_rel_diff": float(((loss - plain_loss).abs() / plain_loss.abs()).max()),
            }
        )
    return rows


# --------------------------------------------------------------------------- main
def shrink(case: Case) -> Case:
    variant = QUICK_VARIANTS.get(case.generator, case.variant)
    return Case(case.name + "@32px", case.generator, variant, 32, 4, 1, case.target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="repeatable; default: all")
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved rounds (a block of each per round)"
    )
    parser.add_argument("--block", type=int, default=None, help="steps per timed block (default per case)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each side first")
    parser.add_argument("--ref-workers", type=int, default=0, help="reference DataLoader num_workers")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: cores)")
    parser.add_argument("--cache-dir", default=None, help="colorbench's prepared-data cache")
    parser.add_argument("--levers", action="store_true", help="time each lever alone instead")
    parser.add_argument("--profile", action="store_true", help="where the step time goes, both sides")
    parser.add_argument(
        "--lever", choices=(*LEVERS, "compile"), action="append", help="with --levers: only these"
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: 32 px, batch 4, 1 step blocks")
    args = parser.parse_args(argv)
    cases = [CASES[name] for name in (args.case or list(CASES))]
    if args.quick:
        cases = [shrink(c) for c in cases]
        args.rounds, args.warmup, args.block = min(args.rounds, 2), 1, 1
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    threads = performance.configure_threads()
    print(machine_line())
    print(
        f"torch threads {threads}; reference DataLoader num_workers={args.ref_workers}; "
        f"{args.rounds} rounds, warm-up {args.warmup} steps"
    )
    if args.levers:
        _run_levers(cases, args)
        return
    if args.profile:
        for case in cases:
            profile_case(case, args)
        return
    n = 512 if args.quick else 2048
    peaks = {
        "fp32": matmul_peak_gflops(torch.float32, n),
        "bf16": matmul_peak_gflops(torch.bfloat16, n, repeats=2 if args.quick else 3),
    }
    print(f"matmul peak ({n}^3, best of runs): fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s")
    results = []
    for case in cases:
        r = bench_case(case, args, peaks)
        results.append(r)
        print(
            f"{case.name}: {case.generator} {r['variant']} {case.size}px batch {case.batch}: "
            f"reference {r['ref_ips']:.2f} img/s, colorbench {r['cb_ips']:.2f} img/s, "
            f"ratio {r['ratio']:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in r['ratios'])}); "
            f"best blocks {r['ref_best']:.2f} vs {r['cb_best']:.2f} img/s; "
            f"{r['gflop_per_image']:.2f} GFLOP/image/step",
            flush=True,
        )
    # Peaks again at the end: the best of both is the reference for utilisation.
    peaks["fp32"] = max(peaks["fp32"], matmul_peak_gflops(torch.float32, n))
    print()
    print(
        "| case | reference img/s | colorbench img/s | ratio (median) | target | best-block ratio | "
        "GFLOP/image | reference GFLOP/s | colorbench GFLOP/s | of fp32 peak | of bf16 peak |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        case = r["case"]
        verdict = "met" if r["ratio"] >= case.target else "MISSED"
        print(
            f"| {case.generator} {r['variant']} {case.size}px b{case.batch} | {r['ref_ips']:.2f} | "
            f"{r['cb_ips']:.2f} | {r['ratio']:.2f}x | >= {case.target:g}x {verdict} | "
            f"{r['cb_best'] / r['ref_best']:.2f}x | "
            f"{r['gflop_per_image']:.2f} | {r['ref_gflops']:.0f} | {r['cb_gflops']:.0f} | "
            f"{r['cb_gflops'] / peaks['fp32']:.0%} | {r['cb_gflops'] / peaks['bf16']:.0%} |"
        )
    print(
        f"peaks: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )


def _run_levers(cases: list[Case], args) -> None:
    for case in cases:
        rows = bench_levers(case, args)
        print(f"\nlevers, {case.generator} {case.variant or 'default'} {case.size}px batch {case.batch}:")
        print(
            "| lever (alone) | images/s (median) | speedup (median of rounds) | rounds | best block vs best "
            "plain | first step s | max rel. diff of loss_G vs plain |"
        )
        print("|---|---:|---:|---|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['lever']} | {r['ips']:.2f} | {r['speedup']:.2f}x | "
                f"{', '.join(f'{x:.2f}' for x in r['speedups'])} | {r['best_speedup']:.2f}x | "
                f"{r['first_step_s']:.1f} | {r['max_rel_diff']:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
