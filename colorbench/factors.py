"""The study's factors, as data: the one table the planner, the results reader and the reporter share.

A factor changes one run field around the baseline. Its levels are either listed here (the study's
values) or taken from the plugin (``from_plugin_depth``: the declared depth variants next to the
default). Row labels and the table's row order are derived from this table only, so a dry run and
a report name the same setting the same way ("Lower LR", "He init", "n_down = 7").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Factor:
    name: str
    field: str  # the run field it changes
    title: str  # "learning rate": in sentences and the influence table
    levels: tuple[Any, ...] = ()  # the study's levels besides the baseline's
    lower: str = ""  # label of a numeric level below the baseline's ("Lower LR")
    higher: str = ""
    level_labels: dict[Any, str] = field(default_factory=dict)  # named levels, in the table's order
    from_plugin_depth: bool = False  # levels: the plugin's depth variants next to its default
    parse: Callable[[str], Any] = str  # --values text -> level


FACTORS: dict[str, Factor] = {
    "lr": Factor("lr", "lr", "learning rate", (2e-4, 1e-3), "Lower LR", "Higher LR", parse=float),
    "batch": Factor("batch", "batch_size", "batch size", (8, 32), "Lower batch", "Higher batch", parse=int),
    "init": Factor(
        "init",
        "init",
        "weight init",
        ("xavier", "kaiming"),
        level_labels={
            "normal": "Normal init",
            "xavier": "Glorot init",
            "kaiming": "He init",
            "orthogonal": "Orthogonal init",
        },
    ),
    "layers": Factor("layers", "variant", "depth", from_plugin_depth=True),
}
# The study's full nine-setting table per generator, and its row order: Default first.
ALL_FACTORS = ("lr", "batch", "init", "layers")
BASELINE_LABEL = "Default"
GRID = "grid"  # the factor of a --grid cell (several fields changed at once)


def factor_title(name: str | None) -> str:
    return FACTORS[name].title if name in FACTORS else str(name)


def level_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def depth_levels(depth_order: Sequence[str], default: str) -> tuple[str, ...]:
    """The depth variants just shallower and just deeper than ``default`` (declared order)."""
    if default not in depth_order:
        return ()
    i = depth_order.index(default)
    neighbours = (
        depth_order[i - 1] if i > 0 else None,
        depth_order[i + 1] if i + 1 < len(depth_order) else None,
    )
    return tuple(v for v in neighbours if v)


def level_label(
    factor: Factor,
    level: Any,
    baseline_value: Any,
    *,
    variant_label: Callable[[str], str] = str,
    same_side: int = 1,
) -> str:
    """A level's row label. ``same_side``: how many levels of this factor lie on its side of the
    baseline; with more than one, numeric labels carry their value ("Lower LR (0.0001)")."""
    if factor.from_plugin_depth:
        return variant_label(level)
    if level in factor.level_labels:
        return factor.level_labels[level]
    if isinstance(level, (int, float)) and isinstance(baseline_value, (int, float)) and factor.lower:
        side = factor.lower if level < baseline_value else factor.higher
        return f"{side} ({level_text(level)})" if same_side > 1 else side
    return f"{factor.title} = {level_text(level)}"


def level_rank(factor: Factor, level: Any) -> tuple:
    """Sort key of a level within its factor's rows: named levels in the table's order, numbers by value."""
    if factor.level_labels:
        names = list(factor.level_labels)
        return (names.index(level) if level in names else len(names), str(level))
    if isinstance(level, (int, float)):
        return (0, float(level))
    return (0, str(level))


def row_order_key(factor: str | None, rank: tuple, appearance: int) -> tuple:
    """Where a setting goes in its generator's table: Default, then the factors in ALL_FACTORS order."""
    if factor is None:
        return (0, (), appearance)
    position = ALL_FACTORS.index(factor) + 1 if factor in ALL_FACTORS else len(ALL_FACTORS) + 1
    return (position, rank, appearance)
