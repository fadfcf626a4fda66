"""``colorbench train``: one run end to end (prepare data, train, evaluate, write the run directory)."""

from __future__ import annotations

import click

from colorbench.errors import ColorbenchError
from colorbench.models import plugin_version
from colorbench.training.config import resolve_config, run_id
from colorbench.training.presets import PRESETS, build_config


def parse_settings(settings: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ColorbenchError(f"--set expects key=value, got {item!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


@click.command("train")
@click.option(
    "--plugin", "generator", default="unet", show_default=True, help="Generator name (colorbench list)."
)
@click.option("--variant", default=None, help="Depth variant (default: the preset's or the plugin's).")
@click.option("--preset", default="quick", show_default=True, type=click.Choice(sorted(PRESETS)))
@click.option("--data", default=None, help="sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override any run field.")
@click.option("--out", "out_dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="Prepared-data cache.")
def train_command(generator, variant, preset, data, settings, out_dir, cache_dir) -> None:
    """Train and evaluate ONE run; its directory is named by the hash of its configuration."""
    from pathlib import Path

    from colorbench.training.trainer import train_run

    config = build_config(preset, generator, variant=variant, data=data, overrides=parse_settings(settings))
    resolved, plugin = resolve_config(config)
    run_dir = Path(out_dir) / run_id(resolved, plugin_version(plugin.name))
    summary = train_run(resolved, run_dir, cache_dir=cache_dir)
    final = summary.get("final_val") or {}
    base = summary.get("baseline_gray") or {}
    for name in ("l1_ab", "psnr", "ssim", "ciede2000", "dcf", "auc"):
        if name in final:
            click.echo(f"  {name:10s} {final[name]:10.4f}   (gray {base.get(name, float('nan')):.4f})")
