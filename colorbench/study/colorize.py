"""Colorize photos with a trained run's generator, at each photo's own resolution.

ab is predicted at the run's image size (the whole photo resized to a square, so every pixel is
covered), upsampled bilinearly to the photo's size, and recombined with the photo's full-resolution
L. Colour photos are reduced to their L (i.e. made grey) first; grey photos are used as they are.
"""

from __future__ import annotations

import json
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
from colorbench.training.checkpoint import load_checkpoint
from colorbench.training.config import RunConfig


def load_run_generator(run_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, RunConfig]:
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise ColorbenchError(f"{run_dir} is not a run directory (no config.json)")
    config = RunConfig.from_dict(json.loads(config_path.read_text())["config"])
    plugin = get_generator(config.generator)
    generator = plugin.build_module(config.variant, config.image_size)
    if plugin.trainable:
        checkpoint = run_dir / "checkpoint.pt"
        if not checkpoint.exists():
            raise ColorbenchError(f"{run_dir} has no trained weights yet (no checkpoint.pt)")
        generator.load_state_dict(load_checkpoint(checkpoint)["generator"])
    return generator.to(device).eval(), config


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


def colorize_paths(inputs: list[Path], run_dir: Path, out_dir: Path, device: str = "cpu", echo=print):
    """Colorize every image; a bad file is reported and skipped. Returns (written, skipped)."""
    generator, config = load_run_generator(run_dir, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for path in collect_inputs(inputs):
        try:
            image = read_rgb_image(path)
        except ValueError as exc:
            skipped.append((path, str(exc)))
            echo(f"skipped {path}: {exc}")
            continue
        target = out_dir / f"{path.stem}.png"
        n = 1
        while target in written:  # same stem from two folders
            target = out_dir / f"{path.stem}-{n}.png"
            n += 1
        colorize_image(generator, image, config.image_size, device).save(target)
        written.append(target)
        echo(f"{path} -> {target}")
    return written, skipped

