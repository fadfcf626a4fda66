"""Checkpoints that open as safely as an image: tensors and plain types only, loaded weights-only.

A checkpoint holds the models, the optimisers, the epoch, the RNG states and the history. Every
part is a tensor or a plain Python value (numpy's RNG state is stored as a tensor plus plain
values), so :func:`load_checkpoint` uses ``torch.load(weights_only=True)``, which never runs code
from the file. A file that needs more (an older colorbench's checkpoint, which pickled numpy
arrays, or a crafted one) is refused with :class:`UnsafeCheckpointError` unless the caller
explicitly trusts it; a truncated or corrupt file raises :class:`DamagedCheckpointError`.
This module is the one loader: resume, ``colorize``, reports and benchmarks all use it.
"""

from __future__ import annotations

import io
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colorbench.errors import ColorbenchError
from colorbench.store.atomic import atomic_write_bytes

CHECKPOINT_FORMAT = 2  # 1: colorbench 0.1.0's first checkpoints (numpy RNG state pickled as is)
TRUST_HINT = (
    "retrain it (rerun the study; the run starts again from scratch), or, only if the file comes "
    "from a source you trust, pass --trust-checkpoint"
)


class UnsafeCheckpointError(ColorbenchError):
    """The checkpoint cannot be opened without running code stored in it."""


class DamagedCheckpointError(ColorbenchError):
    """The checkpoint is truncated or corrupt."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain types) atomically, with the format number."""
    buffer = io.BytesIO()
    torch.save({**state, "format": CHECKPOINT_FORMAT}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, *, trust: bool = False) -> dict[str, Any]:
    """The checkpoint at ``path``, opened weights-only (``trust=True``: also older formats)."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DamagedCheckpointError(f"{path} is truncated or not a checkpoint (not a torch zip archive)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trust:
            raise UnsafeCheckpointError(
                f"{path} was written by an older colorbench or by something else, and opening it "
                f"could run code stored in it; refused. {TRUST_HINT}"
            ) from None
        state = _load_trusted(path)
    except (OSError, EOFError, RuntimeError, KeyError, ValueError) as exc:
        raise DamagedCheckpointError(f"{path} is damaged ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "generator" not in state:
        raise DamagedCheckpointError(f"{path} is not a colorbench checkpoint (no generator weights)")
    return state


def _load_trusted(path: Path) -> dict[str, Any]:
    """An older checkpoint, explicitly trusted: full unpickling, then converted to today's form."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # anything the file does is the trusted source's business, but say it
        raise DamagedCheckpointError(f"{path} could not be opened ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("rng"), dict):
        numpy_state = state["rng"].get("numpy")
        if isinstance(numpy_state, tuple):
            state["rng"]["numpy"] = _numpy_state_to_plain(numpy_state)
    return state


def is_loadable(path: Path) -> str | None:
    """``None`` if the checkpoint opens safely, else why not (one line), without keeping it."""
    try:
        load_checkpoint(path)
    except (UnsafeCheckpointError, DamagedCheckpointError) as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- RNG state
def _numpy_state_to_plain(state: tuple) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = state
    return {
        "kind": str(kind),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def rng_state() -> dict[str, Any]:
    """torch, numpy, Python (and CUDA) RNG states as tensors and plain values."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
