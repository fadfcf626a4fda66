"""``colorbench list``: the generators the registry knows, their variants, source and status."""

from __future__ import annotations

import click

from colorbench.models.contract import GeneratorPlugin
from colorbench.models.registry import PluginInfo, get_generator, list_plugins


def _flags(plugin: GeneratorPlugin) -> str:
    flags = [] if plugin.trainable else ["not trained (baseline)"]
    if plugin.manages_init:
        flags.append("manages its own init")
    return f"  [{', '.join(flags)}]" if flags else ""


def _param_count(plugin: GeneratorPlugin, variant: str, image_size: int) -> str:
    module = plugin.build(variant, image_size)
    return f"{sum(p.numel() for p in module.parameters()):,} params"


def _variant_lines(plugin: GeneratorPlugin, image_size: int | None, params: bool, config: bool) -> list[str]:
    rows = []
    for variant, cfg in plugin.variants.items():
        label = plugin.label(variant)
        default = "[default]" if variant == plugin.default_variant else ""
        row = [variant, "" if label == variant else f"({label})", default]
        if params:
            row.append(_param_count(plugin, variant, image_size or 256))
        if config:
            row.append(" ".join(f"{k}={v}" for k, v in cfg.items()))
        if image_size is not None:
            reason = plugin.feasibility(variant, image_size)
            row.append(f"runs at {image_size} px" if reason is None else f"infeasible: {reason}")
        rows.append(row)
    # Pad every column but the last so the table lines up.
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["    " + "  ".join([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]]).rstrip()
            for r in rows]


def _describe(info: PluginInfo, image_size: int | None, params: bool, detail: bool) -> list[str]:
    header = f"{info.name}  {info.status}  {info.source}"
    if not info.ok:
        return [header, f"  reason: {info.reason}"]
    plugin = info.plugin
    lines = [header + _flags(plugin), f"  {plugin.description}"]
    if image_size is None and not params and not detail:
        names = [f"{v} (default)" if v == plugin.default_variant else v for v in plugin.variants]
        return lines + [f"  variants: {', '.join(names)}"]
    return lines + ["  variants:"] + _variant_lines(plugin, image_size, params, config=detail)


@click.command("list")
@click.argument("name", required=False)
@click.option("--image-size", type=int, default=None, help="Also say whether each variant runs at this size.")
@click.option("--params", is_flag=True, help="Build every variant and count its parameters (slower).")
def list_command(name: str | None, image_size: int | None, params: bool) -> None:
    """List generators (entry points in 'colorbench.generators'), or show one NAME in detail.

    A broken or conflicting plugin is listed with its reason; asking for it by NAME, or for a
    name nobody registers, is an error (exit code 2).
    """
    infos = list_plugins()
    if name is not None:
        get_generator(name)  # one-line error naming what exists if unknown, broken or conflicting
        infos = [i for i in infos if i.name == name]
    if not infos:
        click.echo("no generators registered (is colorbench installed? pip install -e .)")
        return
    blocks = ["\n".join(_describe(info, image_size, params, detail=name is not None)) for info in infos]
    click.echo("\n".join(blocks))
