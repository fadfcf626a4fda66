"""Packed runs on the CPU: throughput over a study and host memory with 1, 2 and 4 runs at once.

The same study (8 runs of equal cost: the U-Net at four learning rates, two seeds) is run by the
real command line, ``colorbench run --runs-per-device N``, into a fresh store per N, one after the
other in this one invocation (the machine is shared: compare within one invocation). N = 1 is
the unpacked study (every run in the study's own process, all cores); N > 1 spawns N workers of
``cores // N`` threads each (at least 1).

Measured per N:
- images/s over the study: training images (epochs x train images, summed over runs) / the
  study's wall time from the first run's start to the last run's end (from the runs' own logs,
  so the process start-up and the plan are left out), and / the command's whole wall time;
- host memory, sampled every 0.1 s from /proc over the study's process and its workers: peak RSS
  per worker, peak of the summed RSS and of the summed PSS (PSS divides each shared page between
  the processes mapping it: the prepared data cache, memory-mapped, counts once in all), and the
  cache files' own resident pages per worker (RSS) and over all (PSS);
- whether the numbers depend on N: every pair of stores has the same run ids; their final val
  metrics are compared, and an extra unpacked study at the packed workers' thread count shows what
  packing itself changes (nothing) apart from the thread count (the CPU's float reduction order).

    nice -n 10 python benchmarks/bench_packing.py                       # N = 1, 2, 4; quick-sized
    python benchmarks/bench_packing.py --packing 1 2 --epochs 1 --size 32  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import machine_line  # noqa: E402

from colorbench.study.placement import threads_per_worker  # noqa: E402
from colorbench.training.performance import usable_cores  # noqa: E402


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _memory(pid: int, cache_dir: str) -> tuple[int, int, int, int] | None:
    """(RSS, PSS, cache RSS, cache PSS) in KiB of one process, from /proc/PID/smaps."""
    rss = pss = cache_rss = cache_pss = 0
    in_cache = False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(maxsplit=1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    in_cache = cache_dir in line
                elif first == "Rss:":
                    kib = int(line.split()[1])
                    rss += kib
                    cache_rss += kib if in_cache else 0
                elif first == "Pss:":
                    kib = int(line.split()[1])
                    pss += kib
                    cache_pss += kib if in_cache else 0
    except (OSError, ValueError):
        return None
    return rss, pss, cache_rss, cache_pss


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Sampler(threading.Thread):
    """Peaks of the study's processes' memory, every ``period`` seconds until stopped."""

    def __init__(self, root: int, cache_dir: str, period: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.cache_dir, self.period = root, cache_dir, period
        self.stop = threading.Event()
        self.peak = {"worker_rss": 0, "total_rss": 0, "total_pss": 0, "cache_rss": 0, "cache_pss": 0}
        self.peak["study_rss"] = 0
        self.workers_seen: set[int] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            total_rss = total_pss = cache_pss = 0
            for pid in [self.root, *_descendants(self.root)]:
                got = _memory(pid, self.cache_dir)
                if got is None:
                    continue
                rss, pss, c_rss, c_pss = got
                total_rss, total_pss, cache_pss = total_rss + rss, total_pss + pss, cache_pss + c_pss
                self.peak["cache_rss"] = max(self.peak["cache_rss"], c_rss)
                if pid == self.root:
                    self.peak["study_rss"] = max(self.peak["study_rss"], rss)
                elif _is_worker(pid):
                    self.workers_seen.add(pid)
                    self.peak["worker_rss"] = max(self.peak["worker_rss"], rss)
            self.peak["total_rss"] = max(self.peak["total_rss"], total_rss)
            self.peak["total_pss"] = max(self.peak["total_pss"], total_pss)
            self.peak["cache_pss"] = max(self.peak["cache_pss"], cache_pss)
            time.sleep(self.period)


def _span(store: Path) -> tuple[float, int, dict]:
    """(seconds from the first run's start to the last run's end, training images, final val)."""
    starts, ends, images, finals = [], [], 0, {}
    for summary_path in sorted(store.glob("unet-*/summary.json")):
        summary = json.loads(summary_path.read_text())
        finals[summary_path.parent.name] = summary["final_val"]
        rows = [json.loads(x) for x in (summary_path.parent / "metrics.jsonl").read_text().splitlines()]
        images += sum(int(row["train_images"]) for row in rows)
        starts.append((summary_path.parent / "config.json").stat().st_mtime)  # written as it starts
        ends.append(summary_path.stat().st_mtime)  # written as it ends
    return max(ends) - min(starts), images, finals


def _largest_difference(a: dict, b: dict) -> float:
    """The largest relative difference between two stores' final val metrics (same run ids)."""
    assert a.keys() == b.keys(), "the run ids differ"
    worst = 0.0
    for run_id, metrics in a.items():
        for key, value in metrics.items():
            other = b[run_id][key]
            if value != other:
                worst = max(worst, abs(value - other) / max(abs(value), abs(other), 1e-12))
    return worst


def one(n: int, args, cache: Path, root: Path, threads: int | None = None) -> dict:
    """The study with N runs per device; ``threads``: the unpacked study at that many threads."""
    name = f"n{n}" + (f"t{threads}" if threads else "")
    store = root / name
    command = [
        sys.executable, "-m", "colorbench", "run", "--plugin", "unet", "--preset", "quick",
        "--vary", "lr", "--values", "lr=1e-4,2e-4,1e-3", "--seeds", "2",
        "--set", f"epochs={args.epochs}", "--set", f"image_size={args.size}",
        "--set", f"batch_size={args.batch}", "--set", "precision=fp32", "--set", "eval_every=0",
        "--set", "num_samples=0", "--cache-dir", str(cache), "--out", str(store),
    ]  # fmt: skip
    if n > 1:
        command += ["--runs-per-device", str(n)]
    started = time.perf_counter()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with open(root / f"{name}.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = Sampler(process.pid, str(cache))
        sampler.start()
        code = process.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"N={n}: colorbench run exited {code}; see {root / f'{name}.log'}")
    span, images, finals = _span(store)
    label = f"{n} ({threads} thread{'s' if threads != 1 else ''})" if threads else str(n)
    return {"n": label, "wall": wall, "span": span, "images": images, "finals": finals, **sampler.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packing", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()

    print(machine_line())
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_packing_") as tmp:
        root = Path(tmp)
        cache = Path(args.cache_dir) if args.cache_dir else root / "cache"
        subprocess.run(  # prepared before, so that no N pays for it
            [sys.executable, "-m", "colorbench", "data", "prepare", "--data", "sample",
             "--image-size", str(args.size), "--cache-dir", str(cache)],
            check=True, capture_output=True,
        )  # fmt: skip
        rows = [one(n, args, cache, root) for n in args.packing]
        # The unpacked study at the packed workers' thread count: the same numbers as packed ones
        # (the thread count, not packing, is what changes the CPU's float rounding).
        cores = usable_cores()
        packed = [n for n in args.packing if n > 1]
        if packed and threads_per_worker(cores, max(packed)) != cores:
            rows.append(one(1, args, cache, root, threads=threads_per_worker(cores, max(packed))))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    base = rows[0]
    print(
        f"\nstudy: 8 runs (unet, {args.size} px, batch {args.batch}, {args.epochs} epochs, fp32), "
        f"{base['images']} training images in all\n"
    )
    print(
        "| runs per device | study img/s (runs' span) | vs N=1 | img/s (whole command) "
        "| peak RSS per worker | peak RSS, all processes | peak PSS, all processes "
        "| cache RSS per process | cache PSS, all |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        rate = row["images"] / row["span"]
        per_worker = row["worker_rss"] or row["study_rss"]
        print(
            f"| {row['n']} | {rate:.1f} | {rate / (base['images'] / base['span']):.2f}x "
            f"| {row['images'] / row['wall']:.1f} | {per_worker / 1024:.0f} MiB "
            f"| {row['total_rss'] / 1024:.0f} MiB | {row['total_pss'] / 1024:.0f} MiB "
            f"| {row['cache_rss'] / 1024:.1f} MiB | {row['cache_pss'] / 1024:.1f} MiB |"
        )
    print()
    for a, b in [(x, y) for i, x in enumerate(rows) for y in rows[i + 1 :]]:
        worst = _largest_difference(a["finals"], b["finals"])
        same = "identical" if worst == 0 else f"differ by at most {worst:.1e} (relative)"
        print(f"N={a['n']} vs N={b['n']}: same run ids; final val metrics {same}")


if __name__ == "__main__":
    main()
