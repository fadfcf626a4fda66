"""The epoch (and precision) a checkpoint holds, read without torch and without running anything in it.

The plan (``colorbench run``'s "resume after epoch N") must name the epoch the trainer will resume
from, and that is the checkpoint's, not the number of rows in metrics.jsonl (a kill between the
two writes leaves them one apart). Planning must stay light, so instead of ``torch.load`` this
opens the checkpoint's zip archive and unpickles only its small ``data.pkl`` with every class
replaced by an inert stand-in and every tensor by None: plain values such as the epoch survive,
nothing in the file is ever called. A file that is not such an archive (truncated by a kill) reads
as damaged: the trainer will start that run again from scratch, and the plan says so.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path


class _Inert:
    """Stands in for every class a checkpoint's pickle names; accepts and ignores its state."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


class _PeekUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict  # state dicts: it takes the attributes torch gives it
        return _Inert

    def persistent_load(self, pid):
        return None  # a tensor's storage: not read


def checkpoint_epoch(path: Path) -> int | None:
    """The checkpoint's last complete epoch; None if the file is damaged or not a checkpoint."""
    facts = checkpoint_facts(path)
    return facts["epoch"] if facts is not None else None


def checkpoint_facts(path: Path) -> dict | None:
    """``{"epoch": int, "precision": str | None}``; None if the file is damaged or not a checkpoint.

    ``precision`` is the precision the checkpoint was trained in (None: written before colorbench
    recorded it there).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                return None
            state = _PeekUnpickler(io.BytesIO(archive.read(names[0]))).load()
    except Exception:  # noqa: BLE001 - any failure to read it means the trainer cannot use it either
        return None
    if not isinstance(state, dict):
        return None
    epoch, precision = state.get("epoch"), state.get("precision")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return None
    return {"epoch": epoch, "precision": precision if isinstance(precision, str) else None}
