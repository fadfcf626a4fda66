"""Decoding one image file into a square 8-bit sRGB array, with every bad case named.

The rules (each outcome is counted and reported by ``prepare``; nothing is silently kept):

- skipped ``missing``: the file does not exist (a COCO annotation may list files not on disk);
- skipped ``truncated``: the decoder ran out of data (PIL's ``LOAD_TRUNCATED_IMAGES`` must be off,
  :func:`strict_pil` makes sure of it while preparing);
- skipped ``unreadable``: anything else PIL cannot decode (not an image, corrupt, too large);
- skipped ``grayscale``: a grayscale mode (1, L, LA, I, I;16, F) -- no colour target;
- skipped ``grayscale-rgb``: colour-mode files whose pixels are grey: after resizing and cropping,
  ``max |R - G|`` and ``max |G - B|`` over all pixels are both <= :data:`GRAY_TOLERANCE` (8-bit).
  The tolerance absorbs JPEG rounding of grey photos saved as RGB; a colour photo differs by far more;
- with ``keep_gray=True`` (the study's tutorial, which converts every file to RGB and keeps it)
  neither is skipped: converted ``grayscale-kept`` (a grayscale mode expanded to RGB; 16/32-bit
  grey is scaled, not clipped, to 8 bits; grey with alpha is composited on white as colour is) and
  ``grayscale-rgb-kept`` (a colour file with grey pixels, kept as it is). Their ab targets are 0;
- converted ``exif-rotated``: EXIF orientation 2-8 applied (``ImageOps.exif_transpose``);
- converted ``16-bit``: 16 bits per channel reduced to 8;
- converted ``palette``: palette (P/PA) expanded to RGB;
- converted ``cmyk``: CMYK converted with PIL's formula (no ICC colour management, as no reference
  implementation uses it; embedded ICC profiles of other files are ignored too);
- converted ``alpha``: an alpha channel is composited on white -- what a viewer shows; the RGB
  under transparent pixels is often arbitrary (black), so simply dropping alpha would invent colours;
- converted ``other-mode``: any other colour mode (YCbCr, LAB, HSV, RGBX ...) converted by PIL.

``resize="crop"`` (the default): the result is resized so the shorter side is ``size`` (bicubic,
antialiased: PIL widens the filter when reducing) and centre-cropped to ``size`` x ``size``; both
in one ``resize`` call whose ``box`` is the centred square of the source, which equals
resize-then-crop without resampling pixels that are thrown away. ``resize="squash"`` (the study's
tutorial: ``transforms.Resize((256, 256), BICUBIC)``): the whole image is resized to ``size`` x
``size`` by the same bicubic call, without a crop, so a non-square photo keeps all its content and
changes its aspect ratio. Either way, images whose shorter side is below ``size`` are upscaled
(reported as ``upscaled``).

JPEGs much larger than the target are decoded at a reduced scale (libjpeg's DCT scaling, through
``Image.draft``, as PIL's own ``thumbnail`` does), never below :data:`JPEG_DRAFT_MARGIN` times the
target size, so the bicubic reduction that follows still antialiases; decoding a 4x larger photo
costs several times more than the rest of the conversion.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from colorbench.data.spec import RESIZE_MODES

GRAY_TOLERANCE = 2
JPEG_DRAFT_MARGIN = 2
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
SKIP_REASONS = ("missing", "truncated", "unreadable", "grayscale", "grayscale-rgb")
CONVERSION_REASONS = (
    "exif-rotated",
    "16-bit",
    "palette",
    "cmyk",
    "alpha",
    "other-mode",
    "grayscale-kept",
    "grayscale-rgb-kept",
)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "PA"})


@dataclass(frozen=True)
class DecodedImage:
    """``rgb`` (size, size, 3) uint8, or ``None`` with ``skip_reason`` (one of :data:`SKIP_REASONS`)."""

    rgb: np.ndarray | None
    skip_reason: str | None = None
    detail: str = ""
    conversions: tuple[str, ...] = ()
    upscaled: bool = False

    @property
    def ok(self) -> bool:
        return self.rgb is not None


def _skip(reason: str, detail: str) -> DecodedImage:
    return DecodedImage(None, reason, detail)


@contextlib.contextmanager
def strict_pil() -> Iterator[None]:
    """Make PIL raise on truncated files while preparing (another library may have switched
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` on, which would keep half-grey images); restored after."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _has_16_bit_channels(image: Image.Image) -> bool:
    # PIL reads 16-bit-per-channel colour PNG/TIFF into 8-bit modes; only the raw mode of the
    # decoder tile (e.g. 'RGB;16B') tells. Must be asked before load(), which clears the tile.
    for tile in image.tile:
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _draft_jpeg(image: Image.Image, size: int) -> None:
    """Ask the JPEG decoder for the smallest scale (1/2, 1/4, 1/8) whose shorter side is still at
    least ``JPEG_DRAFT_MARGIN * size``; no effect on other formats. Call before ``load()``."""
    if image.format != "JPEG":
        return
    width, height = image.size
    side = min(width, height)
    wanted = JPEG_DRAFT_MARGIN * size
    if side >= 2 * wanted:
        # PIL picks the scale as min(width // w, height // h): floor both so neither side limits it.
        image.draft(image.mode, (math.floor(width * wanted / side), math.floor(height * wanted / side)))


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError):
        return 1


def _to_rgb(image: Image.Image, conversions: list[str]) -> Image.Image:
    """Any colour mode -> 8-bit RGB, naming each conversion in ``conversions``."""
    if image.mode == "P":
        conversions.append("palette")
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "PA":
        conversions.append("palette")
        image = image.convert("RGBA")
    if image.mode == "CMYK":
        conversions.append("cmyk")
        image = image.convert("RGB")
    if image.mode in _ALPHA_MODES:
        conversions.append("alpha")
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        image = white
    if image.mode != "RGB":
        conversions.append("other-mode")
        image = image.convert("RGB")
    return image


def _square(image: Image.Image, size: int, resize: str = "crop") -> Image.Image:
    """``size`` x ``size``: the centred square of the source (``crop``) or all of it (``squash``)."""
    if resize == "squash":
        return image.resize((size, size), Image.Resampling.BICUBIC)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))


def _wide_gray_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit grey (modes I, I;16 ...) as mode L, scaled rather than clipped to 8 bits."""
    values = np.asarray(image, dtype=np.float64)
    scale = 255.0 / 65535.0 if values.max() > 255 else 1.0
    return Image.fromarray(np.clip(values * scale, 0, 255).astype(np.uint8), "L")


def _gray_to_rgb(image: Image.Image, conversions: list[str]) -> Image.Image:
    """A grayscale-mode image as 8-bit RGB with R = G = B (so its ab target is 0)."""
    conversions.append("grayscale-kept")
    if image.mode.startswith("I"):
        image = _wide_gray_to_8bit(image)
    elif image.mode in ("LA", "La"):
        # Through RGBA so that _to_rgb composites the alpha on white, as for colour images.
        image = image.convert("LA").convert("RGBA")
    elif image.mode != "L":
        image = image.convert("L")
    return _to_rgb(image.convert("RGB") if image.mode == "L" else image, conversions)


def is_gray(rgb: np.ndarray, tolerance: int = GRAY_TOLERANCE) -> bool:
    """True when every pixel of an (H, W, 3) uint8 array has R, G, B within ``tolerance``."""
    signed = rgb.astype(np.int16)
    return bool(
        np.abs(signed[..., 0] - signed[..., 1]).max() <= tolerance
        and np.abs(signed[..., 1] - signed[..., 2]).max() <= tolerance
    )


def decode_image(path: Path, size: int, *, resize: str = "crop", keep_gray: bool = False) -> DecodedImage:
    """Decode ``path`` to a (size, size, 3) uint8 sRGB array, or say why it is skipped.

    ``resize``: ``"crop"`` or ``"squash"``; ``keep_gray``: keep grayscale images (as RGB) instead of
    skipping them (module docstring). Never raises for a bad file (only for MemoryError); call
    inside :func:`strict_pil`.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    try:
        with Image.open(path) as opened:
            sixteen_bit = _has_16_bit_channels(opened)
            _draft_jpeg(opened, size)
            opened.load()
            conversions = []
            image: Image.Image = opened
            if 2 <= _exif_orientation(opened) <= 8:
                conversions.append("exif-rotated")
                image = ImageOps.exif_transpose(opened)
            mode = image.mode
            gray_mode = mode in GRAYSCALE_MODES or mode.startswith("I;16")
            if gray_mode and not keep_gray:
                return _skip("grayscale", f"grayscale mode {mode}")
            if sixteen_bit:
                conversions.append("16-bit")
            image = _gray_to_rgb(image, conversions) if gray_mode else _to_rgb(image, conversions)
            upscaled = min(image.size) < size
            # writable: torch.from_numpy needs it
            rgb = np.array(_square(image, size, resize), dtype=np.uint8)
    except FileNotFoundError:
        return _skip("missing", "file not found")
    except MemoryError:
        raise
    except UnidentifiedImageError:
        return _skip("unreadable", "not an image PIL can identify")
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError ... for bad files
        reason = "truncated" if "truncated" in str(exc).lower() else "unreadable"
        return _skip(reason, f"{type(exc).__name__}: {exc}")
    if not gray_mode and is_gray(rgb):
        if not keep_gray:
            return _skip(
                "grayscale-rgb", f"colour file with grey pixels (channels within {GRAY_TOLERANCE}/255)"
            )
        conversions.append("grayscale-rgb-kept")
    return DecodedImage(rgb, conversions=tuple(conversions), upscaled=upscaled)


def read_rgb_image(path: Path) -> Image.Image:
    """A whole image at full resolution as 8-bit sRGB, EXIF rotation applied; grey stays grey.

    For colorizing user photos (where grey input is the point). Raises ``ValueError`` with a
    one-line reason for a file that cannot be read.
    """
    try:
        with strict_pil(), Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            if image.mode.startswith("I"):
                image = _wide_gray_to_8bit(image)
            if image.mode in GRAYSCALE_MODES:
                image = image.convert("L")
            return _to_rgb(image, [])
    except FileNotFoundError:
        raise ValueError("file not found") from None
    except UnidentifiedImageError:
        raise ValueError("not an image PIL can identify") from None
    except MemoryError:
        raise
    except Exception as exc:  # PIL's many exception types for bad files
        raise ValueError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
