"""Colorize photos with a trained run's generator, at each photo's own resolution.

ab is predicted at the run's image size (the whole photo resized to a square, so every pixel is
covered), upsampled bilinearly to the photo's size, and recombined with the photo's full-resolution
L. Colour photos are reduced to their L (i.e. made grey) first; grey photos are used as they are.

The run is opened through the store: its record says which generator, variant and options built
it, and its checkpoint is loaded weights-only (opening a run never runs code stored in it). A run
that has not completed is refused unless ``allow_unfinished``; an output never replaces an input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorbench.color import denormalize_ab, lab_to_rgb, normalize_l, rgb_to_lab
from colorbench.data.images import read_rgb_image
from colorbench.data.sources import list_folder
from colorbench.errors import ColorbenchError
from colorbench.models import get_generator
from colorbench.store import RunDirectory, Status, UnreadableRecordError

OUTPUT_SUFFIX = "-colorized"


@dataclass(frozen=True)
class LoadedRun:
    generator: torch.nn.Module
    image_size: int
    epoch: int  # the epoch whose weights are used (0: not trained)
    status: Status


def load_run_generator(
    run_dir: Path, device: str = "cpu", *, allow_unfinished: bool = False, trust_checkpoint: bool = False
) -> LoadedRun:
    """The run's generator with its trained weights, from the store (one-line errors)."""
    directory = RunDirectory(run_dir)
    if not directory.exists() or not directory.has_record():
        raise ColorbenchError(f"{run_dir} is not a run directory (it holds no run record)")
    try:
        record = directory.read_record()
    except UnreadableRecordError as exc:
        raise ColorbenchError(str(exc)) from None
    status, detail = directory.state()
    spec = record.spec
    variant, size = record.variant or spec.get("variant"), record.image_size
    if size is None:
        raise ColorbenchError(f"{run_dir}: its record names no image size")
    plugin = get_generator(record.generator)
    generator = plugin.build_module(variant, size, spec.get("generator_options") or {})
    epoch = 0
    if plugin.is_trainable(variant):
        if status is not Status.COMPLETED and not allow_unfinished:
            why = f"{status.value}" + (f": {detail}" if detail else "")
            raise ColorbenchError(
                f"{run_dir} has not completed ({why}); finish it with colorbench run, "
                "or pass --allow-unfinished to use its last checkpoint"
            )
        if not directory.has_checkpoint():
            raise ColorbenchError(f"{run_dir} has no trained weights (no checkpoint)")
        state = directory.load_checkpoint(trust=trust_checkpoint)
        generator.load_state_dict(state["generator"])
        epoch = int(state.get("epoch", 0))
    return LoadedRun(generator.to(device).eval(), size, epoch, status)


def collect_inputs(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(path / name for name in list_folder(path))
        elif path.exists():
            files.append(path)
        else:
            raise ColorbenchError(f"no such file or directory: {path}")
    return files


@torch.no_grad()
def colorize_image(
    generator: torch.nn.Module, image: Image.Image, size: int, device: str = "cpu"
) -> Image.Image:
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    lightness = rgb_to_lab(rgb)[:, :1]  # (1, 1, H, W) at full resolution
    small = F.interpolate(rgb, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    l_small = normalize_l(rgb_to_lab(small.clamp(0, 1))[:, :1])
    ab_small = generator(l_small.to(device)).float().cpu()
    ab = F.interpolate(ab_small, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
    out = lab_to_rgb(torch.cat((lightness, denormalize_ab(ab)), dim=1))[0]
    return Image.fromarray((out.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))


def _real(path: Path) -> str:
    return os.path.realpath(path)


def output_path(out_dir: Path, source: Path, taken: set[str], inputs: set[str]) -> Path:
    """``out_dir/<stem>.png``; never an input's own path nor one already written this time."""
    target = out_dir / f"{source.stem}.png"
    n = 0
    while _real(target) in taken or _real(target) in inputs:
        n += 1
        target = out_dir / f"{source.stem}{OUTPUT_SUFFIX}{'' if n == 1 else f'-{n}'}.png"
    return target


def colorize_paths(
    inputs: list[Path],
    run_dir: Path,
    out_dir: Path,
    device: str = "cpu",
    echo=print,
    *,
    allow_unfinished: bool = False,
    trust_checkpoint: bool = False,
):
    """Colorize every image; a bad file is reported and skipped. Returns (written, skipped)."""
    run = load_run_generator(
        run_dir, device, allow_unfinished=allow_unfinished, trust_checkpoint=trust_checkpoint
    )
    if run.status is not Status.COMPLETED:
        echo(f"using the weights of epoch {run.epoch} of an unfinished run ({run.status.value})")
    files = collect_inputs(inputs)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColorbenchError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    input_paths = {_real(p) for p in files}
    written, skipped, taken = [], [], set()
    for path in files:
        try:
            image = read_rgb_image(path)
        except ValueError as exc:
            skipped.append((path, str(exc)))
            echo(f"skipped {path}: {exc}")
            continue
        target = output_path(out_dir, path, taken, input_paths)
        if target.name != f"{path.stem}.png" and _real(out_dir / f"{path.stem}.png") in input_paths:
            echo(f"{out_dir / (path.stem + '.png')} is an input: writing beside it as {target.name}")
        try:
            colorize_image(run.generator, image, run.image_size, device).save(target)
        except OSError as exc:
            raise ColorbenchError(f"cannot write {target}: {exc.strerror or exc}") from None
        taken.add(_real(target))
        written.append(target)
        echo(f"{path} -> {target}")
    return written, skipped
