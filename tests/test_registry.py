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
    plugin_info,
    plugin_version,
    registry,
    usable_generators,
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
    "cbtest_api2": GOOD.replace('"good"', '"future"').replace("None)", 'None, api_version="2")'),
    "cbtest_api13": GOOD.replace('"good"', '"newer_minor"').replace("None)", 'None, api_version="1.3")'),
    "cbtest_newfield": GOOD.replace('"good"', '"newfield"').replace("None)", "None, colour_space='oklab')"),
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


def test_lookups_read_each_distributions_metadata_once_per_discovery(monkeypatch):
    """A report asks which way a metric improves once per contrast; each ask used to parse every
    metric distribution's METADATA again (98% of a null study's analysis time)."""
    from colorbench import entrypoints
    from colorbench.measures import registry as measures

    reads: list[str] = []
    real = entrypoints._dist
    monkeypatch.setattr(entrypoints, "_dist", lambda ep: reads.append(ep.name) or real(ep))
    measures.refresh()
    measures.metric_measures()
    assert registry.builtin_generator_names() and registry.GENERATORS.entry_point_value("unet")
    discovered = len(reads)
    assert discovered > 0
    for _ in range(20):
        measures.metric_measures()
        assert measures.find_measure("psnr") is not None and measures.metadata_is_stale() is False
        assert "unet" in registry.builtin_generator_names() and registry.GENERATORS.entry_point_value("gray")
    assert len(reads) == discovered, reads[discovered:]
    measures.refresh()  # the next discovery reads them again
    measures.metric_measures()
    assert len(reads) > discovered
    measures.refresh()


def test_broken_plugins_are_reported_and_the_others_keep_working(install):
    install(
        "cbtest-plugins",
        "2.0",
        {
            "good": "cbtest_good:PLUGIN",
            "raises": "cbtest_raises:PLUGIN",
            "notaplugin": "cbtest_dict:PLUGIN",
            "missing": "cbtest_dict:NOPE",
            "misnamed": "cbtest_misnamed:PLUGIN",
            "baddefault": "cbtest_baddefault:PLUGIN",
        },
    )
    infos = {name: found[0] for name, found in by_name().items()}
    assert infos["good"].status == "ok" and infos["good"].source == "cbtest-plugins 2.0"
    assert infos["unet"].status == "ok"
    reasons = {
        "raises": "import of cbtest_raises:PLUGIN failed: RuntimeError: boom second line",
        "notaplugin": "cbtest_dict:PLUGIN resolves to dict, not a colorbench.models.GeneratorPlugin",
        "missing": "import of cbtest_dict:NOPE failed: AttributeError",
        "misnamed": "entry point 'misnamed' resolves to a generator named 'other'",
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


def test_a_third_party_plugin_cannot_take_a_builtins_name(install):
    from colorbench.models import zhang

    install("cbtest-dup", "9.9", {"zhang": "cbtest_dup:PLUGIN"})
    builtin, claimant = by_name()["zhang"]
    assert (builtin.status, builtin.dist_name, builtin.plugin) == ("ok", "colorbench", zhang.PLUGIN)
    assert (claimant.status, claimant.dist_name, claimant.plugin) == ("conflict", "cbtest-dup", None)
    assert claimant.reason == (
        "name 'zhang' belongs to colorbench's built-in generator (colorbench.models.zhang:PLUGIN), so "
        "cbtest_dup:PLUGIN from cbtest-dup 9.9 is not used: rename it in cbtest-dup's pyproject.toml under "
        '[project.entry-points."colorbench.generators"] and in its GeneratorPlugin(name=...), '
        "e.g. to 'cbtest_dup', then reinstall it"
    )
    assert get_generator("zhang") is zhang.PLUGIN  # the built-in stays usable for everyone
    assert plugin_info("zhang").dist_name == "colorbench"
    assert "cbtest_dup" not in sys.modules  # the claimant is never imported
    usable, skipped = usable_generators()
    assert "zhang" in usable
    assert ("zhang", f"conflict: {claimant.reason}") in skipped
    result = run()
    assert result.exit_code == 0, result.output
    assert "zhang  ok  colorbench" in result.stdout
    expected = "zhang  conflict  cbtest-dup 9.9\n  reason: name 'zhang' belongs to colorbench's built-in"
    assert expected in result.stdout


def test_two_third_party_plugins_claiming_one_name_is_a_conflict(install):
    install("cbtest-one", "1.0", {"good": "cbtest_good:PLUGIN"})
    install("cbtest-two", "2.0", {"good": "cbtest_good:PLUGIN"})
    found = by_name()["good"]
    assert [i.status for i in found] == ["conflict", "conflict"]
    reason = found[0].reason
    assert reason == (
        "name 'good' is claimed by 2 entry points: cbtest_good:PLUGIN from cbtest-one 1.0; "
        "cbtest_good:PLUGIN from cbtest-two 2.0"
    ) or reason == (
        "name 'good' is claimed by 2 entry points: cbtest_good:PLUGIN from cbtest-two 2.0; "
        "cbtest_good:PLUGIN from cbtest-one 1.0"
    )
    with pytest.raises(BrokenGeneratorError, match="generator 'good' is ambiguous: name 'good' is claimed"):
        get_generator("good")
    assert "cbtest_good" not in sys.modules  # neither side was imported: no silent winner
    usable, skipped = usable_generators()
    assert "good" not in usable and skipped.count(("good", f"conflict: {reason}")) == 1
    assert get_generator("unet").name == "unet"


def test_plugins_for_another_major_api_are_broken_newer_minors_accepted(install):
    install(
        "cbtest-api",
        "1.0",
        {
            "future": "cbtest_api2:PLUGIN",
            "newer_minor": "cbtest_api13:PLUGIN",
            "newfield": "cbtest_newfield:PLUGIN",
        },
    )
    infos = {name: found[0] for name, found in by_name().items()}
    assert infos["future"].status == "broken"
    assert infos["future"].reason == (
        "written for colorbench plugin API 2, this colorbench implements 1.3; "
        "upgrade colorbench or install a release of the plugin for API 1"
    )
    assert infos["newer_minor"].status == "ok" and get_generator("newer_minor").api_version == "1.3"
    assert infos["newfield"].status == "broken"
    assert infos["newfield"].reason.endswith(
        "unexpected keyword argument 'colour_space' (a field of a newer plugin API? "
        "this colorbench implements 1.3)"
    )
    with pytest.raises(BrokenGeneratorError, match="is broken: written for colorbench plugin API 2"):
        get_generator("future")


def test_usable_generators_is_what_plugin_all_runs(install):
    install("cbtest-plugins", "2.0", {"good": "cbtest_good:PLUGIN", "raises": "cbtest_raises:PLUGIN"})
    usable, skipped = usable_generators()
    assert {"good", "gray", "unet", "zhang"} <= set(usable) and usable == sorted(usable)
    assert "raises" not in usable
    reason = "broken: import of cbtest_raises:PLUGIN failed: RuntimeError: boom second line"
    assert ("raises", reason) in skipped
    assert all("\n" not in reason for _, reason in skipped)


def test_entry_points_without_distribution_and_duplicates_of_one_distribution(monkeypatch):
    real = importlib.metadata.entry_points

    def fake(**kwargs):
        eps = list(real(**kwargs))
        # The same distribution seen twice on sys.path must not look like a conflict.
        return (
            eps
            + [ep for ep in eps if ep.name == "gray"]
            + [importlib.metadata.EntryPoint("orphan", "cbtest_missing_module:PLUGIN", ENTRY_POINT_GROUP)]
        )

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
    assert f"gray  ok  colorbench {version}  [not trained: evaluated as it is]" in out


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
