"""The study design as data: which values each factor takes, and how settings are formed.

The study varies one factor at a time around a baseline (lr 5e-4, batch 16, normal init, the
generator's default depth); ``--grid`` takes the full product of the named factors instead.
Every level and label lives in :data:`FACTORS`; nothing below branches on a factor's name.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from colorbench.errors import ColorbenchError


@dataclass(frozen=True)
class Factor:
    name: str
    field: str  # the RunConfig field it changes
    levels: tuple[Any, ...]  # the study's levels besides the baseline's; () = from the plugin
    noun: str  # for labels: "Lower LR", "Higher batch size"
    level_labels: dict[Any, str] = field(default_factory=dict)  # a level's own name, if it has one
    parse: type = str


FACTORS: dict[str, Factor] = {
    "lr": Factor("lr", "lr", (2e-4, 1e-3), "learning rate", parse=float),
    "batch": Factor("batch", "batch_size", (8, 32), "batch size", parse=int),
    "init": Factor(
        "init",
        "init",
        ("xavier", "kaiming"),
        "init",
        level_labels={
            "normal": "Normal init",
            "xavier": "Glorot init",
            "kaiming": "He init",
            "orthogonal": "Orthogonal init",
        },
    ),
    # Depth levels come from the plugin: its declared variants next to its default.
    "layers": Factor("layers", "variant", (), "depth"),
}
# The study's full nine-setting table per generator.
ALL_FACTORS = ("lr", "batch", "init", "layers")


@dataclass(frozen=True)
class Setting:
    """One cell of the study: the baseline, or the baseline with some fields changed."""

    id: str
    factor: str | None
    level: Any
    label: str
    changes: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "factor": self.factor,
            "level": self.level,
            "label": self.label,
            "changes": dict(self.changes),
        }


BASELINE = Setting("default", None, None, "Default", {})


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


def parse_values(items: tuple[str, ...]) -> dict[str, tuple[Any, ...]]:
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
                f"--values {item!r}: {name} levels must be {factor.parse.__name__}"
            ) from None
        if not out[name]:
            raise ColorbenchError(f"--values {item!r} names no level")
    return out


def depth_levels(variants: list[str], default: str) -> tuple[str, ...]:
    """The variants declared just before and just after the default (one fewer, one more)."""
    i = variants.index(default)
    return tuple(
        v
        for v in (variants[i - 1] if i > 0 else None, variants[i + 1] if i + 1 < len(variants) else None)
        if v
    )


def _label(factor: Factor, level: Any, baseline_value: Any, variant_label) -> str:
    if factor.name == "layers":
        return variant_label(level)
    if level in factor.level_labels:
        return factor.level_labels[level]
    if isinstance(level, (int, float)) and isinstance(baseline_value, (int, float)):
        side = "Lower" if level < baseline_value else "Higher"
        return f"{side} {factor.noun} ({level:g})"
    return f"{factor.noun} = {level}"


def _levels(name: str, values: dict[str, tuple], variants: list[str], default_variant: str) -> tuple:
    if name in values:
        return values[name]
    if name == "layers":
        return depth_levels(variants, default_variant)
    return FACTORS[name].levels


def study_settings(
    factors: list[str],
    baseline: dict[str, Any],
    *,
    variants: list[str],
    default_variant: str,
    variant_label=lambda v: v,
    values: dict[str, tuple[Any, ...]] | None = None,
    grid: bool = False,
) -> list[Setting]:
    """The settings of a study for one generator; the baseline comes first and only once.

    ``baseline`` maps RunConfig fields to their baseline values (``variant`` included).
    """
    values = values or {}
    unknown = sorted(set(values) - set(factors))
    if unknown:
        raise ColorbenchError(f"--values names factor(s) not varied: {', '.join(unknown)}")
    for name, levels in values.items():
        if name == "layers":
            bad = [v for v in levels if v not in variants]
            if bad:
                raise ColorbenchError(
                    f"unknown depth variant(s) {', '.join(bad)}; variants: {', '.join(variants)}"
                )
    settings = [BASELINE]
    seen = {()}
    if grid:
        axes = []
        for name in factors:
            f = FACTORS[name]
            levels = (baseline[f.field], *_levels(name, values, variants, default_variant))
            axes.append([(name, f.field, level) for level in dict.fromkeys(levels)])
        for combo in itertools.product(*axes):
            changes = {fld: level for _, fld, level in combo if level != baseline[fld]}
            key = tuple(sorted(changes.items()))
            if key in seen:
                continue
            seen.add(key)
            parts = [
                _label(FACTORS[n], lvl, baseline[FACTORS[n].field], variant_label)
                for n, fld, lvl in combo
                if fld in changes
            ]
            settings.append(
                Setting(
                    "grid:" + ",".join(f"{n}={lvl}" for n, fld, lvl in combo if fld in changes),
                    "grid",
                    {n: lvl for n, fld, lvl in combo if fld in changes},
                    " + ".join(parts),
                    changes,
                )
            )
        return settings
    for name in factors:
        f = FACTORS[name]
        for level in _levels(name, values, variants, default_variant):
            if level == baseline[f.field]:
                continue  # the baseline is shared by every factor, never duplicated
            key = ((f.field, level),)
            if key in seen:
                continue
            seen.add(key)
            settings.append(
                Setting(
                    f"{name}={level}",
                    name,
                    level,
                    _label(f, level, baseline[f.field], variant_label),
                    {f.field: level},
                )
            )
    return settings
