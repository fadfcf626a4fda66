"""``colorbench plugin new``: the package it writes installs, registers and passes its own test;
bad names and occupied directories are refused in one line. And the CLI starts without torch."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from colorbench.cli import COMMANDS, load_command, main
from colorbench.models.contract import API_VERSION_TEXT
from colorbench.testing import check_generator

NAME = "cbscaffold_demo"  # nothing else is called that: the generated package shadows nothing


def new(*args: str):
    return CliRunner().invoke(main, ["plugin", "new", *args])


def test_plugin_new_writes_a_complete_package(tmp_path, monkeypatch):
    root = tmp_path / "demo"
    result = new(NAME, str(root))
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "cbscaffold_demo/__init__.py",
        "cbscaffold_demo/model.py",
        "pyproject.toml",
        "tests/test_cbscaffold_demo.py",
    ]
    assert f"next: pip install -e {root} && colorbench list {NAME} && pytest {root}" in result.stdout
    project = (root / "pyproject.toml").read_text()
    assert 'name = "colorbench-cbscaffold-demo"' in project
    assert f'[project.entry-points."colorbench.generators"]\n{NAME} = "{NAME}:PLUGIN"' in project
    assert "{{" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())

    monkeypatch.syspath_prepend(str(root))
    try:
        plugin = importlib.import_module(NAME).PLUGIN
        assert plugin.name == NAME and plugin.api_version == API_VERSION_TEXT
        labels = [(v, plugin.label(v)) for v in plugin.variants]
        assert labels == [("small", "2 down steps"), ("deep", "3 down steps")]
        assert plugin.depth_order() == ["small", "deep"]
        assert plugin.feasibility("deep", 36).startswith(f"{NAME} deep needs an image size divisible by 8")
        report = check_generator(plugin, sizes=(32, 64)).assert_ok()
        assert report.parameters == {"small": 17_346, "deep": 83_170}
    finally:
        for module in [m for m in sys.modules if m == NAME or m.startswith(f"{NAME}.")]:
            del sys.modules[module]


def test_the_generated_code_is_lint_clean(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    root = tmp_path / "demo"
    assert new(NAME, str(root)).exit_code == 0
    # From the plugin's own root, as its author runs it: there the package is first-party.
    lint = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "."],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(
    "name, expected",
    [
        ("My-Net", "invalid plugin name 'My-Net': use lower-case letters, digits and '_', starting with a"),
        ("1net", "invalid plugin name '1net'"),
        ("class", "invalid plugin name 'class'"),
        ("unet", "'unet' is the name of a built-in colorbench generator"),
        ("json", "a Python module named 'json' is already importable; choose a name that does not shadow it"),
    ],
)
def test_invalid_names_are_refused_in_one_line(tmp_path, name, expected):
    result = new(name, str(tmp_path / "out"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {expected}")
    assert not (tmp_path / "out").exists()


def test_an_occupied_directory_is_refused_an_empty_one_used(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    for target, kind in (("full", "directory"), ("afile", "file")):
        result = new(NAME, str(tmp_path / target))
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"error: {tmp_path / target} is an existing non-empty {kind}: choose a new or empty directory"
        )
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"  # nothing overwritten
    (tmp_path / "empty").mkdir()
    assert new(NAME, str(tmp_path / "empty")).exit_code == 0


def test_the_scaffold_installs_registers_and_passes_its_own_test(tmp_path, bridged_venv):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: the generated package cannot be built offline")
    root = tmp_path / "demo"
    assert new(NAME, str(root)).exit_code == 0
    python = bridged_venv(tmp_path / "venv")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    install = run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(root))
    assert install.returncode == 0, install.stderr
    listed = run("-m", "colorbench", "list", NAME)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{NAME}  ok  colorbench-cbscaffold-demo 0.1.0\n"), listed.stdout
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(root))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout, tests.stdout
    # What the author does next: a smoke study of the new generator, then its report.
    store = tmp_path / "runs"
    study = run(
        "-m", "colorbench", "run", "--plugin", NAME, "--vary", "init", "--preset", "smoke",
        "--study", "demo", "--out", str(store),
    )  # fmt: skip
    assert study.returncode == 0, study.stdout + study.stderr
    assert "3/3 runs done, 0 failed" in study.stdout, study.stdout
    report = run("-m", "colorbench", "report", "--out", str(store), "--study", "demo", "--format", "markdown")
    assert report.returncode == 0, report.stdout + report.stderr


# -- the command line itself -----------------------------------------------------------------------


def test_colorbench_help_does_not_import_torch():
    code = (
        "import sys\nfrom colorbench.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False"
    assert "plugin    Write your own generator plugin" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_lazy_help_is_each_commands_own(name):
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(limit=10**6)
