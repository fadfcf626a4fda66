"""A plugin's code fingerprint: the content of the files that define it, so a changed plugin is noticed.

What is hashed: for a third-party plugin, every file of the import package its entry point lives in
(``colorbench_timm_unet/...``, ``__pycache__`` aside); for a built-in generator, its declaration
module (``colorbench/models/unet.py``) and its network module of the same name
(``colorbench/models/networks/unet.py``, imported only when a run builds the network), since the
rest of colorbench is covered by colorbench's version. (Until the networks moved out of the
declarations, so that ``colorbench list`` needs no torch, the declaration module alone was hashed:
that one change of every built-in's fingerprint is in docs/results-store.md, "Changelog".)
Each file counts by the SHA-256 of its content, in the form a wheel's ``RECORD`` lists it: for an
installed wheel the hash is read from ``RECORD`` (no file is read), for an editable or local
install it is computed from the file, and both give the same fingerprint for the same code. (A
file edited in place inside site-packages, behind ``RECORD``'s back, is not noticed.)

Files a variant reads when built (``Variant.files``, e.g. weights) are hashed by content too
(:func:`file_digest`), into the run spec.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from importlib import metadata
from pathlib import Path

_SKIP_DIRS = {"__pycache__"}
BUILTIN_NETWORKS = "networks"  # colorbench/models/networks/<name>.py: a built-in's torch network
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def file_digest(path: str | Path) -> str:
    """``sha256=<urlsafe base64>`` of a file's content, as a wheel's RECORD writes it."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _package_files(module_name: str) -> tuple[list[Path], Path]:
    """(files that define the plugin, the directory their names are relative to)."""
    top = module_name.split(".")[0]
    if top == "colorbench":
        origin = Path(importlib.util.find_spec(module_name).origin)
        depth = len(module_name.split("."))
        network = origin.parent / BUILTIN_NETWORKS / origin.name
        return [origin, *([network] if network.is_file() else [])], origin.parents[depth - 1]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None and not spec.submodule_search_locations:
        raise ValueError(f"cannot locate the package {top!r}")
    if not spec.submodule_search_locations:  # a single-module plugin
        origin = Path(spec.origin)
        return [origin], origin.parent
    package = Path(list(spec.submodule_search_locations)[0])
    files = [
        p
        for p in package.rglob("*")
        if p.is_file()
        and p.suffix not in _SKIP_SUFFIXES
        and not _SKIP_DIRS & set(p.relative_to(package).parts)
    ]
    return files, package.parent


def _record_hashes(dist_name: str | None) -> dict[str, str]:
    if not dist_name:
        return {}
    try:
        files = metadata.distribution(dist_name).files or []
    except metadata.PackageNotFoundError:
        return {}
    return {p.as_posix(): f"{p.hash.mode}={p.hash.value}" for p in files if p.hash is not None}


def code_fingerprint(entry_point_value: str, dist_name: str | None) -> str:
    """SHA-256 (hex) over the plugin's files: ``relative/path sha256=...`` lines, sorted."""
    module_name = entry_point_value.partition(":")[0].strip()
    files, base = _package_files(module_name)
    recorded = _record_hashes(dist_name)
    lines = []
    for path in files:
        relative = path.relative_to(base).as_posix()
        lines.append(f"{relative} {recorded.get(relative) or file_digest(path)}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
