"""The import contracts of pyproject.toml's [tool.importlinter], checked with import-linter.

docs/architecture.md explains the layers; a new room (package) must be placed in them, which
:func:`test_every_room_is_in_a_layer` enforces.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "colorbench"


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


_LINT = (
    "import sys; from importlinter.cli import lint_imports_command as c; sys.argv[0] = 'lint-imports'; c()"
)


def _lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--no-cache", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def _rooms() -> set[str]:
    rooms = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return rooms | {p.parent.name for p in PACKAGE.glob("*/__init__.py")}


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    result = _lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_layer_is_reported(tmp_path):
    """The same tool with the layers upside down must fail: the check above is not vacuous."""
    pytest.importorskip("importlinter")
    config = tmp_path / "upside-down.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "colorbench"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "upside down"\ntype = "layers"\nlayers = ["colorbench.errors", "colorbench.cli"]\n'
    )
    result = _lint(config)
    assert result.returncode != 0
    assert "colorbench.cli -> colorbench.errors" in result.stdout


def test_every_room_is_in_a_layer():
    named = {
        module.strip().split(".")[1]
        for layer in next(c for c in _config()["contracts"] if c["id"] == "layers")["layers"]
        for module in layer.replace(":", "|").split("|")
    }
    assert _rooms() - named == set(), "place each new package or module in pyproject.toml's layers"
