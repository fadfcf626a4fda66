"""What data to prepare: :class:`DataSpec`, the one value every command and the trainer pass around."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from colorbench.errors import ColorbenchError

SOURCES = ("sample", "coco", "folder")
# How an image becomes size x size: "crop" = shorter side to size, centred square (colorbench's
# default); "squash" = the whole image to size x size, aspect ratio not kept (the study's tutorial).
RESIZE_MODES = ("crop", "squash")

_FORMS = "'sample', 'coco:IMAGES_DIR:ANNOTATIONS' or 'folder:DIR'"


def _normalise_categories(categories) -> tuple[str, ...]:
    """Accept a comma list or any iterable of names; the result is sorted and unique.

    A category filter keeps images that show *any* of the names, so their order does not matter;
    sorting makes ``dog,cat`` and ``cat,dog`` the same spec (and the same cache).
    """
    if categories is None:
        return ()
    if isinstance(categories, str):
        categories = categories.split(",")
    names = {str(name).strip() for name in categories}
    return tuple(sorted(name for name in names if name))


@dataclass(frozen=True)
class DataSpec:
    """A data source and everything that determines the prepared arrays built from it.

    ``source`` is ``"sample"`` (the photos shipped with colorbench), ``"coco"`` (``root`` is the
    image folder, ``annotations`` a COCO instances file) or ``"folder"`` (every image under
    ``root``). ``limit`` images are chosen with ``seed``; ``val_fraction`` of them go to val.
    ``resize="crop"``: images are resized so the shorter side is ``size`` and centre-cropped to
    ``size`` x ``size``; ``"squash"``: the whole image is resized to ``size`` x ``size`` (the study's
    tutorial). ``keep_gray``: grayscale images are kept (as RGB, ab = 0) instead of skipped, as the
    tutorial does. The defaults are colorbench's own protocol.
    """

    source: str = "sample"
    root: str | None = None
    annotations: str | None = None
    categories: tuple[str, ...] = ()
    size: int = 64
    limit: int | None = None
    val_fraction: float = 0.2
    seed: int = 123
    resize: str = "crop"
    keep_gray: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", _normalise_categories(self.categories))
        for name in ("root", "annotations"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(value))
        self._validate()

    def _validate(self) -> None:
        if self.source not in SOURCES:
            raise ColorbenchError(f"unknown data source {self.source!r}; choose one of {', '.join(SOURCES)}")
        if self.source == "sample" and (self.root or self.annotations):
            raise ColorbenchError(
                "the 'sample' source is the built-in photo set and takes no --root or --annotations; "
                "use --source folder or --source coco for your own images"
            )
        if self.source in ("coco", "folder") and not self.root:
            what = "the COCO image folder" if self.source == "coco" else "the image folder"
            raise ColorbenchError(f"--source {self.source} needs --root ({what})")
        if self.source == "coco" and not self.annotations:
            raise ColorbenchError("--source coco needs --annotations (a COCO instances JSON file)")
        if self.source == "folder" and self.annotations:
            raise ColorbenchError("--annotations is only used by --source coco")
        if self.categories and self.source != "coco":
            raise ColorbenchError("--categories needs COCO annotations (--source coco)")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 8 <= self.size <= 4096:
            raise ColorbenchError(f"--image-size must be an integer from 8 to 4096 pixels, got {self.size!r}")
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 2
        ):
            raise ColorbenchError(
                f"--limit must be an integer >= 2 (one train and one val image), got {self.limit!r}"
            )
        if not isinstance(self.val_fraction, (int, float)) or not 0.0 < float(self.val_fraction) < 1.0:
            raise ColorbenchError(
                f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ColorbenchError(f"--seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}")
        if self.resize not in RESIZE_MODES:
            raise ColorbenchError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if not isinstance(self.keep_gray, bool):
            raise ColorbenchError(f"keep_gray must be true or false, got {self.keep_gray!r}")

    # ------------------------------------------------------------------ text and dict forms
    @classmethod
    def parse(cls, text: str | None, **overrides) -> DataSpec:
        """Build a spec from the CLI form ``sample``, ``coco:IMAGES_DIR:ANNOTATIONS`` or ``folder:DIR``.

        ``overrides`` set the other fields (``size=``, ``limit=``, ``categories=`` ...).
        """
        text = (text or "sample").strip()
        kind, _, rest = text.partition(":")
        if kind == "sample" and not rest:
            fields = {"source": "sample"}
        elif kind == "folder" and rest:
            fields = {"source": "folder", "root": rest}
        elif kind == "coco" and rest:
            # Split on the last colon so an image folder name may hold a colon; an annotation
            # file name rarely does.
            images_dir, sep, annotations = rest.rpartition(":")
            if not sep or not images_dir or not annotations:
                raise ColorbenchError(
                    f"cannot read data spec {text!r}: expected 'coco:IMAGES_DIR:ANNOTATIONS'"
                )
            fields = {"source": "coco", "root": images_dir, "annotations": annotations}
        else:
            raise ColorbenchError(f"cannot read data spec {text!r}: expected {_FORMS}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown DataSpec fields: {', '.join(sorted(unknown))}")
        fields.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**fields)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DataSpec:
        return cls(**data)

    def describe(self) -> str:
        """One line for logs and ``info``."""
        where = {"sample": "built-in sample photos", "folder": f"folder {self.root}"}.get(
            self.source, f"coco {self.root} ({self.annotations})"
        )
        cats = f", categories {','.join(self.categories)}" if self.categories else ""
        limit = "all" if self.limit is None else str(self.limit)
        resize = "centre crop" if self.resize == "crop" else "squashed"
        gray = "kept" if self.keep_gray else "skipped"
        return (
            f"{where}{cats}; size {self.size} ({resize}), limit {limit}, "
            f"val fraction {self.val_fraction:g}, seed {self.seed}, grayscale {gray}"
        )

    def cli_args(self) -> str:
        """The ``colorbench data prepare`` options that reproduce this spec."""
        if self.source == "sample":
            parts = ["--data sample"]
        elif self.source == "folder":
            parts = [f"--data folder:{self.root}"]
        else:
            parts = [f"--data coco:{self.root}:{self.annotations}"]
        if self.categories:
            parts.append(f"--categories {','.join(self.categories)}")
        defaults = DataSpec()
        flags = {
            "size": "--image-size",
            "limit": "--limit",
            "val_fraction": "--val-fraction",
            "seed": "--seed",
        }
        for name, flag in flags.items():
            value = getattr(self, name)
            if value != getattr(defaults, name):
                parts.append(f"{flag} {value}")
        if self.resize != defaults.resize:
            parts.append(f"--resize {self.resize}")
        if self.keep_gray:
            parts.append("--keep-gray")
        return " ".join(parts)
