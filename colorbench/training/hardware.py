"""Resolving ``auto`` device and precision, on the machine where a run executes.

Called by the trainer, never by the planner: with the Ray executor the driver may have no GPU while
the workers do, and each worker decides for itself. What a run resolved to is recorded in its
summary (``device``, ``device_name``, ``precision``, ``hardware``), and the precision also in its
checkpoint: a run is never resumed under another resolved precision.

``COLORBENCH_AUTO_PRECISION=fp32|bf16`` decides what ``precision=auto`` resolves to, whatever the
hardware (to resume on another machine a run that ``auto`` made in bf16, say, or to keep a study
at one precision across machines); the summary's ``hardware.auto_precision`` says it was set.
``COLORBENCH_NATIVE_BF16=1|0`` overrides the detection of native bf16 support itself (to simulate
a bf16-capable device in tests); unset, the hardware decides.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from colorbench.errors import ColorbenchError

NATIVE_BF16_ENV = "COLORBENCH_NATIVE_BF16"
AUTO_PRECISION_ENV = "COLORBENCH_AUTO_PRECISION"
AUTO_PRECISIONS = ("fp32", "bf16")


def resolve_device(requested: str) -> str:
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ColorbenchError("device 'cuda' was asked for but torch sees no CUDA GPU on this machine")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ColorbenchError("device 'mps' was asked for but Apple MPS is not available here")
    if requested not in ("cpu", "cuda", "mps"):
        raise ColorbenchError(f"unknown device {requested!r}; choose from auto, cpu, cuda, mps")
    return requested


def native_bf16(device: str) -> bool:
    """Whether the hardware runs bf16 natively (not emulated)."""
    forced = os.environ.get(NATIVE_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    if device == "cpu":
        # The instruction sets themselves: oneDNN's own flag says True on AVX-512 CPUs that only
        # emulate bf16 (measured 0.3-0.5x fp32 speed there, benchmarks/RESULTS.md).
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def forced_auto_precision() -> str | None:
    """What ``COLORBENCH_AUTO_PRECISION`` makes ``auto`` resolve to; None when it is unset."""
    value = os.environ.get(AUTO_PRECISION_ENV, "").strip().lower()
    if not value:
        return None
    if value not in AUTO_PRECISIONS:
        raise ColorbenchError(
            f"{AUTO_PRECISION_ENV}={value!r}: choose from {', '.join(AUTO_PRECISIONS)} (or leave it unset)"
        )
    return value


def resolve_precision(requested: str, device: str) -> str:
    """``auto``: ``COLORBENCH_AUTO_PRECISION`` if set, else bf16 autocast where the hardware has
    native bf16, else fp32."""
    if requested == "auto":
        resolved = forced_auto_precision() or ("bf16" if native_bf16(device) else "fp32")
    else:
        resolved = requested
    if resolved == "bf16" and device == "mps":
        raise ColorbenchError("precision bf16 is not supported on the mps device; use fp32")
    return resolved


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{cpu_model() or platform.machine()} ({torch.get_num_threads()} threads)"


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def hardware_record(device: str) -> dict[str, Any]:
    """What a run's numbers were computed on, for its summary."""
    record: dict[str, Any] = {
        "host": platform.node(),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16(device),
    }
    forced = forced_auto_precision()
    if forced is not None:
        record["auto_precision"] = f"{forced} ({AUTO_PRECISION_ENV})"
    if device == "cuda":
        record["gpu"] = torch.cuda.get_device_name()
        record["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return record
