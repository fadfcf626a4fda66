"""``colorbench data prepare`` and ``colorbench data info``."""

from __future__ import annotations

import sys
import time

import click

from colorbench.data.spec import RESIZE_MODES, DataSpec
from colorbench.deprecation import deprecated_option
from colorbench.errors import ColorbenchError


def _data_options(command):
    options = [
        click.option(
            "--data",
            default=None,
            metavar="SPEC",
            help="sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR, as in run and train [sample].",
        ),
        deprecated_option("--source", instead="--data", why="--data SPEC, as run and train take it"),
        deprecated_option("--root", instead="--data folder:DIR or --data coco:DIR:ANNOTATIONS"),
        deprecated_option("--annotations", instead="--data coco:IMAGES_DIR:ANNOTATIONS"),
        click.option(
            "--categories",
            default=None,
            help="Comma list of COCO category names (any of them), as --set data_categories.",
        ),
        click.option(
            "--image-size",
            type=int,
            default=None,
            help="Side of the square images, px, as --set image_size [64].",
        ),
        deprecated_option("--size", type=int, instead="--image-size", why="the name run and train use"),
        click.option(
            "--limit",
            type=int,
            default=None,
            help="Seeded choice of this many images, as --set data_limit [all].",
        ),
        click.option(
            "--val-fraction",
            type=float,
            default=0.2,
            show_default=True,
            help="Share of images for val, as --set data_val_fraction.",
        ),
        click.option(
            "--seed",
            type=int,
            default=123,
            show_default=True,
            help="Seed of the choice and split, as --set data_seed.",
        ),
        click.option(
            "--resize",
            type=click.Choice(RESIZE_MODES),
            default="crop",
            show_default=True,
            help="crop: shorter side to --image-size, centre square; squash: whole image to a square "
            "(aspect ratio not kept; the study's tutorial). As --set data_resize.",
        ),
        click.option(
            "--keep-gray",
            is_flag=True,
            help="Keep grayscale images (as RGB, ab = 0) instead of skipping them (the study's tutorial).",
        ),
        click.option(
            "--cache-dir",
            default=None,
            help="Prepared-data cache [$COLORBENCH_CACHE or ~/.cache/colorbench].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _spec(
    data,
    source,
    root,
    annotations,
    categories,
    image_size,
    size,
    limit,
    val_fraction,
    seed,
    resize,
    keep_gray,
) -> DataSpec:
    if image_size is not None and size is not None:
        raise ColorbenchError("give the image size once: --image-size (--size is its old name)")
    fields = dict(
        categories=categories or (),
        size=image_size if image_size is not None else size if size is not None else 64,
        limit=limit,
        val_fraction=val_fraction,
        seed=seed,
        resize=resize,
        keep_gray=keep_gray,
    )
    if data is not None:
        if source is not None or root is not None or annotations is not None:
            raise ColorbenchError(
                "--data names the whole source; leave out --source, --root and --annotations"
            )
        return DataSpec.parse(data, **fields)
    return DataSpec(source=source or "sample", root=root, annotations=annotations, **fields)


def _counts(counts: dict) -> str:
    total = sum(counts.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{reason} {n}" for reason, n in counts.items()) + ")"


def summary_lines(data, verbose: bool = False) -> list[str]:
    """What ``info`` prints about a prepared cache."""
    meta = data.meta
    lines = [
        f"data:      {data.spec.describe()}",
        f"found:     {meta['found']} images",
        f"selected:  {meta['selected']}",
        f"used:      {meta['used']} (train {meta['train']}, val {meta['val']})",
        f"skipped:   {_counts(meta['skipped'])}",
        f"converted: {_counts(meta['converted'])}",
        f"upscaled:  {meta['upscaled']} (smaller than {meta['image_size']} px)",
        f"cache:     {data.path}",
    ]
    lines += [f"note:      {note}" for note in meta.get("notes", [])]
    if verbose:
        lines += [
            f"  skipped {s['split']} {s['file']}: {s['reason']} ({s['detail']})"
            for s in meta["skipped_files"]
        ]
        lines += [
            f"  converted {c['split']} {c['file']}: {', '.join(c['conversions'])}"
            for c in meta["converted_files"]
        ]
    elif meta["skipped_files"]:
        lines.append("(--verbose lists the skipped and converted files)")
    return lines


@click.group("data")
def data_group() -> None:
    """Prepare and inspect datasets (decoded, resized, L*a*b*, cached)."""


@data_group.command("prepare")
@_data_options
@click.option("-v", "--verbose", is_flag=True, help="List skipped and converted files.")
def prepare_command(cache_dir, verbose, **spec_options) -> None:
    """Decode, resize and convert a dataset once; later runs reuse the cache.

    \b
    By default images are resized so the shorter side is --image-size and centre-cropped, and grayscale
    images are skipped. The study's tutorial instead squashes each whole image to a square and
    keeps grayscale images (ab = 0 targets):
      colorbench data prepare --data folder:DIR --image-size 256 --resize squash --keep-gray
    Each choice gives its own cache.
    """
    from colorbench.data.cache import prepare

    spec = _spec(**spec_options)
    started = time.perf_counter()
    data = prepare(spec, cache_dir=cache_dir)
    elapsed = time.perf_counter() - started
    for line in summary_lines(data, verbose):
        click.echo(line)
    click.echo(f"time:      {elapsed:.1f} s ({'reused the existing cache' if data.reused else 'prepared'})")


@data_group.command("info")
@_data_options
@click.option("-v", "--verbose", is_flag=True, help="List skipped and converted files.")
def info_command(cache_dir, verbose, **spec_options) -> None:
    """Show the counts of a prepared dataset (exit code 1 if it is not prepared yet)."""
    from colorbench.data.cache import load_prepared, locate

    spec = _spec(**spec_options)
    selection, path = locate(spec, cache_dir)
    data = load_prepared(path)
    if data is None:
        click.echo(f"data:      {spec.describe()}")
        click.echo(f"found:     {selection.found} images")
        click.echo(
            f"selected:  {selection.selected} (train {len(selection.train)}, val {len(selection.val)}; "
            "bad images are found when preparing)"
        )
        again = spec.cli_args() + (f" --cache-dir {cache_dir}" if cache_dir else "")
        click.echo(f"not prepared yet (cache would be {path}); run: colorbench data prepare {again}")
        sys.exit(1)
    for line in summary_lines(data, verbose):
        click.echo(line)
