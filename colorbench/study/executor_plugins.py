"""Executors as plugins: the ``colorbench.executors`` entry-point group and the contract it resolves to.

An entry point names an :class:`ExecutorPlugin`: plain data (its name, one line of description, the
options it is built with) and ``create(options) -> Executor``, so that ``colorbench run --help``
can list every executor without building one. The built-ins (``local``, ``ray``) are declared here
and registered in colorbench's own ``pyproject.toml``, through the same group as a third party's.

Options reach an executor one way, whatever the executor: as a dict of its declared options, each
given on the command line as ``--executor-option KEY=VALUE`` (``--workers N`` and ``--address A``
are shorthands for ``workers`` and ``address``), parsed by the option's type, every other one at
its default. An option the chosen executor does not declare is a usage error naming the ones it
does. docs/plugins.md ("Executors") shows how to write one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from colorbench.entrypoints import EntryPointRegistry
from colorbench.errors import ColorbenchError

ENTRY_POINT_GROUP = "colorbench.executors"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TYPES = (bool, int, float, str)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ExecutorOptionError(ColorbenchError):
    """An executor option that the executor does not declare, or a value of the wrong type."""


@dataclass(frozen=True)
class ExecutorOption:
    """One construction option of an executor: its type, default (``None``: unset) and help line."""

    type: type
    default: bool | int | float | str | None = None
    help: str = ""

    def parse(self, key: str, value: Any) -> Any:
        """``value`` (a command-line string, or already typed) as this option's type."""
        if isinstance(value, self.type) and not (self.type is int and isinstance(value, bool)):
            return value
        text = str(value).strip()
        try:
            if self.type is bool:
                if text.lower() not in _TRUE + _FALSE:
                    raise ValueError
                return text.lower() in _TRUE
            return self.type(text)
        except ValueError:
            raise ExecutorOptionError(
                f"executor option {key}={value!r}: expected {self.type.__name__}"
            ) from None


@dataclass(frozen=True)
class ExecutorPlugin:
    """What a ``colorbench.executors`` entry point resolves to.

    ``create(options)`` returns the executor (:class:`colorbench.study.executors.Executor`: a
    ``name``, ``run(tasks, on_outcome)`` and, optionally, ``shutdown()``); ``options`` holds every
    declared option, the given ones parsed, the others at their defaults. Keep heavy imports inside
    ``create``: the help of ``colorbench run`` loads every executor's declaration.
    """

    name: str
    description: str
    create: Callable[[dict[str, Any]], Any]
    options: Mapping[str, ExecutorOption] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = contract_problem(self)
        if problem is not None:
            raise ColorbenchError(f"executor plugin: {problem}")

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option: ``given`` ones parsed by type, the rest at their defaults."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ExecutorOptionError(
                f"executor {self.name!r} has no option {unknown[0]!r}; its options: {known}"
            )
        return {
            key: option.parse(key, given[key]) if key in given else option.default
            for key, option in self.options.items()
        }


def contract_problem(obj: object) -> str | None:
    """``None`` if ``obj`` is a usable executor declaration, else one sentence naming the problem."""
    if not isinstance(obj, ExecutorPlugin):
        return f"resolves to {type(obj).__name__}, not a colorbench.study.executor_plugins.ExecutorPlugin"
    if not isinstance(obj.name, str) or not _NAME.fullmatch(obj.name):
        return f"name must be letters, digits, '_', '-' or '.', got {obj.name!r}"
    if not isinstance(obj.description, str) or not obj.description.strip() or "\n" in obj.description:
        return "description must be one non-empty line"
    if not callable(obj.create):
        return "create must be callable (options -> executor)"
    if not isinstance(obj.options, Mapping):
        return "options must be a mapping of option name -> ExecutorOption"
    for key, option in obj.options.items():
        if not isinstance(key, str) or not _OPTION_NAME.fullmatch(key):
            return f"option names must be lower-case identifiers, got {key!r}"
        if not isinstance(option, ExecutorOption) or option.type not in _TYPES:
            return f"option {key!r} must be an ExecutorOption of type bool, int, float or str"
        if option.default is not None and not isinstance(option.default, option.type):
            return f"option {key!r}: default {option.default!r} is not a {option.type.__name__}"
    return None


EXECUTORS = EntryPointRegistry(
    ENTRY_POINT_GROUP, "executor", contract=contract_problem, name_field="ExecutorPlugin(name=...)"
)


def get_executor_plugin(name: str) -> ExecutorPlugin:
    """The executor registered as ``name``; one line (exit code 2) if unknown or broken."""
    if not EXECUTORS.builtin_names():
        # Not even the built-ins: colorbench's own metadata predates the executors group.
        raise ColorbenchError(
            f"no executors are registered (entry-point group {ENTRY_POINT_GROUP}): "
            "reinstall colorbench (pip install -e .) to register the built-in ones"
        )
    return EXECUTORS.get(name)


def make_executor(name: str, options: Mapping[str, Any] | None = None):
    """Build executor ``name`` with ``options`` (checked against its declaration)."""
    plugin = get_executor_plugin(name)
    return plugin.create(plugin.resolve_options(dict(options or {})))


def parse_executor_options(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("workers=2", "address=auto")`` -> ``{"workers": "2", "address": "auto"}``."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _OPTION_NAME.fullmatch(key.strip()):
            raise ExecutorOptionError(f"--executor-option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


def executors_help() -> str:
    """The ``--executor`` help: every registered executor with its line and options; broken ones too."""
    lines = []
    usable, skipped = EXECUTORS.usable()
    for name in usable:
        plugin = EXECUTORS.get(name)
        options = ", ".join(plugin.options)
        lines.append(f"{name}: {plugin.description}" + (f" (options: {options})" if options else ""))
    lines.extend(f"{name} is not usable ({reason})" for name, reason in skipped if name not in usable)
    return "; ".join(lines) or "none registered: reinstall colorbench (pip install -e .)"


# ---------------------------------------------------------------------- the built-ins
def _create_local(options: dict[str, Any]):
    from colorbench.study.executors import LocalExecutor

    return LocalExecutor(options["workers"], options["devices"], options["runs_per_device"])


def _create_ray(options: dict[str, Any]):
    from colorbench.study.executors import RayExecutor

    return RayExecutor(
        address=options["address"],
        num_cpus=options["num_cpus"],
        cpus_per_run=options["cpus_per_run"],
        runs_per_device=options["runs_per_device"],
    )


LOCAL = ExecutorPlugin(
    name="local",
    description="this machine, one run after another or --workers at once",
    create=_create_local,
    options={
        "workers": ExecutorOption(
            int, None, "runs at once, each in its own process (default: devices x runs_per_device)"
        ),
        "devices": ExecutorOption(
            str, None, "cpu, mps, cuda or cuda:K,... (default: every visible GPU, else the CPU)"
        ),
        "runs_per_device": ExecutorOption(int, None, "runs packed onto each device at once (default 1)"),
    },
)
RAY = ExecutorPlugin(
    name="ray",
    description="a Ray cluster, one task per run (pip install 'colorbench[ray]')",
    create=_create_ray,
    options={
        "address": ExecutorOption(str, None, "'auto' or a cluster address; unset: a local cluster"),
        "num_cpus": ExecutorOption(int, None, "CPUs of the local cluster it starts"),
        "cpus_per_run": ExecutorOption(
            int, None, "CPUs per run (default: 1 without GPUs, else a GPU's share of its node's CPUs)"
        ),
        "runs_per_device": ExecutorOption(
            int, None, "runs sharing one GPU (num_gpus = 1/N) or, without GPUs, a node's CPUs"
        ),
    },
)
