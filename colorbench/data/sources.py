"""Listing, seeded selection and train/val split of the images of a :class:`DataSpec`.

Nothing here decodes an image: a selection is computed from file names (and, for COCO, the
annotation file) only, so it is cheap enough to run on every start and to key the cache with.

Selection rule (the popular public recipe the study builds on, with ``np.random.RandomState``)::

    rs = np.random.RandomState(seed)
    chosen = rs.choice(len(names), limit, replace=False)   # skipped when limit is None or > found
    order = rs.permutation(len(chosen))
    train, val = chosen[order[:n_train]], chosen[order[n_train:]]   # n_val = round(n * val_fraction)

``names`` is sorted, so the result does not depend on directory order, the platform, or Python's
hash seed. Bad images are found later, when the selection is decoded: they are dropped from
whichever split they were drawn for and reported (the split of every other image is unchanged).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorbench.data.spec import DataSpec
from colorbench.errors import ColorbenchError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SAMPLE_IMAGES_DIR = Path(__file__).resolve().parent / "sample" / "images"
_COCO_LIST_VERSION = 1


@dataclass(frozen=True)
class ImageEntry:
    """One selected image: ``name`` is its id in reports and meta (path relative to the root)."""

    name: str
    path: Path


@dataclass
class Selection:
    """The seeded choice of a spec, before decoding."""

    spec: DataSpec
    root: Path
    found: int
    train: list[ImageEntry]
    val: list[ImageEntry]
    annotations: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def selected(self) -> int:
        return len(self.train) + len(self.val)


# --------------------------------------------------------------------------- listing
def _existing_dir(path: str, what: str) -> Path:
    resolved = Path(os.path.expanduser(path)).resolve()
    if not resolved.exists():
        raise ColorbenchError(f"{what} {path} does not exist")
    if not resolved.is_dir():
        raise ColorbenchError(f"{what} {path} is not a directory")
    return resolved


def list_folder(root: Path) -> list[str]:
    """Every image file under ``root`` (recursively, extension case-insensitive), sorted.

    Names are POSIX paths relative to ``root``. Symlinked files are listed; symlinked
    directories are not followed (they could loop).
    """
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        for filename in filenames:
            if filename.lower().endswith(IMAGE_EXTENSIONS):
                names.append((rel_dir / filename).as_posix())
    return sorted(names)


def _load_coco(annotations: Path):
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress to stdout
            coco = COCO(str(annotations))
    except json.JSONDecodeError as exc:
        raise ColorbenchError(f"annotation file {annotations} is not valid JSON ({exc})") from None
    except MemoryError:
        raise
    except Exception as exc:  # pycocotools asserts and indexes without checking the format
        raise ColorbenchError(
            f"annotation file {annotations} is not a COCO instances file ({type(exc).__name__}: {exc})"
        ) from None
    dataset = coco.dataset
    images = dataset.get("images")
    if not isinstance(images, list) or not all(
        isinstance(image, dict) and "id" in image and isinstance(image.get("file_name"), str)
        for image in images
    ):
        raise ColorbenchError(
            f"annotation file {annotations} is not a COCO instances file: it needs an 'images' list "
            "whose entries have 'id' and 'file_name'"
        )
    return coco


def list_coco(annotations: Path, categories: tuple[str, ...]) -> list[str]:
    """The file names of the images in a COCO annotation file, optionally those showing any of
    ``categories`` (a union: ``dog,cat`` keeps images with a dog or a cat), sorted and unique."""
    coco = _load_coco(annotations)
    if categories:
        if not isinstance(coco.dataset.get("categories"), list) or not coco.dataset["categories"]:
            raise ColorbenchError(
                f"annotation file {annotations} has no 'categories'; cannot filter by category"
            )
        by_name = {cat.get("name"): cat.get("id") for cat in coco.dataset["categories"]}
        unknown = [name for name in categories if name not in by_name]
        if unknown:
            valid = sorted(str(name) for name in by_name)
            shown = ", ".join(valid[:8]) + (f", ... ({len(valid)} in all)" if len(valid) > 8 else "")
            raise ColorbenchError(
                f"unknown COCO categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                f"in {annotations.name}; valid names include: {shown}"
            )
        image_ids = set()
        for name in categories:
            image_ids.update(coco.catToImgs.get(by_name[name], ()))
    else:
        image_ids = set(coco.imgs)
    return sorted({coco.imgs[image_id]["file_name"] for image_id in image_ids if image_id in coco.imgs})


def _coco_names_memoised(annotations: Path, categories: tuple[str, ...], memo_dir: Path | None) -> list[str]:
    """``list_coco``, remembered in ``memo_dir`` by the annotation file's identity.

    Loading the full COCO train annotations takes tens of seconds and gigabytes; a second run
    with an unchanged file (same path, size and mtime) reads the small remembered list instead.
    """
    if memo_dir is None:
        return list_coco(annotations, categories)
    stat = annotations.stat()
    ident = json.dumps(
        [_COCO_LIST_VERSION, str(annotations), stat.st_size, stat.st_mtime_ns, list(categories)]
    )
    memo = memo_dir / "coco-lists" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.json"
    if memo.is_file():
        try:
            data = json.loads(memo.read_text())
            if data.get("ident") == ident:
                return list(data["names"])
        except (OSError, ValueError, KeyError):
            pass  # unreadable memo: rebuild it below
    names = list_coco(annotations, categories)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"ident": ident, "names": names}))
        os.replace(tmp, memo)  # atomic: readers see the old memo or the new one
    except OSError:
        pass  # the memo is only a speed-up
    return names


def _source_names(spec: DataSpec, memo_dir: Path | None) -> tuple[Path, Path | None, list[str]]:
    if spec.source == "sample":
        root = SAMPLE_IMAGES_DIR
        names = list_folder(root) if root.is_dir() else []
        if not names:
            raise ColorbenchError(
                f"the built-in sample photos are missing from this installation ({root}); "
                "reinstall colorbench or use --source folder / --source coco"
            )
        return root, None, names
    if spec.source == "folder":
        root = _existing_dir(spec.root, "image folder")
        return root, None, list_folder(root)
    root = _existing_dir(spec.root, "COCO image folder")
    annotations = Path(os.path.expanduser(spec.annotations)).resolve()
    if not annotations.is_file():
        raise ColorbenchError(f"annotation file {spec.annotations} does not exist")
    return root, annotations, _coco_names_memoised(annotations, spec.categories, memo_dir)


# --------------------------------------------------------------------------- selection
def split_counts(n: int, val_fraction: float) -> tuple[int, int]:
    """(n_train, n_val) for ``n`` images: ``n_val = round(n * val_fraction)`` (10,000 -> 8,000/2,000)."""
    n_val = int(round(n * val_fraction))
    return n - n_val, n_val


def seeded_split(
    n_found: int, limit: int | None, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the sorted list of ``n_found`` names) of the train and val images."""
    rs = np.random.RandomState(seed)
    if limit is not None and limit <= n_found:
        chosen = rs.choice(n_found, limit, replace=False)
    else:
        chosen = np.arange(n_found)
    order = rs.permutation(len(chosen))
    n_train, _ = split_counts(len(chosen), val_fraction)
    return chosen[order[:n_train]], chosen[order[n_train:]]


def select(spec: DataSpec, memo_dir: Path | None = None) -> Selection:
    """List the images of ``spec`` and make its seeded choice and split (no decoding).

    Raises :class:`ColorbenchError` for a missing root or annotation file, a malformed annotation
    file, an unknown category, or a selection with no train or no val image.
    """
    root, annotations, names = _source_names(spec, memo_dir)
    found = len(names)
    where = {"sample": "in the built-in sample set", "folder": f"under {root}"}.get(
        spec.source,
        f"in {annotations}" + (f" for categories {','.join(spec.categories)}" if spec.categories else ""),
    )
    if found < 2:
        raise ColorbenchError(
            f"found {found} image{'s' if found != 1 else ''} {where}; need at least 2 "
            f"(one train, one val; extensions {', '.join(IMAGE_EXTENSIONS)})"
        )
    notes = []
    if spec.limit is not None and spec.limit > found:
        notes.append(f"--limit {spec.limit} is more than the {found} images found; using all of them")
    train_idx, val_idx = seeded_split(found, spec.limit, spec.val_fraction, spec.seed)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ColorbenchError(
            f"{len(train_idx) + len(val_idx)} images selected {where} "
            f"with --val-fraction {spec.val_fraction:g} give {len(train_idx)} train and {len(val_idx)} val "
            "images; each split needs at least 1 (use more images or another --val-fraction)"
        )

    def entries(indices: np.ndarray) -> list[ImageEntry]:
        return [ImageEntry(names[i], root / names[i]) for i in indices.tolist()]

    return Selection(
        spec=spec,
        root=root,
        found=found,
        train=entries(train_idx),
        val=entries(val_idx),
        annotations=annotations,
        notes=notes,
    )
