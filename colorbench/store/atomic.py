"""Atomic files: readers see the old file or the new one, never half of one.

Every file of the results store that is replaced while others may read it goes through here (one
implementation). Files are created with the permissions ``open()`` would give them (0666 minus
the process umask), not ``mkstemp``'s private 0600, because a store may sit on a filesystem that
several users share.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (process-wide, a few ns).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n").encode())


def atomic_write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())


def is_orphan_tmp(path: Path) -> bool:
    """A temporary file of :func:`atomic_write_bytes` (left behind by a killed writer)."""
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)
