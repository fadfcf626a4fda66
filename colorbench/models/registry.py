"""Generators discovered through the ``colorbench.generators`` entry-point group.

Built-ins register through the same group (in colorbench's own ``pyproject.toml``) as any
third-party plugin, so both take exactly one path. Discovery reads installed metadata only;
an entry point is imported the first time it is asked for and the result is cached (call
:func:`refresh` after installing something into a running process).

A plugin that raises on import, resolves to something that breaks the contract, or was written
for another major version of the plugin API is recorded as ``broken`` with the reason, and the
others keep working. A third-party entry point claiming the name of a built-in (an entry point of
the ``colorbench`` distribution itself) is recorded as ``conflict`` with how to rename it, and the
built-in keeps its name: installing a plugin never disables a built-in for everyone. Two
third-party entry points claiming one name are both recorded as ``conflict``, naming both sources:
the registry never picks one of them silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

from colorbench.errors import ColorbenchError
from colorbench.models.contract import (
    API_VERSION_TEXT,
    ENTRY_POINT_GROUP,
    GeneratorPlugin,
    api_version_problem,
    contract_problem,
)

OK, BROKEN, CONFLICT = "ok", "broken", "conflict"
BUILTIN_DISTRIBUTION = "colorbench"  # entry points of colorbench itself are the built-ins


class UnknownGeneratorError(ColorbenchError):
    """No entry point registers this generator name."""


class BrokenGeneratorError(ColorbenchError):
    """The generator's entry point fails to load, breaks the contract, or its name is claimed twice."""


@dataclass(frozen=True)
class PluginInfo:
    """One entry point as the registry sees it; ``plugin`` is set only when ``status == "ok"``."""

    name: str
    value: str  # the entry point's target, "module:attribute"
    dist_name: str | None
    dist_version: str | None
    status: str  # "ok" | "broken" | "conflict"
    reason: str | None = None
    plugin: GeneratorPlugin | None = None

    @property
    def source(self) -> str:
        """The distribution that provides it, e.g. ``colorbench 0.1.0``."""
        if self.dist_name is None:
            return f"unknown distribution ({self.value})"
        return f"{self.dist_name} {self.dist_version}"

    @property
    def ok(self) -> bool:
        return self.status == OK


_entry_points: dict[str, list[metadata.EntryPoint]] | None = None
_loaded: dict[str, list[PluginInfo]] = {}


def refresh() -> None:
    """Forget what was discovered and loaded (after installing or removing a plugin)."""
    global _entry_points
    _entry_points = None
    _loaded.clear()
    from colorbench.models import identity  # its fingerprints describe what was loaded

    identity.forget()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _dist(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _source(ep: metadata.EntryPoint) -> str:
    dist_name, version = _dist(ep)
    return "an unknown distribution" if dist_name is None else f"{dist_name} {version}"


def _discover() -> dict[str, list[metadata.EntryPoint]]:
    global _entry_points
    if _entry_points is None:
        found: dict[str, list[metadata.EntryPoint]] = {}
        seen: set[tuple] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            # One distribution visible twice on sys.path (e.g. an editable install plus a stale
            # egg-info in the source tree) is not a conflict: same name, target and distribution.
            key = (ep.name, ep.value, _dist(ep)[0])
            if key in seen:
                continue
            seen.add(key)
            found.setdefault(ep.name, []).append(ep)
        _entry_points = dict(sorted(found.items()))
    return _entry_points


def _load_one(ep: metadata.EntryPoint) -> PluginInfo:
    dist_name, dist_version = _dist(ep)

    def info(status: str, reason: str | None = None, plugin: GeneratorPlugin | None = None) -> PluginInfo:
        return PluginInfo(ep.name, ep.value, dist_name, dist_version, status, reason, plugin)

    try:
        obj = ep.load()
    except Exception as exc:  # any failure of third-party code must not take the others down
        reason = f"import of {ep.value} failed: {type(exc).__name__}: {exc}"
        if isinstance(exc, TypeError) and "GeneratorPlugin" in str(exc) and "unexpected keyword" in str(exc):
            # The usual face of a plugin using a field of a newer minor API than this colorbench's.
            reason += f" (a field of a newer plugin API? this colorbench implements {API_VERSION_TEXT})"
        return info(BROKEN, _one_line(reason))
    problem = contract_problem(obj)
    if problem is not None:
        return info(BROKEN, _one_line(f"{ep.value} {problem}"))
    if obj.name != ep.name:
        return info(BROKEN, f"entry point {ep.name!r} resolves to a plugin named {obj.name!r}")
    problem = api_version_problem(obj.api_version)
    if problem is not None:
        return info(BROKEN, problem)
    return info(OK, plugin=obj)


def _rename_hint(ep: metadata.EntryPoint) -> str:
    """A free name to suggest: the distribution's (or module's) name as an identifier."""
    dist_name = _dist(ep)[0] or ep.value.split(":")[0].split(".")[0]
    suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", dist_name).strip("_").lower()
    return suggestion if suggestion and suggestion != ep.name else f"{ep.name}_plugin"


def _builtin_claimed(name: str, builtin: metadata.EntryPoint, ep: metadata.EntryPoint) -> PluginInfo:
    dist_name = _dist(ep)[0] or "its distribution"
    reason = (
        f"name {name!r} belongs to colorbench's built-in generator ({builtin.value}), so {ep.value} "
        f"from {_source(ep)} is not used: rename it in {dist_name}'s pyproject.toml under "
        f'[project.entry-points."colorbench.generators"] and in its GeneratorPlugin(name=...), '
        f"e.g. to {_rename_hint(ep)!r}, then reinstall it"
    )
    return PluginInfo(name, ep.value, *_dist(ep), status=CONFLICT, reason=reason)


def _load(name: str) -> list[PluginInfo]:
    if name not in _loaded:
        eps = _discover()[name]
        builtins = [ep for ep in eps if _dist(ep)[0] == BUILTIN_DISTRIBUTION]
        if len(eps) == 1:
            _loaded[name] = [_load_one(eps[0])]
        elif len(builtins) == 1:
            # A third party cannot take a built-in's name: the built-in stays usable for everyone,
            # the newcomer is told how to rename itself (and is never imported).
            (builtin,) = builtins
            _loaded[name] = [_load_one(builtin)] + [
                _builtin_claimed(name, builtin, ep) for ep in eps if ep is not builtin
            ]
        else:
            # Not imported: there is no right one to pick, and importing both could only mislead.
            sources = "; ".join(f"{ep.value} from {_source(ep)}" for ep in eps)
            reason = f"name {name!r} is claimed by {len(eps)} entry points: {sources}"
            _loaded[name] = [
                PluginInfo(name, ep.value, *_dist(ep), status=CONFLICT, reason=reason) for ep in eps
            ]
    return _loaded[name]


def generator_names() -> list[str]:
    """Every registered name, without importing anything."""
    return list(_discover())


def builtin_generator_names() -> list[str]:
    """The names colorbench itself registers (entry points of its own distribution); no import."""
    return [
        name for name, eps in _discover().items() if any(_dist(ep)[0] == BUILTIN_DISTRIBUTION for ep in eps)
    ]


def list_plugins() -> list[PluginInfo]:
    """Every registered entry point, loaded (once) and with its status, sorted by name."""
    return [info for name in _discover() for info in _load(name)]


def usable_generators() -> tuple[list[str], list[tuple[str, str]]]:
    """What ``--plugin all`` means: (usable names, sorted; [(name, why it is skipped), ...]).

    A reason reads ``broken: ...`` or ``conflict: ...`` (the registry's reason). A third-party
    entry point claiming a built-in's name is listed as skipped although the name itself is usable
    (the built-in runs): whoever installed it should learn that it is not the one being run.
    """
    usable, skipped = [], []
    for name in _discover():
        infos = _load(name)
        if any(i.ok for i in infos):
            usable.append(name)
        # Entries that conflict with each other share one reason: one line for them.
        reasons = dict.fromkeys(f"{i.status}: {i.reason}" for i in infos if not i.ok)
        skipped.extend((name, reason) for reason in reasons)
    return usable, skipped


def _available() -> str:
    usable, skipped = usable_generators()
    bad = [name for name, _ in skipped if name not in usable]
    text = f"available: {', '.join(usable) or 'none'}"
    return text + (f"; not usable: {', '.join(bad)}" if bad else "")


def _usable_info(name: str) -> PluginInfo | None:
    return next((i for i in _load(name) if i.ok), None)


def get_generator(name: str) -> GeneratorPlugin:
    """The plugin registered as ``name``; one-line ColorbenchError if unknown or not usable."""
    if name not in _discover():
        raise UnknownGeneratorError(f"unknown generator {name!r}; {_available()}")
    usable = _usable_info(name)
    if usable is not None:
        return usable.plugin
    first = _load(name)[0]
    if first.status == CONFLICT:
        raise BrokenGeneratorError(f"generator {name!r} is ambiguous: {first.reason}; {_available()}")
    raise BrokenGeneratorError(
        f"generator {name!r} (from {first.source}) is broken: {first.reason}; {_available()}"
    )


def plugin_info(name: str) -> PluginInfo:
    """The registry's record of a usable generator (raises like :func:`get_generator`)."""
    get_generator(name)
    return _usable_info(name)


def plugin_version(name: str) -> str:
    """Version of the distribution providing generator ``name`` (recorded with every run)."""
    return plugin_info(name).dist_version or "unknown"
