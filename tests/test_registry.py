"""The entry-point registry and ``colorbench list``: built-ins, broken plugins, conflicts, errors.

Needs colorbench installed (``pip install -e .``): the built-ins are found through the real
entry points of its distribution. Third-party plugins are simulated by writing a small
``*.dist-info`` (what pip would install) into a temporary directory put on ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import textwrap

import pytest
from click.testing import CliRunner

import colorbench
from colorbench.cli import main
from colorbench.models import (
    ENTRY_POINT_GROUP,
    BrokenGeneratorError,
    UnknownGeneratorError,
    get_generator,
    list_plugins,
    plugin_version,
    registry,
)
from colorbench.models import unet as unet_module

GOOD = """
from colorbench.models import GeneratorPlugin
from colorbench.models.gray import GrayBaseline
PLUGIN = GeneratorPlugin("good", "test plugin (Nobody 2024)", {"v": {}}, "v",
                         build=lambda v, s: GrayBaseline(), check=lambda v, s: None)
"""
MODULES = {
    "cbtest_good": GOOD,
    "cbtest_raises": "raise RuntimeError('boom\\nsecond line')",
    "cbtest_dict": "PLUGIN = {'name': 'notaplugin'}",
    "cbtest_misnamed": GOOD.replace('"good"', '"other"'),
    "cbtest_baddefault": GOOD.replace('"v",\n', '"w",\n'),
    "cbtest_dup": GOOD.replace('"good"', '"zhang"'),
}


@pytest.fixture(autouse=True)
def fresh_registry():
    registry.refresh()
    yield
    registry.refresh()
    for name in [m for m in sys.modules if m.startswith("cbtest_")]:
        del sys.modules[name]


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install a fake distribution: ``install(dist, version, {ep_name: "module:attr"})``."""

    def _install(dist: str, version: str, entries: dict[str, str]) -> None:
        root = tmp_path / dist
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        for module, source in MODULES.items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(root))
        registry.refresh()

    return _install


def named(message: str) -> tuple[set[str], set[str]]:
    """The (available, not usable) names an error message lists (other plugins may be installed)."""
    match = re.search(r"available: ([^;]*)(?:; not usable: (.*))?$", message)
    assert match, message
    return set(match[1].split(", ")), set((match[2] or "").split(", ")) - {""}


def by_name() -> dict[str, list]:
    found: dict[str, list] = {}
    for info in list_plugins():
        found.setdefault(info.name, []).append(info)
    return found


def test_builtins_come_through_their_entry_points():
    infos = by_name()
    assert {"unet", "zhang", "gray"} <= set(infos), "colorbench is not installed: pip install -e ."
    for name in ("unet", "zhang", "gray"):
        (info,) = infos[name]
        assert info.status == "ok" and info.reason is None
        assert info.value == f"colorbench.models.{name}:PLUGIN"
        assert (info.dist_name, info.dist_version) == ("colorbench", colorbench.__version__)
    assert get_generator("unet") is unet_module.PLUGIN
    assert plugin_version("unet") == colorbench.__version__


def test_loading_is_lazy_and_cached():
    assert "gray" in registry.generator_names()
    assert registry._loaded == {}  # discovery imports nothing
    assert get_generator("gray") is get_generator("gray")
    assert set(registry._loaded) == {"gray"}


def test_broken_plugins_are_reported_and_the_others_keep_working(install):
    install("cbtest-plugins", "2.0", {
        "good": "cbtest_good:PLUGIN",
        "raises": "cbtest_raises:PLUGIN",
        "notaplugin": "cbtest_dict:PLUGIN",
        "missing": "cbtest_dict:NOPE",
        "misnamed": "cbtest_misnamed:PLUGIN",
        "baddefault": "cbtest_baddefault:PLUGIN",
    })
    infos = {name: found[0] for name, found in by_name().items()}
    assert infos["good"].status == "ok" and infos["good"].source == "cbtest-plugins 2.0"
    assert infos["unet"].status == "ok"
    reasons = {
        "raises": "import of cbtest_raises:PLUGIN failed: RuntimeError: boom second line",
        "notaplugin": "cbtest_dict:PLUGIN resolves to dict, not a colorbench.models.GeneratorPlugin",
        "missing": "import of cbtest_dict:NOPE failed: AttributeError",
        "misnamed": "entry point 'misnamed' resolves to a plugin named 'other'",
        "baddefault": "default variant 'w' is not one of its variants (v)",
    }
    for name, reason in reasons.items():
        assert infos[name].status == "broken" and infos[name].plugin is None
        assert reason in infos[name].reason and "\n" not in infos[name].reason
    with pytest.raises(BrokenGeneratorError) as caught:
        get_generator("raises")
    message = str(caught.value)
    assert message.startswith("generator 'raises' (from cbtest-plugins 2.0) is broken: import of")
    available, unusable = named(message)
    assert {"good", "gray", "unet", "zhang"} <= available
    assert unusable == {"baddefault", "misnamed", "missing", "notaplugin", "raises"}
    assert "\n" not in message
    assert get_generator("good").build("v", 32) is not None


def test_two_plugins_claiming_one_name_is_a_conflict(install):
    install("cbtest-dup", "9.9", {"zhang": "cbtest_dup:PLUGIN"})
    found = by_name()["zhang"]
    assert [i.status for i in found] == ["conflict", "conflict"]
    reason = found[0].reason
    assert "claimed by 2 entry points" in reason
    assert "colorbench.models.zhang:PLUGIN from colorbench" in reason
    assert "cbtest_dup:PLUGIN from cbtest-dup 9.9" in reason
    with pytest.raises(BrokenGeneratorError, match="generator 'zhang' is ambiguous: name 'zhang' is claimed"):
        get_generator("zhang")
    assert "cbtest_dup" not in sys.modules  # neither side was imported: no silent winner
    assert get_generator("unet").name == "unet"


def test_entry_points_without_distribution_and_duplicates_of_one_distribution(monkeypatch):
    real = importlib.metadata.entry_points

    def fake(**kwargs):
        eps = list(real(**kwargs))
        # The same distribution seen twice on sys.path must not look like a conflict.
        return eps + [ep for ep in eps if ep.name == "gray"] + [
            importlib.metadata.EntryPoint("orphan", "cbtest_missing_module:PLUGIN", ENTRY_POINT_GROUP)
        ]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    registry.refresh()
    infos = by_name()
    assert [i.status for i in infos["gray"]] == ["ok"]
    (orphan,) = infos["orphan"]
    assert orphan.status == "broken" and orphan.source.startswith("unknown distribution")
    assert "ModuleNotFoundError" in orphan.reason


def test_unknown_generator_names_what_exists():
    with pytest.raises(UnknownGeneratorError, match=r"^unknown generator 'nope'; available: ") as caught:
        get_generator("nope")
    assert {"gray", "unet", "zhang"} <= named(str(caught.value))[0]


# -- colorbench list -----------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, ["list", *args])


def test_list_shows_builtins_with_variants_source_and_status():
    result = run()
    assert result.exit_code == 0, result.output
    out = result.stdout
    version = colorbench.__version__
    assert f"unet  ok  colorbench {version}\n" in out
    assert "n_down_7, n_down_8 (default), n_down_9" in out
    assert "variants: full, no_conv5_7 (default), removal_348" in out
    assert f"gray  ok  colorbench {version}  [not trained (baseline)]" in out


def test_list_one_generator_with_feasibility():
    result = run("unet", "--image-size", "256")
    assert result.exit_code == 0, result.output
    assert "infeasible: n_down 9 needs images of at least 512 px: at 256 px the bottleneck" in result.stdout
    assert "n_down=8" in result.stdout and "[default]" in result.stdout


def test_list_counts_parameters():
    result = run("zhang", "--params")
    assert result.exit_code == 0, result.output
    assert "32,236,011 params" in result.stdout and "10,994,667 params" in result.stdout


def test_list_shows_broken_plugins_and_still_succeeds(install):
    install("cbtest-plugins", "2.0", {"raises": "cbtest_raises:PLUGIN"})
    result = run()
    assert result.exit_code == 0, result.output
    expected = "raises  broken  cbtest-plugins 2.0\n  reason: import of cbtest_raises:PLUGIN failed"
    assert expected in result.stdout
    assert "unet  ok" in result.stdout


@pytest.mark.parametrize("name", ["nope", "raises"])
def test_list_unknown_or_broken_name_is_one_line_and_exit_code_2(install, name):
    install("cbtest-plugins", "2.0", {"raises": "cbtest_raises:PLUGIN"})
    result = run(name)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {'unknown' if name == 'nope' else 'generator'}")
    available, unusable = named(lines[0])
    assert {"gray", "unet", "zhang"} <= available and unusable == {"raises"}
