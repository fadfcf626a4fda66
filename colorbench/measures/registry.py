"""The measures colorbench knows: its losses, and the val metrics of the ``colorbench.metrics`` group.

Built-in metrics register through the entry-point group in colorbench's own ``pyproject.toml``,
exactly as a third-party metric does (``name = "package.module:DECLARATION"``, the target a
:class:`~colorbench.measures.Measure`). Discovery is lazy: names are read from the installed
metadata without importing anything; a metric's module is imported when its declaration is
first asked for. A metric plugin that fails to import, is not a Measure, or is named unlike its
entry point is reported (``colorbench metrics``, ``colorbench list``) and left out; it never
stops a run or a report.

Order, everywhere (tables, CSV, per-image files): colorbench's metrics in their declared order,
then third-party metrics by name. Where the installed metadata predates the group (colorbench
installed before it had metrics, not yet reinstalled with ``pip install -e .``), the built-ins
are taken from :mod:`colorbench.measures.builtin` directly, and ``colorbench metrics`` says so.
"""

from __future__ import annotations

from colorbench.entrypoints import EntryPointRegistry, PluginInfo
from colorbench.errors import ColorbenchError
from colorbench.measures import builtin
from colorbench.measures.declaration import IMAGE, LOSS, SET, Measure, declaration_problem

ENTRY_POINT_GROUP = "colorbench.metrics"
STALE_METADATA = (
    "colorbench's installed metadata lacks some built-in metrics (installed before they were "
    "registered): using colorbench.measures.builtin; run pip install -e . to fix"
)


class UnknownMeasureError(ColorbenchError):
    """No loss or metric of this name is declared."""


def _metric_problem(obj: object) -> str | None:
    problem = declaration_problem(obj)
    if problem is None and obj.kind == LOSS:
        return "declares a loss: only metrics plug in (losses belong to the objective)"
    return problem


REGISTRY = EntryPointRegistry(
    ENTRY_POINT_GROUP,
    "metric",
    contract=_metric_problem,
    unknown_error=UnknownMeasureError,
    name_field="Measure(name=...)",
)


def refresh() -> None:
    """Forget discovered metric plugins (after installing or removing one)."""
    REGISTRY.refresh()


def metadata_is_stale() -> bool:
    """True where the installed metadata lacks some of colorbench's own metric entry points."""
    return not {m.name for m in builtin.METRICS} <= set(REGISTRY.builtin_names())


def _builtin_order() -> dict[str, int]:
    return {m.name: i for i, m in enumerate(builtin.METRICS)}


def metric_entries() -> list[PluginInfo]:
    """Every metric entry point with its status (built-ins first, in declared order)."""
    order = _builtin_order()
    entries = REGISTRY.entries()
    return sorted(entries, key=lambda e: (order.get(e.name, len(order)), e.name))


def metric_measures() -> tuple[Measure, ...]:
    """Every usable val metric's declaration: colorbench's, in declared order, then plugins' by name."""
    if metadata_is_stale():
        found = {m.name: m for m in builtin.METRICS}
        usable, _ = REGISTRY.usable()
        found.update({name: REGISTRY.get(name) for name in usable if name not in found})
    else:
        usable, _ = REGISTRY.usable()
        found = {name: REGISTRY.get(name) for name in usable}
        # A built-in declared since the metadata was installed (until pip install -e . again).
        registered = REGISTRY.builtin_names()
        found.update({m.name: m for m in builtin.METRICS if m.name not in registered and m.name not in found})
    order = _builtin_order()
    return tuple(sorted(found.values(), key=lambda m: (order.get(m.name, len(order)), m.name)))


def skipped_metrics() -> list[tuple[str, str]]:
    """[(name, "broken: why" / "conflict: why"), ...] of metric plugins that are left out."""
    skipped = REGISTRY.usable()[1]
    if metadata_is_stale():
        # The registry cannot see the built-ins here: a plugin claiming a built-in's name is told.
        builtins = {m.name for m in builtin.METRICS}
        skipped = [(n, r) for n, r in skipped if n not in builtins] + [
            (
                e.name,
                f"conflict: name {e.name!r} belongs to colorbench's built-in metric, so {e.value} "
                f"from {e.source} is not used: rename it",
            )
            for e in REGISTRY.entries()
            if e.name in builtins and e.dist_name != "colorbench"  # its own older entries are fine
        ]
    return skipped


def loss_measures() -> tuple[Measure, ...]:
    """The objective's losses, in the order the trainer logs them."""
    return builtin.LOSSES


def all_measures() -> tuple[Measure, ...]:
    """Losses, then val metrics."""
    return (*loss_measures(), *metric_measures())


def image_measures() -> tuple[Measure, ...]:
    """The per-image metrics evaluation computes (every usable one)."""
    return tuple(m for m in metric_measures() if m.scope == IMAGE)


def set_measures() -> tuple[Measure, ...]:
    """The per-set metrics computed once per run, after the final evaluation."""
    return tuple(m for m in metric_measures() if m.scope == SET)


def find_measure(name: str) -> Measure | None:
    """The declaration of ``name`` (loss or usable metric), or None."""
    return next((m for m in all_measures() if m.name == name), None)


def get_measure(name: str) -> Measure:
    """The declaration of ``name``; one-line error naming what exists."""
    found = find_measure(name)
    if found is None:
        names = ", ".join(m.name for m in all_measures())
        raise UnknownMeasureError(f"unknown measure {name!r}; declared: {names}")
    return found


def default_verdict(kind: str) -> str:
    """The name of the default verdict measure of ``kind`` (loss or metric)."""
    return next(m.name for m in all_measures() if m.kind == kind and m.default_verdict)
