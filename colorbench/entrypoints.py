"""Plugins discovered through an entry-point group: one registry, shared by every kind of plugin.

Generators (``colorbench.generators``), metrics and executors each get an
:class:`EntryPointRegistry`; built-ins register through the same group (in colorbench's own
``pyproject.toml``) as any third-party plugin, so both take exactly one path. Discovery reads
installed metadata only; an entry point is imported the first time it is asked for and the result
is cached (:meth:`EntryPointRegistry.refresh` after installing something into a running process).

A plugin that raises on import, or that the registry's ``validate`` rejects, is recorded as
``broken`` with the reason, and the others keep working. A third-party entry point claiming the
name of a built-in (an entry point of the ``colorbench`` distribution itself) is recorded as
``conflict`` with how to rename it, and the built-in keeps its name: installing a plugin never
disables a built-in for everyone. Two third-party entry points claiming one name are both recorded
as ``conflict``, naming both sources: the registry never picks one of them silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from colorbench.errors import ColorbenchError

OK, BROKEN, CONFLICT = "ok", "broken", "conflict"
BUILTIN_DISTRIBUTION = "colorbench"  # entry points of colorbench itself are the built-ins


class UnknownPluginError(ColorbenchError):
    """No entry point of the group registers this name."""


class BrokenPluginError(ColorbenchError):
    """The entry point fails to load, is rejected by its registry, or its name is claimed twice."""


@dataclass(frozen=True)
class PluginInfo:
    """One entry point as a registry sees it; ``plugin`` is set only when ``status == "ok"``."""

    name: str
    value: str  # the entry point's target, "module:attribute"
    dist_name: str | None
    dist_version: str | None
    status: str  # "ok" | "broken" | "conflict"
    reason: str | None = None
    plugin: Any = None

    @property
    def source(self) -> str:
        """The distribution that provides it, e.g. ``colorbench 0.1.0``."""
        if self.dist_name is None:
            return f"unknown distribution ({self.value})"
        return f"{self.dist_name} {self.dist_version}"

    @property
    def ok(self) -> bool:
        return self.status == OK


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _dist(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _source(ep: metadata.EntryPoint) -> str:
    dist_name, version = _dist(ep)
    return "an unknown distribution" if dist_name is None else f"{dist_name} {version}"


def _rename_hint(ep: metadata.EntryPoint) -> str:
    """A free name to suggest: the distribution's (or module's) name as an identifier."""
    dist_name = _dist(ep)[0] or ep.value.split(":")[0].split(".")[0]
    suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", dist_name).strip("_").lower()
    return suggestion if suggestion and suggestion != ep.name else f"{ep.name}_plugin"


# contract(loaded object) -> None if it is a usable plugin object of the group, else why not; after it
# passes, the object's own ``name`` must equal its entry point's, then ``check(object)`` may add more.
Contract = Callable[[Any], "str | None"]
# import_hint(entry point, exception) -> text appended to an import failure's reason, or "".
ImportHint = Callable[[metadata.EntryPoint, Exception], str]


class EntryPointRegistry:
    """The plugins of one entry-point group: ``noun`` names one of them in messages ("generator")."""

    def __init__(
        self,
        group: str,
        noun: str,
        contract: Contract | None = None,
        check: Contract | None = None,
        import_hint: ImportHint | None = None,
        unknown_error: type[ColorbenchError] = UnknownPluginError,
        broken_error: type[ColorbenchError] = BrokenPluginError,
        on_refresh: Callable[[], None] | None = None,
        name_field: str = "plugin object's name",
    ) -> None:
        self.group, self.noun = group, noun
        self._contract, self._check, self._import_hint = contract, check, import_hint
        self._unknown_error, self._broken_error = unknown_error, broken_error
        self._on_refresh = on_refresh
        self._name_field = name_field  # where a plugin states its own name, for rename hints
        self._entry_points: dict[str, list[metadata.EntryPoint]] | None = None
        # (name, version) of each discovered entry point's distribution, by id of the entry point:
        # reading it parses the distribution's METADATA file, and a report asks per contrast.
        self._dists: dict[int, tuple[str | None, str | None]] = {}
        self._loaded: dict[str, list[PluginInfo]] = {}  # cleared in place: callers may hold it

    def refresh(self) -> None:
        """Forget what was discovered and loaded (after installing or removing a plugin)."""
        self._entry_points = None
        self._dists.clear()
        self._loaded.clear()
        if self._on_refresh is not None:
            self._on_refresh()

    # ----------------------------------------------------------------- discovery
    def _discover(self) -> dict[str, list[metadata.EntryPoint]]:
        if self._entry_points is None:
            found: dict[str, list[metadata.EntryPoint]] = {}
            seen: set[tuple] = set()
            for ep in metadata.entry_points(group=self.group):
                # One distribution visible twice on sys.path (e.g. an editable install plus a stale
                # egg-info in the source tree) is not a conflict: same name, target and distribution.
                dist = _dist(ep)
                key = (ep.name, ep.value, dist[0])
                if key in seen:
                    continue
                seen.add(key)
                self._dists[id(ep)] = dist
                found.setdefault(ep.name, []).append(ep)
            self._entry_points = dict(sorted(found.items()))
        return self._entry_points

    def _dist_of(self, ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
        """``_dist(ep)`` as read at discovery (an entry point of this registry's)."""
        found = self._dists.get(id(ep))
        return found if found is not None else _dist(ep)

    def names(self) -> list[str]:
        """Every registered name, without importing anything."""
        return list(self._discover())

    def builtin_names(self) -> list[str]:
        """The names colorbench itself registers (entry points of its own distribution); no import."""
        return [
            name
            for name, eps in self._discover().items()
            if any(self._dist_of(ep)[0] == BUILTIN_DISTRIBUTION for ep in eps)
        ]

    def entry_point_value(self, name: str) -> str | None:
        """The ``module:attribute`` target a name resolves to (the built-in's on a conflict); no import."""
        eps = self._discover().get(name) or []
        builtins = [ep for ep in eps if self._dist_of(ep)[0] == BUILTIN_DISTRIBUTION]
        chosen = builtins or eps
        return chosen[0].value if len(chosen) == 1 else None

    # ------------------------------------------------------------------- loading
    def _load_one(self, ep: metadata.EntryPoint) -> PluginInfo:
        dist_name, dist_version = self._dist_of(ep)

        def info(status: str, reason: str | None = None, plugin: Any = None) -> PluginInfo:
            return PluginInfo(ep.name, ep.value, dist_name, dist_version, status, reason, plugin)

        try:
            obj = ep.load()
        except Exception as exc:  # any failure of third-party code must not take the others down
            reason = f"import of {ep.value} failed: {type(exc).__name__}: {exc}"
            if self._import_hint is not None:
                reason += self._import_hint(ep, exc)
            return info(BROKEN, one_line(reason))
        if self._contract is not None:
            try:
                problem = self._problem(ep, obj)
            except Exception as exc:  # a check tripping over a strange object is a broken plugin
                problem = f"{ep.value} could not be checked: {type(exc).__name__}: {exc}"
            if problem is not None:
                return info(BROKEN, one_line(problem))
        return info(OK, plugin=obj)

    def _problem(self, ep: metadata.EntryPoint, obj: Any) -> str | None:
        """Why a loaded object is not this group's plugin under its entry point's name, or None."""
        problem = self._contract(obj)
        if problem is not None:
            return f"{ep.value} {problem}"
        if obj.name != ep.name:
            article = "an" if self.noun[0] in "aeiou" else "a"
            return f"entry point {ep.name!r} resolves to {article} {self.noun} named {obj.name!r}"
        return None if self._check is None else self._check(obj)

    def _builtin_claimed(
        self, name: str, builtin: metadata.EntryPoint, ep: metadata.EntryPoint
    ) -> PluginInfo:
        dist_name = self._dist_of(ep)[0] or "its distribution"
        reason = (
            f"name {name!r} belongs to colorbench's built-in {self.noun} ({builtin.value}), so {ep.value} "
            f"from {_source(ep)} is not used: rename it in {dist_name}'s pyproject.toml under "
            f'[project.entry-points."{self.group}"] and in its {self._name_field}, '
            f"e.g. to {_rename_hint(ep)!r}, then reinstall it"
        )
        return PluginInfo(name, ep.value, *self._dist_of(ep), status=CONFLICT, reason=reason)

    def _load(self, name: str) -> list[PluginInfo]:
        if name not in self._loaded:
            eps = self._discover()[name]
            builtins = [ep for ep in eps if self._dist_of(ep)[0] == BUILTIN_DISTRIBUTION]
            if len(eps) == 1:
                self._loaded[name] = [self._load_one(eps[0])]
            elif len(builtins) == 1:
                # A third party cannot take a built-in's name: the built-in stays usable for everyone,
                # the newcomer is told how to rename itself (and is never imported).
                (builtin,) = builtins
                self._loaded[name] = [self._load_one(builtin)] + [
                    self._builtin_claimed(name, builtin, ep) for ep in eps if ep is not builtin
                ]
            else:
                # Not imported: there is no right one to pick, and importing both could only mislead.
                sources = "; ".join(f"{ep.value} from {_source(ep)}" for ep in eps)
                reason = f"name {name!r} is claimed by {len(eps)} entry points: {sources}"
                self._loaded[name] = [
                    PluginInfo(name, ep.value, *self._dist_of(ep), status=CONFLICT, reason=reason)
                    for ep in eps
                ]
        return self._loaded[name]

    def entries(self) -> list[PluginInfo]:
        """Every registered entry point, loaded (once) and with its status, sorted by name."""
        return [info for name in self._discover() for info in self._load(name)]

    def usable(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(usable names, sorted; [(name, why it is skipped), ...]).

        A reason reads ``broken: ...`` or ``conflict: ...``. A third-party entry point claiming a
        built-in's name is listed as skipped although the name itself is usable (the built-in
        runs): whoever installed it should learn that it is not the one being used.
        """
        usable, skipped = [], []
        for name in self._discover():
            infos = self._load(name)
            if any(i.ok for i in infos):
                usable.append(name)
            # Entries that conflict with each other share one reason: one line for them.
            reasons = dict.fromkeys(f"{i.status}: {i.reason}" for i in infos if not i.ok)
            skipped.extend((name, reason) for reason in reasons)
        return usable, skipped

    def available_text(self) -> str:
        """``available: a, b; not usable: c`` for error messages."""
        usable, skipped = self.usable()
        bad = [name for name, _ in skipped if name not in usable]
        text = f"available: {', '.join(usable) or 'none'}"
        return text + (f"; not usable: {', '.join(dict.fromkeys(bad))}" if bad else "")

    def _usable_info(self, name: str) -> PluginInfo | None:
        return next((i for i in self._load(name) if i.ok), None)

    def get(self, name: str) -> Any:
        """The plugin registered as ``name``; one-line error if unknown or not usable."""
        if name not in self._discover():
            raise self._unknown_error(f"unknown {self.noun} {name!r}; {self.available_text()}")
        usable = self._usable_info(name)
        if usable is not None:
            return usable.plugin
        first = self._load(name)[0]
        if first.status == CONFLICT:
            raise self._broken_error(
                f"{self.noun} {name!r} is ambiguous: {first.reason}; {self.available_text()}"
            )
        raise self._broken_error(
            f"{self.noun} {name!r} (from {first.source}) is broken: {first.reason}; {self.available_text()}"
        )

    def info(self, name: str) -> PluginInfo:
        """The registry's record of a usable plugin (raises like :meth:`get`)."""
        self.get(name)
        return self._usable_info(name)
