"""The study design: from the factor table (``colorbench.factors``) to the settings of one generator.

The study varies one factor at a time around a baseline (lr 5e-4, batch 16, normal init, the
generator's default depth); ``--grid`` takes the full product of the named factors instead.
Levels and labels come from :data:`colorbench.factors.FACTORS` and the plugin's declared depth
order; nothing here branches on a factor's name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.factors import (
    ALL_FACTORS,
    BASELINE_LABEL,
    FACTORS,
    GRID,
    Factor,
    depth_levels,
    level_label,
    level_rank,
    level_text,
)


@dataclass(frozen=True)
class Setting:
    """One cell of the study: the baseline, or the baseline with some fields changed."""

    id: str
    factor: str | None
    level: Any
    label: str
    changes: dict[str, Any]

    def to_dict(self, generator: str | None = None) -> dict[str, Any]:
        out = {
            "id": self.id,
            "factor": self.factor,
            "level": self.level,
            "label": self.label,
            "changes": dict(self.changes),
        }
        if generator is not None:
            out["generator"] = generator
        return out


BASELINE = Setting("default", None, None, BASELINE_LABEL, {})


def parse_factors(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(ALL_FACTORS)
    unknown = [n for n in names if n not in FACTORS]
    if unknown or not names:
        raise ColorbenchError(
            f"unknown factor {', '.join(unknown) or repr(text)}; factors: {', '.join(FACTORS)} (or all)"
        )
    return list(dict.fromkeys(names))


def parse_values(items: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """``--values lr=1e-4,2e-4`` (repeatable) -> {"lr": (1e-4, 2e-4)}."""
    out: dict[str, tuple[Any, ...]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in FACTORS:
            raise ColorbenchError(
                f"--values expects FACTOR=V1,V2,... with a factor of {', '.join(FACTORS)}; got {item!r}"
            )
        factor = FACTORS[name]
        try:
            out[name] = tuple(factor.parse(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            raise ColorbenchError(
                f"--values {item!r}: {name} levels must be {getattr(factor.parse, '__name__', 'valid')}"
            ) from None
        if not out[name]:
            raise ColorbenchError(f"--values {item!r} names no level")
    return out


def _levels(
    factor: Factor, values: dict[str, tuple], depth_order: Sequence[str], default_variant: str
) -> tuple:
    if factor.name in values:
        return values[factor.name]
    if factor.from_plugin_depth:
        return depth_levels(depth_order, default_variant)
    return factor.levels


def _rank(factor: Factor, level: Any, depth_order: Sequence[str]) -> tuple:
    if factor.from_plugin_depth:
        return (depth_order.index(level) if level in depth_order else len(depth_order), str(level))
    return level_rank(factor, level)


def study_settings(
    factors: Sequence[str],
    baseline: dict[str, Any],
    *,
    variants: Sequence[str],
    depth_order: Sequence[str],
    default_variant: str,
    variant_label: Callable[[str], str] = str,
    values: dict[str, tuple[Any, ...]] | None = None,
    grid: bool = False,
) -> list[Setting]:
    """The settings of a study for one generator, in the table's order; the baseline first, once.

    ``baseline`` maps run fields to their baseline values (``variant`` included); ``depth_order``
    is the plugin's depth variants, shallow to deep (the ``layers`` factor's levels are the
    default's neighbours there).
    """
    values = values or {}
    unknown = sorted(set(values) - set(factors))
    if unknown:
        raise ColorbenchError(f"--values names factor(s) not varied: {', '.join(unknown)}")
    for name, levels in values.items():
        if FACTORS[name].from_plugin_depth:
            bad = [v for v in levels if v not in variants]
            if bad:
                raise ColorbenchError(
                    f"unknown depth variant(s) {', '.join(bad)}; variants: {', '.join(variants)}"
                )
    if grid:
        return [BASELINE, *_grid(factors, baseline, values, depth_order, default_variant, variant_label)]
    settings = [BASELINE]
    for name in [f for f in ALL_FACTORS if f in factors] + [f for f in factors if f not in ALL_FACTORS]:
        factor = FACTORS[name]
        base_value = baseline[factor.field]
        levels = [
            lvl
            for lvl in dict.fromkeys(_levels(factor, values, depth_order, default_variant))
            if lvl != base_value
        ]
        sides: dict[bool, int] = {}
        for level in levels:
            if isinstance(level, (int, float)) and isinstance(base_value, (int, float)):
                sides[level < base_value] = sides.get(level < base_value, 0) + 1
        for level in sorted(levels, key=lambda lvl, f=factor: _rank(f, lvl, depth_order)):
            same_side = sides.get(level < base_value, 1) if isinstance(level, (int, float)) else 1
            label = level_label(factor, level, base_value, variant_label=variant_label, same_side=same_side)
            settings.append(Setting(f"{name}={level}", name, level, label, {factor.field: level}))
    return settings


def _grid(factors, baseline, values, depth_order, default_variant, variant_label) -> list[Setting]:
    axes = []
    for name in factors:
        factor = FACTORS[name]
        levels = (baseline[factor.field], *_levels(factor, values, depth_order, default_variant))
        axes.append([(factor, level) for level in dict.fromkeys(levels)])
    settings, seen = [], {()}
    for combo in itertools.product(*axes):
        changed = [(f, lvl) for f, lvl in combo if lvl != baseline[f.field]]
        key = tuple((f.field, lvl) for f, lvl in changed)
        if key in seen:
            continue
        seen.add(key)
        parts = [level_label(f, lvl, baseline[f.field], variant_label=variant_label) for f, lvl in changed]
        settings.append(
            Setting(
                GRID + ":" + ",".join(f"{f.name}={level_text(lvl)}" for f, lvl in changed),
                GRID,
                {f.name: lvl for f, lvl in changed},
                " + ".join(parts),
                {f.field: lvl for f, lvl in changed},
            )
        )
    return settings
