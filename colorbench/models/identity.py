"""A plugin's identity as it enters a run spec: distribution, version, code fingerprint, variant files."""

from __future__ import annotations

import os
from functools import cache, lru_cache
from typing import Any

from colorbench.models.fingerprint import code_fingerprint, file_digest
from colorbench.models.registry import get_generator, plugin_info


@cache
def _code(name: str) -> tuple[str | None, str | None, str]:
    info = plugin_info(name)
    return info.dist_name, info.dist_version, code_fingerprint(info.value, info.dist_name)


@lru_cache(maxsize=256)
def _file(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(path)


def variant_files(name: str, variant: str, options: dict[str, Any] | None = None) -> dict[str, str | None]:
    """Content digest of each file the variant reads when built with ``options`` (None: missing)."""
    digests: dict[str, str | None] = {}
    for path in get_generator(name).files(variant, options):
        try:
            stat = os.stat(path)
        except OSError:
            digests[path] = None
            continue
        digests[path] = _file(path, stat.st_size, stat.st_mtime_ns)
    return digests


def plugin_identity(name: str, variant: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What identifies the code and data behind a generator variant built with ``options``
    (cached per process)."""
    dist_name, dist_version, fingerprint = _code(name)
    return {
        "distribution": dist_name,
        "version": dist_version,
        "fingerprint": fingerprint,
        "files": variant_files(name, variant, options),
    }


def forget() -> None:
    """Drop the cache (after a plugin was edited or reinstalled in a running process)."""
    _code.cache_clear()
    _file.cache_clear()
