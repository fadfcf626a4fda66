"""What checkpointing costs: a checkpoint after every epoch against the time budget, in one process.

For each image size, the same run (same spec, so the same numbers) is trained twice in a fresh
store: (a) ``checkpoint_every=0``, a full checkpoint (G, D and both Adam states) after every
epoch, as colorbench did before; (b) the default budget (``checkpoint_every`` unset: a checkpoint
every ``DEFAULT_CHECKPOINT_MINUTES`` of training, and after the last epoch). Every save is timed
(serialising plus the atomic write); the share is save seconds / (training seconds + save
seconds). A short run saves once under (b), at its end; the steady-state share of a long run under
(b) is one save per budget, ``save / (budget + save)``, printed too. The final losses and metrics of
(a) and (b) must be equal: when a run saves changes none of its numbers.

    nice -n 10 python benchmarks/bench_checkpoint.py                 # 64 and 256 px, 3 epochs
    python benchmarks/bench_checkpoint.py --sizes 64 --epochs 2 --limit 16   # quicker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import machine_line  # noqa: E402

from colorbench.training import RunRequest, resolve_request, train_run  # noqa: E402
from colorbench.training import trainer as trainer_module  # noqa: E402
from colorbench.training.checkpointing import DEFAULT_CHECKPOINT_MINUTES  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=24, help="photos (train + val)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    print(machine_line())
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
            budget = DEFAULT_CHECKPOINT_MINUTES * 60
            print(
                f"| {size} | long run: a save per {DEFAULT_CHECKPOINT_MINUTES:g} min of training) | "
                f"| | {per_save:.2f} | {budget:.0f} | {per_save / (budget + per_save):.2%} | |"
            )
            a, b = rows["every epoch"][0], rows["budget (default)"][0]
            same = a.final_val == b.final_val and a.final_train == b.final_train
            print(f"  {size} px: final losses and metrics identical with and without per-epoch saves: {same}")


if __name__ == "__main__":
    main()
