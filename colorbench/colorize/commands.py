"""``colorbench colorize``: photos in, colorized photos out, with a trained run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("colorize")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A run directory (runs/<generator>-<hash>).",
)
@click.option(
    "--out",
    "out_dir",
    default="colorized",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Output folder (an output never replaces an input: it gets a -colorized suffix).",
)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "mps"]))
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that has not completed."
)
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Open an older-format checkpoint (its pickle can run code: only from a trusted source).",
)
def colorize_command(inputs, run_dir, out_dir, device, allow_unfinished, trust_checkpoint) -> None:
    """Colorize photos (files or folders) with a trained run, at their original resolution."""
    from colorbench.colorize.core import colorize_paths
    from colorbench.training.hardware import resolve_device

    written, skipped = colorize_paths(
        list(inputs),
        run_dir,
        out_dir,
        device=resolve_device(device),
        echo=click.echo,
        allow_unfinished=allow_unfinished,
        trust_checkpoint=trust_checkpoint,
    )
    click.echo(f"{len(written)} colorized into {out_dir}, {len(skipped)} skipped")
