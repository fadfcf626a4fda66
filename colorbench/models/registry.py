"""Generators discovered through the ``colorbench.generators`` entry-point group.

The machinery (lazy discovery, broken and conflicting plugins reported, built-ins first) is the
shared :class:`colorbench.entrypoints.EntryPointRegistry`; this module adds what a generator must
satisfy (the plugin contract and its API version) and the names the rest of colorbench calls.
"""

from __future__ import annotations

from importlib import metadata

from colorbench.entrypoints import BROKEN, BUILTIN_DISTRIBUTION, CONFLICT, OK, EntryPointRegistry, PluginInfo
from colorbench.errors import ColorbenchError
from colorbench.models.contract import (
    API_VERSION_TEXT,
    ENTRY_POINT_GROUP,
    GeneratorPlugin,
    api_version_problem,
    contract_problem,
)

__all__ = [
    "BROKEN",
    "BUILTIN_DISTRIBUTION",
    "CONFLICT",
    "OK",
    "BrokenGeneratorError",
    "PluginInfo",
    "UnknownGeneratorError",
    "builtin_generator_names",
    "generator_names",
    "get_generator",
    "list_plugins",
    "plugin_info",
    "plugin_version",
    "refresh",
    "usable_generators",
]


class UnknownGeneratorError(ColorbenchError):
    """No entry point registers this generator name."""


class BrokenGeneratorError(ColorbenchError):
    """The generator's entry point fails to load, breaks the contract, or its name is claimed twice."""


def _api_version_problem(plugin: GeneratorPlugin) -> str | None:
    return api_version_problem(plugin.api_version)


def _import_hint(ep: metadata.EntryPoint, exc: Exception) -> str:
    if isinstance(exc, TypeError) and "GeneratorPlugin" in str(exc) and "unexpected keyword" in str(exc):
        # The usual face of a plugin using a field of a newer minor API than this colorbench's.
        return f" (a field of a newer plugin API? this colorbench implements {API_VERSION_TEXT})"
    return ""


def _forget_fingerprints() -> None:
    from colorbench.models import identity  # its fingerprints describe what was loaded

    identity.forget()


GENERATORS = EntryPointRegistry(
    ENTRY_POINT_GROUP,
    "generator",
    contract=contract_problem,
    check=_api_version_problem,
    import_hint=_import_hint,
    unknown_error=UnknownGeneratorError,
    broken_error=BrokenGeneratorError,
    on_refresh=_forget_fingerprints,
    name_field="GeneratorPlugin(name=...)",
)
_loaded = GENERATORS._loaded  # what has been imported so far (tests check that listing imports nothing)


def refresh() -> None:
    """Forget what was discovered and loaded (after installing or removing a plugin)."""
    GENERATORS.refresh()


def generator_names() -> list[str]:
    """Every registered name, without importing anything."""
    return GENERATORS.names()


def builtin_generator_names() -> list[str]:
    """The names colorbench itself registers (entry points of its own distribution); no import."""
    return GENERATORS.builtin_names()


def list_plugins() -> list[PluginInfo]:
    """Every registered entry point, loaded (once) and with its status, sorted by name."""
    return GENERATORS.entries()


def usable_generators() -> tuple[list[str], list[tuple[str, str]]]:
    """What ``--plugin all`` means: (usable names, sorted; [(name, why it is skipped), ...])."""
    return GENERATORS.usable()


def get_generator(name: str) -> GeneratorPlugin:
    """The plugin registered as ``name``; one-line ColorbenchError if unknown or not usable."""
    return GENERATORS.get(name)


def plugin_info(name: str) -> PluginInfo:
    """The registry's record of a usable generator (raises like :func:`get_generator`)."""
    return GENERATORS.info(name)


def plugin_version(name: str) -> str:
    """Version of the distribution providing generator ``name`` (recorded with every run)."""
    return plugin_info(name).dist_version or "unknown"
