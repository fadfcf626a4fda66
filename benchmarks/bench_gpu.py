"""GPU throughput of colorbench's pix2pix training step, and model FLOP utilisation.

Runs the same step function the trainer uses (``pix2pix_train_step``) on data already on the GPU,
with bf16 autocast, channels_last and cudnn benchmark mode, for unet (n_down 8) and zhang (study
default) at 256 px, batch 16 and 64. FLOPs per step come from torch's FLOP counter; utilisation is
given against a bf16 matmul peak measured in the same process. Prints a Markdown table.

Then the data path end to end (batches from the prepared cache of the built-in photos through
``BatchLoader`` into the same step, unet at 64 px batch 64, where a step is short enough for
data movement to show): the cache kept on the GPU (``placement="device"``, the trainer's choice
when it fits), pinned host batches with non-blocking copies (``"pinned"``), and plain host
batches copied with ``.to("cuda")`` (how the trainer did it before).

    python benchmarks/bench_gpu.py [--steps 20] [--out RESULTS_FRAGMENT.md]
    python benchmarks/bench_gpu.py --quick     # smoke test on the CPU: the data-path part only
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from colorbench.data import BatchLoader, DataSpec, prepare
from colorbench.models import PatchDiscriminator, get_generator, init_weights
from colorbench.training.objective import GANLoss, pix2pix_train_step

CASES = [
    ("unet", "n_down_8", 256, 16),
    ("unet", "n_down_8", 256, 64),
    ("zhang", "no_conv5_7", 256, 16),
    ("zhang", "no_conv5_7", 256, 64),
]
PAPER_IMAGES_PER_EPOCH = 8000
PAPER_EPOCHS = 100
PAPER_SETTINGS = 9  # per generator: default + 8 one-factor variations


def matmul_peak_tflops(n: int = 8192, repeats: int = 10) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e12


def bench_case(name: str, variant: str, size: int, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    g = get_generator(name).build(variant, size)
    d = PatchDiscriminator(in_channels=3)
    init_weights(g, "normal")
    init_weights(d, "normal")
    g = g.to("cuda", memory_format=torch.channels_last)
    d = d.to("cuda", memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), lr=5e-4, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=5e-4, betas=(0.5, 0.999), fused=True)
    autocast = functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
    gan = GANLoss("vanilla")
    l_norm = (torch.rand(batch, 1, size, size, device="cuda") * 2 - 1).to(memory_format=torch.channels_last)
    ab = (torch.rand(batch, 2, size, size, device="cuda") * 0.4 - 0.2).to(memory_format=torch.channels_last)

    def step():
        return pix2pix_train_step(g, d, gan, opt_g, opt_d, l_norm, ab, 100.0, autocast)

    for _ in range(5):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        losses = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    assert all(torch.isfinite(v) for v in losses.values())
    return {
        "case": f"{name} {variant} {size}px b{batch}",
        "images_per_s": batch / seconds,
        "tflops": flops / seconds / 1e12,
        "gflop_per_image": flops / batch / 1e9,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9,
    }


def _batches(loader: BatchLoader, device: str):
    """Endless batches on ``device`` (the ``.to`` is a no-op unless the loader is on the host)."""
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        for l_norm, ab in loader:
            yield l_norm.to(device), ab.to(device)
        epoch += 1


def _time_data_way(data, way: str, device: str, size: int, batch: int, steps: int, variant: str) -> float:
    cuda = device == "cuda"
    torch.manual_seed(0)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    g = get_generator("unet").build(variant, size).to(device, memory_format=fmt)
    d = PatchDiscriminator(in_channels=3).to(device, memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    autocast = functools.partial(torch.autocast, device_type=device, dtype=torch.bfloat16, enabled=cuda)
    on_host = way == "unpinned"
    loader = BatchLoader(
        data.train_l,
        data.train_ab,
        batch,
        shuffle=True,
        seed=0,
        flip=True,
        drop_last=True,
        device="cpu" if on_host else device,
        placement="host" if on_host else way,
    )
    gan = GANLoss("vanilla")
    stream = _batches(loader, device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for i in range(3 + steps):
        if i == 3:
            sync()
            t0 = time.perf_counter()
        l_norm, ab = next(stream)
        losses = pix2pix_train_step(g, d, gan, opt_g, opt_d, l_norm, ab, 100.0, autocast)
    sync()
    seconds = time.perf_counter() - t0
    assert all(torch.isfinite(v) for v in losses.values())
    return batch * steps / seconds


def bench_data_path(
    device: str, size: int, batch: int, steps: int, cache_dir: str | None, variant: str
) -> list[dict]:
    """Images/s of loader + step for each way of getting batches onto ``device``."""
    data = prepare(DataSpec(source="sample", size=size), cache_dir=cache_dir, progress=False)
    ways = ["device", "pinned", "unpinned"] if device == "cuda" else ["host", "device"]
    return [
        {"way": way, "images_per_s": _time_data_way(data, way, device, size, batch, steps, variant)}
        for way in ways
    ]


def data_path_lines(device: str, size: int, batch: int, steps: int, cache_dir, variant: str) -> list[str]:
    lines = [
        "",
        f"Data path end to end: unet {variant} {size}px b{batch}, {steps} steps, BatchLoader from the "
        "prepared cache of the built-in photos into the same step",
        "",
        "| batches | images/s | vs unpinned host |"
        if device == "cuda"
        else "| batches | images/s | vs host |",
        "|---|---:|---:|",
    ]
    results = bench_data_path(device, size, batch, steps, cache_dir, variant)
    base = results[-1 if device == "cuda" else 0]["images_per_s"]
    for r in results:
        lines.append(f"| {r['way']} | {r['images_per_s']:.0f} | {r['images_per_s'] / base:.2f}x |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    parser.add_argument("--cache-dir", default=None, help="colorbench's prepared-data cache")
    parser.add_argument("--quick", action="store_true", help="CPU smoke test of the data-path part")
    args = parser.parse_args()
    if args.quick:
        print("\n".join(data_path_lines("cpu", 32, 4, 2, args.cache_dir, "n_down_5")))
        return
    torch.backends.cudnn.benchmark = True
    peak = matmul_peak_tflops()
    lines = [
        f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"measured bf16 matmul peak {peak:.0f} TFLOP/s (8192^3)",
        "",
        "| case | images/s | GFLOP/image (step) | achieved TFLOP/s | MFU vs measured peak | peak mem GB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    results = []
    for case in CASES:
        torch.cuda.reset_peak_memory_stats()
        r = bench_case(*case, steps=args.steps)
        results.append((case, r))
        lines.append(
            f"| {r['case']} | {r['images_per_s']:.0f} | {r['gflop_per_image']:.1f} | "
            f"{r['tflops']:.1f} | {100 * r['tflops'] / peak:.1f}% | {r['peak_mem_gb']:.1f} |"
        )
        print(lines[-1], flush=True)
    # Paper preset's full study: 9 settings x 100 epochs x 8,000 images per generator, at batch 16.
    lines.append("")
    total_h = 0.0
    for (name, _, _, batch), r in results:
        if batch == 16:
            hours = PAPER_SETTINGS * PAPER_EPOCHS * PAPER_IMAGES_PER_EPOCH / r["images_per_s"] / 3600
            total_h += hours
            lines.append(
                f"- paper study, {name}: 9 settings x 100 epochs x 8,000 images at "
                f"{r['images_per_s']:.0f} images/s = {hours:.1f} h of training steps"
            )
    lines.append(f"- both generators: {total_h:.1f} h (steps only; data loading and evaluation not included)")
    lines += data_path_lines("cuda", 64, 64, args.steps * 3, args.cache_dir, "n_down_6")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
