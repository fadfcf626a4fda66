"""The inference-only example as a researcher would ship it: installed, found by colorbench,
evaluated without training, its weights read from a local file.

Run after installing the plugin (the ``plugins`` tox environment and .ci/run do it):
``pip install -e plugins/colorbench-pretrained-example && pytest plugins/colorbench-pretrained-example``.
The weights are written by the tests (seeded random, nothing trained, nothing downloaded).
"""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from colorbench_pretrained_example import PLUGIN, VARIANTS, WEIGHTS_ENV, make_plugin, weights_dir
from colorbench_pretrained_example.weights import save_demo_weights

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.models import InfeasibleVariantError, init_not_applicable_reason, list_plugins, refresh
from colorbench.testing import check_generator


@pytest.fixture(autouse=True)
def fresh_registry():
    refresh()
    yield
    refresh()


@pytest.fixture
def weights(tmp_path):
    save_demo_weights(tmp_path, seed=1)
    return tmp_path


def test_installed_plugin_is_listed_as_not_trained():
    infos = {info.name: info for info in list_plugins()}
    assert "pretrained_example" in infos, (
        "the plugin is not installed: pip install -e plugins/colorbench-pretrained-example"
    )
    info = infos["pretrained_example"]
    assert info.status == "ok", info.reason
    assert info.dist_name == "colorbench-pretrained-example"
    assert info.value == "colorbench_pretrained_example:PLUGIN"
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert "pretrained_example  ok  colorbench-pretrained-example 0.1.0  [not trained" in result.stdout


def test_it_loads_exactly_the_weights_in_the_file(weights):
    plugin = make_plugin(weights)
    saved = torch.load(weights / "small.pt", weights_only=True)
    module = plugin.create("small", 64)
    assert saved.keys() == module.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in module.state_dict().items())
    assert not any(p.requires_grad for p in module.parameters())


def test_it_is_not_trained_and_its_weights_are_never_reinitialised(weights):
    plugin = make_plugin(weights)
    assert plugin.trainable is False and plugin.manages_init is True
    assert not any(plugin.is_trainable(v) for v in plugin.variants)
    assert all(plugin.manages_own_init(v) for v in plugin.variants)
    assert init_not_applicable_reason(plugin, "tiny", 64) == (
        "pretrained_example tiny is not trained, so its weights are never initialised"
    )


def test_the_weights_file_is_part_of_each_variants_identity(weights):
    plugin = make_plugin(weights)
    for name, cfg in VARIANTS.items():
        assert plugin.variant(name).files == (str((weights / cfg["file"]).resolve()),)
        assert plugin.variant(name).config == {"width": cfg["width"]}  # no path in the config


def test_it_passes_colorbenchs_conformance_test(weights):
    report = check_generator(make_plugin(weights), sizes=(32, 64)).assert_ok()
    assert report.parameters == {"tiny": 4_514, "small": 17_218}
    assert all(case.feasible for case in report.cases)


def test_a_missing_weights_file_is_one_sentence_before_anything_is_built(tmp_path):
    plugin = make_plugin(tmp_path / "empty")
    reason = plugin.feasibility("tiny", 64)
    assert reason == (
        f"the weights file {(tmp_path / 'empty' / 'tiny.pt').resolve()} of pretrained_example tiny does not "
        f"exist: put the pretrained weights there or point {WEIGHTS_ENV} at the folder that holds them"
    )
    with pytest.raises(InfeasibleVariantError, match="does not exist: put the pretrained weights there"):
        plugin.create("tiny", 64)
    with pytest.raises(ColorbenchError, match="cannot read the weights file"):
        plugin.build_module("tiny", 64)
    # check() and build agree: the infeasible cases really cannot be built.
    assert check_generator(plugin, sizes=(32,), require_feasible=False).ok


def test_weights_that_do_not_fit_are_one_line(weights):
    (weights / "tiny.pt").write_bytes((weights / "small.pt").read_bytes())
    with pytest.raises(ColorbenchError) as caught:
        make_plugin(weights).create("tiny", 64)
    assert "the weights file" in str(caught.value) and "does not fit the network" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_weights_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert weights_dir() == tmp_path
    assert make_plugin().variant("tiny").files == (str((tmp_path / "tiny.pt").resolve()),)
    monkeypatch.delenv(WEIGHTS_ENV)
    assert weights_dir().name == "weights" and weights_dir().parent.name == "colorbench_pretrained_example"
    assert PLUGIN.name == "pretrained_example"
