"""The prepared-data cache: decode, resize and convert to Lab once; reuse by content key.

Layout of ``<cache_dir>`` (default ``$COLORBENCH_CACHE`` or ``~/.cache/colorbench``)::

    <key>/train_l.npy  (N, 1, S, S) float16, L/50 - 1      <key>/train_ab.npy  (N, 2, S, S) float16, ab/110
    <key>/val_l.npy                                          <key>/val_ab.npy
    <key>/meta.json    counts, skipped and converted files, file lists, spec -- written last
    <key>.lock         serialises preparations of the same key between processes
    <key>.tmp-<pid>-<random>/   a preparation in progress (or killed: removed by the next prepare)

The key is the SHA-256 of everything that determines the content (see :func:`cache_key`). A
preparation writes into the temporary directory and commits with one ``os.rename``, so a prepare
killed at any point leaves either no ``<key>/`` or a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from colorbench.data import sources
from colorbench.data.sources import Selection
from colorbench.data.spec import DataSpec
from colorbench.errors import ColorbenchError

# What the arrays of a given key hold; part of the key. 2: JPEGs decoded at a reduced DCT scale
# when much larger than the target (colorbench 0.1.0's first caches, 1, decoded them in full).
FORMAT_VERSION = 2
META_FILE = "meta.json"
ARRAY_NAMES = ("train_l", "train_ab", "val_l", "val_ab")
_TMP_MARK = ".tmp-"


def default_cache_dir() -> Path:
    return Path(os.environ.get("COLORBENCH_CACHE") or Path.home() / ".cache" / "colorbench")


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    path = Path(os.path.expanduser(str(cache_dir))) if cache_dir is not None else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColorbenchError(f"cannot create cache directory {path}: {exc.strerror or exc}") from None
    return path.resolve()


# --------------------------------------------------------------------------- key
def _file_identity(entry: sources.ImageEntry, by_content: bool) -> list:
    try:
        stat = entry.path.stat()
    except OSError:
        return [entry.name, None]  # missing now; it becomes a different key if it appears
    if by_content:
        return [entry.name, stat.st_size, hashlib.sha256(entry.path.read_bytes()).hexdigest()]
    return [entry.name, stat.st_size, stat.st_mtime_ns]


def cache_key(selection: Selection) -> str:
    """SHA-256 (hex) of what determines the prepared arrays.

    That is: the format version, the source kind, the real path of the root (not for ``sample``,
    whose files are hashed by content so the cache survives reinstalling), the annotation file's
    real path, size and mtime, the categories, the train and val file lists in order with each
    file's size and mtime, size, limit, val fraction and seed, and the resize mode and
    keep-gray choice. Changing any of them gives a new key; nothing else does (cache dir, progress
    bar, working directory).

    ``resize`` and ``keep_gray`` enter the payload only when they differ from their defaults
    (``crop``, ``False``): caches prepared before these options existed hold exactly what the
    defaults produce, so their keys stay valid, while a non-default value adds a field to the
    payload and so can never share a key with a default spec.
    """
    spec = selection.spec
    sample = spec.source == "sample"
    annotations = None
    if selection.annotations is not None:
        stat = selection.annotations.stat()
        annotations = [str(selection.annotations), stat.st_size, stat.st_mtime_ns]
    payload = {
        "format_version": FORMAT_VERSION,
        "source": spec.source,
        "root": None if sample else str(selection.root),
        "annotations": annotations,
        "categories": list(spec.categories),
        "size": spec.size,
        "limit": spec.limit,
        "val_fraction": float(spec.val_fraction),
        "seed": spec.seed,
        "train": [_file_identity(e, sample) for e in selection.train],
        "val": [_file_identity(e, sample) for e in selection.val],
    }
    defaults = DataSpec()
    for name in ("resize", "keep_gray"):
        if getattr(spec, name) != getattr(defaults, name):
            payload[name] = getattr(spec, name)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- prepared data
class PreparedData:
    """A complete prepared cache: ``train_l``, ``train_ab``, ``val_l``, ``val_ab`` are read-only
    memory-mapped float16 arrays, already normalised (L/50 - 1, ab/110); ``meta`` is meta.json."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.key = self.path.name
        self.reused = True  # prepare() sets False when it has just built this cache
        meta_path = self.path / META_FILE
        try:
            self.meta = json.loads(meta_path.read_text())
            arrays = {name: np.load(self.path / f"{name}.npy", mmap_mode="r") for name in ARRAY_NAMES}
        except (OSError, ValueError) as exc:
            raise ColorbenchError(
                f"prepared cache {self.path} is damaged ({exc}); delete that directory and prepare again"
            ) from None
        self.train_l, self.train_ab = arrays["train_l"], arrays["train_ab"]
        self.val_l, self.val_ab = arrays["val_l"], arrays["val_ab"]
        if len(self.train_l) != self.meta["train"] or len(self.val_l) != self.meta["val"]:
            raise ColorbenchError(
                f"prepared cache {self.path} does not match its meta.json; delete it and prepare again"
            )

    @property
    def spec(self) -> DataSpec:
        return DataSpec.from_dict(self.meta["spec"])

    @property
    def size(self) -> int:
        return int(self.train_l.shape[-1])

    def __repr__(self) -> str:
        return f"PreparedData({self.path}, train={len(self.train_l)}, val={len(self.val_l)})"


# --------------------------------------------------------------------------- prepare
def _tmp_dirs(cache_root: Path, key: str | None = None) -> list[Path]:
    pattern = f"{key}{_TMP_MARK}*" if key else f"*{_TMP_MARK}*"
    return [p for p in cache_root.glob(pattern) if p.is_dir()]


def _remove_stale_tmp(cache_root: Path, key: str) -> None:
    """Remove the temporary dirs of ``key``; call holding its lock (so no one is writing them)."""
    for tmp in _tmp_dirs(cache_root, key):
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_other_stale_tmp(cache_root: Path) -> None:
    """Best effort: remove temporary dirs of other keys whose lock is free (their writer died)."""
    for tmp in _tmp_dirs(cache_root):
        key = tmp.name.split(_TMP_MARK, 1)[0]
        try:
            with FileLock(str(cache_root / f"{key}.lock"), timeout=0):
                shutil.rmtree(tmp, ignore_errors=True)
        except Timeout:
            continue  # being prepared right now


def _check_disk_space(cache_root: Path, selection: Selection) -> None:
    size = selection.spec.size
    needed = selection.selected * 3 * size * size * 2  # L + ab, float16
    free = shutil.disk_usage(cache_root).free
    if needed * 1.05 + 64 * 2**20 > free:
        raise ColorbenchError(
            f"preparing {selection.selected} images at {size} px needs about {needed / 2**30:.2f} GiB "
            f"in {cache_root}, but only {free / 2**30:.2f} GiB is free "
            "(use --cache-dir or a smaller --size/--limit)"
        )


def _write_meta(tmp: Path, meta: dict) -> None:
    meta_path = tmp / META_FILE
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _build(selection: Selection, key: str, cache_root: Path, progress: bool) -> Path:
    # Decoding needs torch (seconds to import): only when something is actually prepared.
    from colorbench.data.prepare_build import build_arrays

    tmp = cache_root / f"{key}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        started = time.perf_counter()
        report = build_arrays(selection, tmp, progress=progress)
        spec = selection.spec
        meta = {
            "format_version": FORMAT_VERSION,
            "key": key,
            "spec": spec.to_dict(),
            "root": str(selection.root),
            "annotations": str(selection.annotations) if selection.annotations else None,
            "found": selection.found,
            "selected": selection.selected,
            **report,
            "notes": selection.notes,
            "image_size": spec.size,
            "dtype": "float16",
            "normalisation": "l = L/50 - 1, ab = (a, b)/110",
            "prepare_seconds": round(time.perf_counter() - started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _check_enough(selection, meta)
        _write_meta(tmp, meta)  # last: a directory with meta.json is complete
        final = cache_root / key
        os.rename(tmp, final)  # the commit
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_enough(selection: Selection, meta: dict) -> None:
    if meta["train"] >= 1 and meta["val"] >= 1:
        return
    skipped = ", ".join(f"{reason} {n}" for reason, n in meta["skipped"].items()) or "none"
    raise ColorbenchError(
        f"of {selection.selected} selected images ({selection.found} found), {meta['used']} are usable "
        f"(skipped: {skipped}), giving {meta['train']} train and {meta['val']} val; each split needs at "
        "least 1 usable image"
    )


def locate(spec: DataSpec, cache_dir: str | os.PathLike | None = None) -> tuple[Selection, Path]:
    """The selection of ``spec`` and the directory its prepared cache has (or would have)."""
    cache_root = resolve_cache_dir(cache_dir)
    selection = sources.select(spec, memo_dir=cache_root)
    return selection, cache_root / cache_key(selection)


def load_prepared(path: Path) -> PreparedData | None:
    """The prepared data at ``path``, or None if it is not prepared (no complete directory)."""
    if (path / META_FILE).is_file():
        return PreparedData(path)
    if path.exists():
        raise ColorbenchError(
            f"{path} exists but has no {META_FILE}; it is not a colorbench cache -- delete it"
        )
    return None


def prepare(
    spec: DataSpec, cache_dir: str | os.PathLike | None = None, progress: bool | None = None
) -> PreparedData:
    """Build the prepared cache of ``spec``, or reuse it when it exists; return it memory-mapped.

    ``progress``: a progress bar on stderr; None shows it when stdout is a terminal. Two processes
    preparing the same key take turns on ``<key>.lock``; the second finds the first one's cache.
    """
    if progress is None:
        progress = bool(getattr(sys.stdout, "isatty", lambda: False)())
    selection, final = locate(spec, cache_dir)
    cache_root, key = final.parent, final.name
    existing = load_prepared(final)
    if existing is not None:
        return existing
    lock = FileLock(str(cache_root / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another process is preparing {final}; waiting for it", file=sys.stderr)
        lock.acquire()
    try:
        existing = load_prepared(final)  # the other process may have finished it meanwhile
        if existing is not None:
            return existing
        _remove_stale_tmp(cache_root, key)
        _check_disk_space(cache_root, selection)
        _build(selection, key, cache_root, progress)
    finally:
        lock.release()
    _remove_other_stale_tmp(cache_root)
    data = PreparedData(final)
    data.reused = False
    return data
