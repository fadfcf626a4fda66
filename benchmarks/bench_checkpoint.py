"""What checkpointing costs: a checkpoint after every epoch against the time budget, in one process.

For each image size, the same run (same spec, so the same numbers) is trained twice in a fresh
store: (a) ``checkpoint_every=0``, a full checkpoint (G, D and both Adam states) after every
epoch, as colorbench did before; (b) the default budget (``checkpoint_every`` unset: a checkpoint
every ``DEFAULT_CHECKPOINT_MINUTES`` of training, and after the last epoch). Every save is timed
(serialising plus the atomic write); the share is save seconds / (training seconds + save
seconds). A short run saves once under (b), at its end; the steady-state share of a long run
under (b) is one save per budget (10 min, or 50 saves' time if longer): ``save / (budget + save)``.
The final losses and metrics of (a) and (b) must be equal: when a run saves changes no number.

    nice -n 10 python benchmarks/bench_checkpoint.py                 # 64 and 256 px, 3 epochs
    python benchmarks/bench_checkpoint.py --sizes 64 --epochs 2 --limit 16   # quicker
    python benchmarks/bench_checkpoint.py --save-only --sizes 256    # time the save alone (no run)

``--save-only`` builds the generator (the default variant for the size), the discriminator and both
Adam states (one training step at batch 1 fills them), then times ``--repeats`` saves through the
store's own writer: the cost of one checkpoint where training a whole run would take too long.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import machine_line  # noqa: E402

from colorbench.training import RunRequest, resolve_request, train_run  # noqa: E402
from colorbench.training import trainer as trainer_module  # noqa: E402
from colorbench.training.checkpointing import DEFAULT_CHECKPOINT_MINUTES, TRAIN_PER_SAVE  # noqa: E402

save_seconds: list[float] = []
_real_save = trainer_module._Run.save_checkpoint


def _timed_save(self, epoch: int) -> None:
    t0 = time.perf_counter()
    _real_save(self, epoch)
    save_seconds.append(time.perf_counter() - t0)


trainer_module._Run.save_checkpoint = _timed_save


def one(size: int, epochs: int, limit: int, batch: int, every: float | None, cache: Path, store: Path):
    request = RunRequest(
        generator="unet",
        image_size=size,
        epochs=epochs,
        batch_size=batch,
        data="sample",
        data_limit=limit,
        device="cpu",
        precision="fp32",
        num_samples=0,
        checkpoint_every=every,
    )
    resolved = resolve_request(request)
    save_seconds.clear()
    summary = train_run(
        resolved.spec, resolved.options, store / resolved.spec.run_id, cache_dir=cache, verbose=False
    )
    saved = sum(save_seconds)
    size_mb = (store / resolved.spec.run_id / "checkpoint.pt").stat().st_size / 1e6
    return summary, len(save_seconds), saved, summary.train_seconds, size_mb, list(save_seconds)


def save_only(size: int, repeats: int) -> None:
    import torch

    from colorbench.models import PatchDiscriminator, get_generator
    from colorbench.store import RunDirectory
    from colorbench.training.objective import GANLoss, pix2pix_train_step
    from colorbench.training.performance import make_optimizers

    plugin = get_generator("unet")
    generator = plugin.create(plugin.default_for(size), size)
    discriminator = PatchDiscriminator(in_channels=3)
    opt_g, opt_d = make_optimizers(generator, discriminator, 2e-4, "cpu", (0.5, 0.999))
    L, ab = torch.rand(1, 1, size, size) * 2 - 1, torch.rand(1, 2, size, size) * 2 - 1
    pix2pix_train_step(
        generator, discriminator, GANLoss("vanilla"), opt_g, opt_d, L, ab, 100.0, contextlib.nullcontext
    )
    state = {
        "epoch": 1,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = RunDirectory(Path(tmp))
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            directory.save_checkpoint(state)
            seconds.append(time.perf_counter() - t0)
        mb = directory.checkpoint_path.stat().st_size / 1e6
    median = statistics.median(seconds)
    budget = max(DEFAULT_CHECKPOINT_MINUTES * 60, TRAIN_PER_SAVE * median)  # the default policy
    print(
        f"| {size} | {plugin.default_for(size)} | {mb:.0f} MB | {median:.2f} s "
        f"({', '.join(f'{x:.2f}' for x in seconds)}) | {median / (budget + median):.2%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=24, help="photos (train + val)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--save-only", action="store_true", help="time saving a checkpoint, no run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    if args.save_only:
        print("| size | unet variant | checkpoint | save (median; each) | share with the default budget |")
        print("|---|---|---|---|---|")
        for size in (int(s) for s in args.sizes.split(",")):
            save_only(size, args.repeats)
        return
    print(
        f"unet (default depth for the size), batch {args.batch}, {args.limit} photos, "
        f"{args.epochs} epochs, fp32"
    )
    print("| size | checkpoint | saves | checkpoint MB | save s (median) | train s | save share | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or Path(tmp) / "cache")
        for size in (int(s) for s in args.sizes.split(",")):
            rows = {}
            for label, every in (("every epoch", 0.0), ("budget (default)", None)):
                rows[label] = one(size, args.epochs, args.limit, args.batch, every, cache, Path(tmp) / label)
            shares = {}
            for label, (_, n, saved, train, mb, each) in rows.items():
                shares[label] = saved / (train + saved)
                ratio = shares[label] / shares["every epoch"]
                print(
                    f"| {size} | {label} | {n} | {mb:.0f} | {statistics.median(each):.2f} | {train:.1f} | "
                    f"{shares[label]:.1%} | {ratio:.2f}x |"
                )
            per_save = statistics.median(rows["every epoch"][5])
            budget = max(DEFAULT_CHECKPOINT_MINUTES * 60, TRAIN_PER_SAVE * per_save)  # the default policy
            print(
                f"| {size} | default budget, a long run ({budget / 60:.1f} min of training per save) | "
                f"| | {per_save:.2f} | {budget:.0f} | {per_save / (budget + per_save):.2%} | |"
            )
            a, b = rows["every epoch"][0], rows["budget (default)"][0]
            same = a.final_val == b.final_val and a.final_train == b.final_train
            print(f"  {size} px: final losses and metrics identical with and without per-epoch saves: {same}")


if __name__ == "__main__":
    main()
