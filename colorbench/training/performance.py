"""Device, memory-layout, optimiser and thread choices of a training run, in one place.

Each choice was measured against the plain way (NCHW fp32, ``torch.optim.Adam`` with its defaults)
with ``python benchmarks/bench_train.py --levers`` and kept only where it was faster without
changing results beyond float rounding; the figures are in ``benchmarks/RESULTS.md``.

CPU (2-core AVX-512 machine, torch 2.14):
- Adam runs as the fused kernel (``fused=True``): 1.08-1.12x per step for the U-Net at 64 and
  256 px, a few percent for Zhang's network; repeatable bit for bit like the default.
  (``foreach=True`` measured 0.98-1.04x.)
- Modules stay NCHW: channels_last measured 0.95x for the U-Net at 64 px, no gain at 256 px, and
  1.06-1.08x only for Zhang's network.
- Intra-op threads: one per core the process may run on, unless ``OMP_NUM_THREADS`` says otherwise
  (one thread measured half the speed of two on 2 idle cores).
- No ``torch.compile``: compiling G and D took about 2 minutes on 2 cores and the compiled step
  was no faster. No bf16 autocast (``resolve_precision``): this CPU has no native bf16 and
  autocast ran at 0.3-0.5x.
- The training step itself keeps losses on the device (no host synchronisation per step); on
  the CPU that measured the same as reading every loss each step, on a GPU it matters.

CUDA (the GPU path of issue 7): channels_last, fused Adam and cudnn benchmark mode; the data
set is kept on the GPU when it fits, else batches travel from pinned host memory without
blocking (``colorbench.data.loader.data_placement``).

Process-wide: ``OMP_WAIT_POLICY=PASSIVE`` unless set (``colorbench/__init__.py``), because on
shared cores a spinning OpenMP runtime halved training speed.
"""

from __future__ import annotations

import os

import torch
from torch import nn


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """Set torch's intra-op threads to the usable cores unless the user chose (``OMP_NUM_THREADS``).

    Returns the number of threads in use. More threads than cores makes OpenMP threads wait on
    each other; torch's own default counts the machine's cores, which in a container or under
    ``taskset`` can be more than the process gets.
    """
    if not os.environ.get("OMP_NUM_THREADS"):
        wanted = usable_cores()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


def memory_format(device: str | torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores want NHWC); NCHW on the CPU (measured no faster)."""
    return torch.channels_last if torch.device(device).type == "cuda" else torch.contiguous_format


def prepare_modules(
    generator: nn.Module, discriminator: nn.Module, device: str
) -> tuple[nn.Module, nn.Module]:
    """Move G and D to ``device`` in the layout measured fastest there; returns them (same objects)."""
    fmt = memory_format(device)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
    generator.to(device=device, memory_format=fmt)
    discriminator.to(device=device, memory_format=fmt)
    return generator, discriminator


def adam_options(device: str | torch.device) -> dict:
    """Keyword arguments for ``torch.optim.Adam`` beyond the study's lr and betas."""
    kind = torch.device(device).type
    if kind in ("cpu", "cuda"):
        return {"fused": True}
    return {}


STUDY_BETAS = (0.5, 0.999)


def make_optimizers(
    generator: nn.Module,
    discriminator: nn.Module,
    lr: float,
    device: str,
    betas: tuple[float, float] = STUDY_BETAS,
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D (the study's betas by default), as fast as ``device`` allows."""
    options = adam_options(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas, **options)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas, **options)
    return opt_g, opt_d
