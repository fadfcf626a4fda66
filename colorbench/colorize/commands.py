"""``colorbench colorize``: photos in, colorized photos out, with a trained run."""

from __future__ import annotations

from pathlib import Path

import click

from colorbench.deprecation import deprecated_option


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
    "-o",
    "--output",
    "output_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder [colorized] (an output never replaces an input: it gets a -colorized suffix).",
)
@deprecated_option(
    "--out",
    "old_out_dir",
    instead="-o/--output",
    why="--out names the results store in every other command",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    help="Where the generator runs (auto: a GPU if there is one), as --set device=... in run and train.",
)
@click.option(
    "--allow-unfinished", is_flag=True, help="Use the last checkpoint of a run that has not completed."
)
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Open an older-format checkpoint (its pickle can run code: only from a trusted source).",
)
def colorize_command(
    inputs, run_dir, output_dir, old_out_dir, device, allow_unfinished, trust_checkpoint
) -> None:
    """Colorize photos (files or folders) with a trained run, at their original resolution."""
    from colorbench.colorize.core import colorize_paths
    from colorbench.errors import ColorbenchError
    from colorbench.training.hardware import resolve_device

    if output_dir is not None and old_out_dir is not None:
        raise ColorbenchError("give the output folder once: -o/--output (--out is its old name)")
    out_dir = output_dir or old_out_dir or Path("colorized")
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
