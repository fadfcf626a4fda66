"""What a study at the paper's scale costs on one GPU (issue 23), and its projected wall time.

At the study's batches (8, 16, 32) and 256 px, for both generators (unet n_down_8, zhang's study
default), with the trainer's own step (``pix2pix_train_step``, bf16 autocast, colorbench's module
layout and Adam options, batches already on the device):

1. single-run images/s and the share of a bf16 matmul peak measured in the same process;
2. packed throughput: N = 1, 2, 4, 8 runs sharing the device, as N processes (the local
   executor's workers are processes), each training its own networks at batch 16 over the same
   timed window; speedup = the N runs' images/s together over one run's;
3. one checkpoint save at 256 px (colorbench's writer: G, D and both Adam states) and its share of
   training, saved every epoch and on the trainer's default time budget;
4. the paper study's projected wall time on 1 and 8 GPUs, from these figures, by
   ``benchmarks/projection.py`` (colorbench's dry-run estimator).

    python benchmarks/bench_scale.py [--out FRAGMENT.md]          # a CUDA GPU; 3-4 minutes
    python benchmarks/bench_scale.py --smoke --device cpu          # every part, tiny, on the CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from colorbench.models import PatchDiscriminator, get_generator, init_weights
from colorbench.store.checkpoint import save_checkpoint
from colorbench.study.estimate import checkpoint_saves, duration
from colorbench.training import build_request, resolve_request
from colorbench.training.evaluation import evaluate
from colorbench.training.objective import GANLoss, pix2pix_train_step
from colorbench.training.performance import configure_threads, make_optimizers, prepare_modules
from colorbench.training.trainer import _autocast_factory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projection import PAPER_BATCH, PAPER_TRAIN_IMAGES, Figures, projection_lines  # noqa: E402

GENERATORS = ("unet", "zhang")
# pack_batch: the study's default batch, what packing has to fill the GPU with.
FULL = {"size": 256, "batches": (8, 16, 32), "steps": 20, "packings": (1, 2, 4, 8), "window_s": 8.0}
FULL.update(pack_batch=PAPER_BATCH, warmup=3, eval_images=64)
SMOKE = {"size": 32, "batches": (2, 4), "steps": 1, "packings": (1, 2), "window_s": 1.0, "pack_batch": 4}
SMOKE.update(warmup=1, eval_images=32)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def variant_of(generator: str, size: int) -> str:
    """The generator's default depth at ``size``, as the study's preset resolves it."""
    request = build_request("smoke", generator, overrides={"image_size": str(size)})
    return resolve_request(request).spec.variant


class Trainer:
    """One run's networks, optimisers and a fixed batch on ``device``: the study's step, timed."""

    def __init__(self, generator: str, size: int, batch: int, device: str) -> None:
        torch.manual_seed(0)
        self.device, self.batch = device, batch
        self.variant = variant_of(generator, size)
        self.g = get_generator(generator).build(self.variant, size)
        self.d = PatchDiscriminator(in_channels=3)
        init_weights(self.g, "normal")
        init_weights(self.d, "normal")
        prepare_modules(self.g, self.d, device)
        self.opt_g, self.opt_d = make_optimizers(self.g, self.d, 5e-4, device)
        self.autocast = _autocast_factory(device, "bf16")
        self.gan = GANLoss("vanilla")
        self.l_norm = torch.rand(batch, 1, size, size, device=device) * 2 - 1
        self.ab = torch.rand(batch, 2, size, size, device=device) * 0.4 - 0.2

    def step(self) -> dict:
        return pix2pix_train_step(
            self.g, self.d, self.gan, self.opt_g, self.opt_d, self.l_norm, self.ab, 100.0, self.autocast
        )

    def flops(self) -> float:
        with FlopCounterMode(display=False) as counter:
            self.step()
        return counter.get_total_flops()

    def warm_up(self, steps: int = 3) -> None:
        for _ in range(steps):
            self.step()
        _sync(self.device)

    def seconds_per_step(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            losses = self.step()
        _sync(self.device)
        assert all(torch.isfinite(v) for v in losses.values())
        return (time.perf_counter() - t0) / steps


def matmul_peak_tflops(device: str, n: int, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e12


# ---------------------------------------------------------------------- 1. single runs
def single_runs(device: str, sizes: dict, peak: float, figures: Figures) -> list[str]:
    size, batches, steps = sizes["size"], sizes["batches"], sizes["steps"]
    lines = [
        "| generator | batch | images/s | GFLOP/image (step) | TFLOP/s | of measured bf16 peak |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for generator in GENERATORS:
        for batch in batches:
            trainer = Trainer(generator, size, batch, device)
            trainer.warm_up(sizes["warmup"])
            flops = trainer.flops()
            seconds = trainer.seconds_per_step(steps)
            rate = batch / seconds
            figures.images_per_s[(generator, batch)] = rate
            figures.gflop_per_image[generator] = flops / batch / 1e9
            tflops = flops / seconds / 1e12
            lines.append(
                f"| {generator} {trainer.variant} | {batch} | {rate:.1f} | {flops / batch / 1e9:.1f} | "
                f"{tflops:.2f} | {100 * tflops / peak:.1f}% |"
            )
            print(lines[-1], flush=True)
        figures.eval_images_per_s[generator] = eval_rate(trainer, sizes["eval_images"])
    return lines


def eval_rate(trainer: Trainer, images: int = 64) -> float:
    """Val images/s of colorbench's evaluation (losses and every per-image metric)."""
    size = trainer.l_norm.shape[-1]
    batches = [
        (torch.rand(32, 1, size, size) * 2 - 1, torch.rand(32, 2, size, size) * 0.4 - 0.2)
        for _ in range(max(1, images // 32))
    ]

    def run() -> float:
        t0 = time.perf_counter()
        evaluate(
            trainer.g,
            trainer.d,
            batches,
            device=trainer.device,
            gan_mode="vanilla",
            lambda_l1=100.0,
            autocast=trainer.autocast,
        )
        _sync(trainer.device)
        return time.perf_counter() - t0

    run()  # warm-up
    return 32 * len(batches) / run()


# ---------------------------------------------------------------------- 2. packed runs
def pack_worker(device: str, size: int, batch: int, warmup: int) -> None:
    """A packed run: builds both generators' runs, says ready, then trains in the windows asked."""
    started = time.perf_counter()
    configure_threads()
    trainers = {g: Trainer(g, size, batch, device) for g in GENERATORS}
    for trainer in trainers.values():
        trainer.warm_up(warmup)
    print(json.dumps({"ready_s": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        generator, start, end = line.split()
        trainer, start, end = trainers[generator], float(start), float(end)
        while time.time() < start:
            time.sleep(0.001)
        # Steps until the window closes (at least one, for a machine slower than the window).
        images = 0
        while True:
            trainer.step()
            _sync(device)
            images += batch
            if time.time() >= end:
                break
        print(json.dumps({"images": images, "seconds": time.time() - start}), flush=True)


def packed_runs(device: str, sizes: dict, figures: Figures) -> list[str]:
    """Aggregate images/s of N runs sharing the device, each its own process."""
    size, batch, packings, window_s = sizes["size"], sizes["pack_batch"], sizes["packings"], sizes["window_s"]
    command = [sys.executable, __file__, "--pack-worker", "--device", device, "--size", str(size)]
    command += ["--batch", str(batch), "--warmup", str(sizes["warmup"])]
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        for _ in range(max(packings))
    ]
    try:
        ready = [json.loads(w.stdout.readline())["ready_s"] for w in workers]
        figures.worker_start_s = max(ready)
        lines = [
            f"Packed runs: N processes on one device, each training its own {batch}-image batches "
            f"at {size} px over the same {window_s:.0f} s window; start-up of a worker (spawn, imports, "
            f"{'CUDA, ' if device == 'cuda' else ''}both networks, warm-up): {max(ready):.1f} s with "
            f"{len(workers)} starting at once",
            "",
            "| generator | N | images/s together | per run | speedup vs N = 1 |",
            "|---|---:|---:|---:|---:|",
        ]
        for generator in GENERATORS:
            alone = None
            for n in packings:
                start = time.time() + 0.5
                for worker in workers[:n]:
                    worker.stdin.write(f"{generator} {start} {start + window_s}\n")
                replies = [json.loads(w.stdout.readline()) for w in workers[:n]]
                rate = sum(r["images"] / r["seconds"] for r in replies)
                alone = alone or rate
                figures.packing_speedup.setdefault(n, {})[generator] = rate / alone
                lines.append(f"| {generator} | {n} | {rate:.1f} | {rate / n:.1f} | {rate / alone:.2f}x |")
                print(lines[-1], flush=True)
        return lines
    finally:
        for worker in workers:
            worker.stdin.close()
        for worker in workers:
            worker.wait(timeout=60)


# ---------------------------------------------------------------------- 3. checkpoints
def checkpoint_share(device: str, size: int, batch: int, figures: Figures, epochs: int = 100) -> list[str]:
    """One save at ``size`` (colorbench's writer, fsynced) and its share of a paper-scale run."""
    lines = [
        "| generator | checkpoint | save (median of 2) | share, every epoch "
        f"| share, default budget ({epochs} epochs) |",
        "|---|---:|---:|---:|---:|",
    ]
    saves = []
    for generator in GENERATORS:
        trainer = Trainer(generator, size, batch, device)
        trainer.step()
        state = {
            "epoch": 1,
            "generator": trainer.g.state_dict(),
            "discriminator": trainer.d.state_dict(),
            "opt_g": trainer.opt_g.state_dict(),
            "opt_d": trainer.opt_d.state_dict(),
        }
        with tempfile.TemporaryDirectory() as tmp:
            seconds = []
            for _ in range(2):
                t0 = time.perf_counter()
                save_checkpoint(Path(tmp) / "checkpoint.pt", state)
                seconds.append(time.perf_counter() - t0)
            megabytes = (Path(tmp) / "checkpoint.pt").stat().st_size / 1e6
        save_s = statistics.median(seconds)
        saves.append(save_s)
        epoch_s = PAPER_TRAIN_IMAGES / figures.images_per_s[(generator, batch)]
        n_saves = checkpoint_saves(epoch_s, save_s, epochs, None)
        budget = n_saves * save_s / (epochs * epoch_s + n_saves * save_s)
        lines.append(
            f"| {generator} | {megabytes:.0f} MB | {save_s:.2f} s | {100 * save_s / (epoch_s + save_s):.1f}% "
            f"| "
            f"{100 * budget:.2f}% ({n_saves} saves) |"
        )
        print(lines[-1], flush=True)
    figures.checkpoint_s = max(saves)
    return lines


# ---------------------------------------------------------------------- the whole check
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU can run it in a minute)")
    parser.add_argument("--out", default=None, help="write the Markdown here too")
    parser.add_argument("--pack-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else FULL
    if args.pack_worker:
        pack_worker(args.device, args.size, args.batch, args.warmup)
        return
    began = time.perf_counter()
    configure_threads()
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    peak = matmul_peak_tflops(args.device, 8192 if args.device == "cuda" else 512)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    size = sizes["size"]
    figures = Figures({}, peak_tflops=peak, source=f"this run's measurements ({name})")
    lines = [
        f"Device: {name}, torch {torch.__version__}, measured bf16 matmul peak {peak:.1f} TFLOP/s"
        + (" (smoke sizes: the figures mean nothing)" if args.smoke else ""),
        "",
        f"Single runs at {size} px, the study's batches:",
        "",
    ]
    lines += single_runs(args.device, sizes, peak, figures)
    pack = sizes["pack_batch"]
    lines += ["", *packed_runs(args.device, sizes, figures)]
    lines += ["", f"Checkpoint at {size} px (the share: of a paper-scale run at this batch-{pack} rate):", ""]
    lines += checkpoint_share(args.device, size, pack, figures)
    if args.smoke:  # the projection's batches are the study's: give the smoke's as theirs
        for generator in GENERATORS:
            small, large = sizes["batches"][0], sizes["batches"][-1]
            for batch, like in ((8, small), (16, large), (32, large)):
                figures.images_per_s[(generator, batch)] = figures.images_per_s[(generator, like)]
        figures.assumed.append("smoke run: batches 8/16/32 stand for the smoke's tiny ones")
    lines += ["", *projection_lines(figures, sizes["packings"])]
    lines += ["", f"(bench_scale.py took {duration(time.perf_counter() - began)})"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
