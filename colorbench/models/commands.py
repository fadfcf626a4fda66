"""``colorbench list``: the generators the registry knows, their variants, source and status."""

from __future__ import annotations

import click

from colorbench.errors import ColorbenchError
from colorbench.models.contract import GeneratorPlugin
from colorbench.models.registry import PluginInfo, get_generator, list_plugins


def _flags(plugin: GeneratorPlugin) -> str:
    # A baseline (gray) or a pretrained colorizer: evaluated as it is.
    flags = [] if plugin.trainable else ["not trained: evaluated as it is"]
    if plugin.manages_init:
        flags.append("manages its own init")
    return f"  [{', '.join(flags)}]" if flags else ""


def _variant_flags(plugin: GeneratorPlugin, variant: str) -> str:
    flags = []
    if plugin.is_trainable(variant) != plugin.trainable:
        flags.append("trained" if plugin.is_trainable(variant) else "not trained")
    if plugin.variant(variant).depth is not None:
        flags.append(f"depth {plugin.variant(variant).depth:g}")
    return ", ".join(flags)


def _param_count(plugin: GeneratorPlugin, variant: str, image_size: int) -> str:
    try:
        module = plugin.build_module(variant, image_size)
    except ColorbenchError as exc:  # e.g. a pretrained variant whose weights file is missing
        return f"not built: {exc}"
    return f"{sum(p.numel() for p in module.parameters()):,} params"


def _variant_lines(plugin: GeneratorPlugin, image_size: int | None, params: bool, config: bool) -> list[str]:
    rows = []
    for variant, declared in plugin.variants.items():
        label = plugin.label(variant)
        default = "[default]" if variant == plugin.default_variant else ""
        row = [variant, "" if label == variant else f"({label})", default]
        if params:
            row.append(_param_count(plugin, variant, image_size or 256))
        if config:
            row.append(_variant_flags(plugin, variant))
            row.append(" ".join(f"{k}={v}" for k, v in declared.config.items()))
        if image_size is not None:
            reason = plugin.feasibility(variant, image_size)
            row.append(f"runs at {image_size} px" if reason is None else f"infeasible: {reason}")
        rows.append(row)
    # Pad every column but the last so the table lines up.
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "    " + "  ".join([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]]).rstrip()
        for r in rows
    ]


def _describe(info: PluginInfo, image_size: int | None, params: bool, detail: bool) -> list[str]:
    header = f"{info.name}  {info.status}  {info.source}"
    if not info.ok:
        return [header, f"  reason: {info.reason}"]
    plugin = info.plugin
    lines = [header + _flags(plugin), f"  {plugin.description}"]
    if image_size is None and not params and not detail:
        names = [f"{v} (default)" if v == plugin.default_variant else v for v in plugin.variants]
        return lines + [f"  variants: {', '.join(names)}"]
    lines += ["  variants:"] + _variant_lines(plugin, image_size, params, config=detail)
    if detail and plugin.options:
        lines.append("  options (--set option.NAME=VALUE):")
        for key, option in plugin.options.items():
            choices = f" [{', '.join(map(str, option.choices))}]" if option.choices else ""
            lines.append(f"    {key} = {option.default!r}{choices}  {option.help}".rstrip())
    return lines


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
