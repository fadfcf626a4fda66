"""``colorbench plugin new NAME [DIR]``: write an installable generator plugin to start from.

The package written is the shortest complete plugin: ``pyproject.toml`` with the entry point, a
package whose ``GeneratorPlugin`` declares two variants (``Variant`` with labels and depths) and
a size check, a small network, a test running :mod:`colorbench.testing` on it, and a README.
The templates are files under ``colorbench/models/templates/plugin/`` with ``{{placeholders}}``.
Nothing here imports torch: writing files does not need it.
"""

from __future__ import annotations

import keyword
import re
from importlib.util import find_spec
from pathlib import Path

import click

from colorbench import __version__
from colorbench.errors import ColorbenchError
from colorbench.models.contract import API_VERSION_TEXT
from colorbench.models.registry import builtin_generator_names

TEMPLATES = Path(__file__).parent / "templates" / "plugin"
NAME_RULE = "lower-case letters, digits and '_', starting with a letter (it is the entry-point, package "
NAME_RULE += "and import name)"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ScaffoldError(ColorbenchError):
    """``colorbench plugin new`` cannot write the plugin (bad name, occupied directory)."""


def name_problem(name: str) -> str | None:
    """``None`` if ``name`` can name a new plugin, else one sentence saying why not."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        return f"invalid plugin name {name!r}: use {NAME_RULE}"
    builtins = builtin_generator_names()
    if name in builtins:
        taken = ", ".join(builtins)
        return f"{name!r} is the name of a built-in colorbench generator ({taken}); choose another"
    spec = find_spec(name)
    # The package would shadow (or be shadowed by) a module that is already importable; a bare
    # directory of that name in the current directory (a namespace package, no origin) is not one.
    if spec is not None and spec.origin not in (None, "namespace"):
        return f"a Python module named {name!r} is already importable; choose a name that does not shadow it"
    return None


def _placeholders(name: str, directory: Path) -> dict[str, str]:
    return {
        "name": name,
        "dist": f"colorbench-{name.replace('_', '-')}",
        "dir": str(directory),
        "colorbench_version": __version__,
        "api_version": API_VERSION_TEXT,
    }


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _target(template: Path, name: str) -> Path:
    """Where a template lands: ``package/`` becomes the package, ``test_package`` its test."""
    relative = template.relative_to(TEMPLATES).with_suffix("")  # drop ".tmpl"
    parts = [name if p == "package" else p.replace("package", name) for p in relative.parts]
    return Path(*parts)


def write_plugin(name: str, directory: str | Path | None = None) -> list[Path]:
    """Write plugin ``name`` into ``directory`` (default ``./NAME``); returns the files written.

    Raises :class:`ScaffoldError` for an invalid or taken name, or a directory that exists and
    is not empty (nothing is overwritten).
    """
    problem = name_problem(name)
    if problem is not None:
        raise ScaffoldError(problem)
    root = Path(name if directory is None else directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        kind = "directory" if root.is_dir() else "file"
        raise ScaffoldError(f"{root} is an existing non-empty {kind}: choose a new or empty directory")
    values = _placeholders(name, root)
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        path = root / _target(template, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(template.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(path)
    return written


@click.group("plugin")
def plugin_group() -> None:
    """Write your own generator plugin: 'colorbench plugin new NAME' starts one."""


@plugin_group.command("new")
@click.argument("name")
@click.argument("directory", required=False, type=click.Path(file_okay=True, dir_okay=True))
def new_command(name: str, directory: str | None) -> None:
    """Write an installable plugin NAME into DIRECTORY (default ./NAME).

    NAME: lower-case letters, digits and '_', starting with a letter; it becomes the entry-point
    name, the package and the generator's name. DIRECTORY must be new or empty.
    """
    written = write_plugin(name, directory)
    root = Path(name if directory is None else directory)
    click.echo(f"wrote {len(written)} files into {root}/:")
    for path in written:
        click.echo(f"  {path.relative_to(root)}")
    click.echo(f"next: pip install -e {root} && colorbench list {name} && pytest {root}")
