"""The plugin contract's guarantees to the harness: check()'s answer, build's result, per-variant
flags, depth order, init applicability and API versions (colorbench.models.contract / init)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from colorbench.models import (
    GeneratorOutputError,
    GeneratorPlugin,
    Option,
    PluginContractError,
    Variant,
    gray,
    init_not_applicable_reason,
    unet,
    zhang,
)
from colorbench.models.contract import API_VERSION, API_VERSION_TEXT, api_version_problem
from colorbench.models.gray import GrayBaseline


def plugin(**fields) -> GeneratorPlugin:
    defaults = dict(
        name="toy",
        description="a test generator (Nobody 2024)",
        variants={"a": Variant(config={"w": 4})},
        default_variant="a",
        build=lambda v, s: nn.Conv2d(1, 2, 3, padding=1),
        check=lambda v, s: None,
    )
    return GeneratorPlugin(**{**defaults, **fields})


# -- check()'s answer ----------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [False, 42, "", "   ", "two\nlines", 0, ["x"]])
def test_check_answers_other_than_none_or_one_line_are_a_broken_plugin(answer):
    with pytest.raises(PluginContractError) as caught:
        plugin(check=lambda v, s: answer).feasibility("a", 64)
    message = str(caught.value)
    assert message.startswith(f"generator 'toy' is broken: check('a', 64) returned {answer!r}")
    assert "must return None (the variant runs) or one non-empty line" in message
    assert "\n" not in message


def test_check_answers_none_or_one_sentence():
    assert plugin().feasibility("a", 64) is None
    sentence = "needs a side divisible by 16, got 64 px\n"
    assert plugin(check=lambda v, s: sentence).feasibility("a", 64) == sentence.strip()
    with pytest.raises(PluginContractError, match="returned False"):
        plugin(check=lambda v, s: False).create("a", 64)  # create() checks first


def test_check_answer_is_validated_with_options_too():
    toy = plugin(
        options={"k": Option(default=1)},
        check=lambda v, s, o: o["k"] == 1,
        build=lambda v, s, o: nn.Identity(),
    )
    with pytest.raises(PluginContractError, match=r"check\('a', 32\) returned True"):
        toy.feasibility("a", 32)


# -- build's result ------------------------------------------------------------------------------


@pytest.mark.parametrize("built, shown", [(None, "None"), ("net", "a str"), (torch.zeros(1), "a Tensor")])
def test_create_rejects_a_build_that_returns_no_module(built, shown):
    toy = plugin(build=lambda v, s: built)
    for call in (lambda: toy.create("a", 32), lambda: toy.build_module("a", 32)):
        with pytest.raises(GeneratorOutputError) as caught:
            call()
        assert str(caught.value) == (
            f"generator 'toy' variant 'a' at 32 px: build returned {shown}, not a torch.nn.Module"
        )
    assert isinstance(caught.value, PluginContractError)


# -- per-variant behaviour -----------------------------------------------------------------------


def mixed_plugin() -> GeneratorPlugin:
    """A trainable network next to a parameter-free, never-trained variant of the same plugin."""
    return plugin(
        variants={
            "net": Variant(config={"width": 8}, label="tiny CNN"),
            "zero": Variant(config={"ab": 0}, label="ab = 0", trainable=False),
        },
        default_variant="net",
        build=lambda v, s: (
            nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh()) if v == "net" else GrayBaseline()
        ),
    )


def test_a_non_trainable_variant_next_to_a_trainable_one():
    mixed = mixed_plugin()
    assert mixed.trainable is True
    assert mixed.is_trainable("net") and not mixed.is_trainable("zero")
    assert mixed.manages_own_init("net") is False
    assert mixed.manages_own_init("zero") is True  # never trained: the init factor cannot touch it
    assert init_not_applicable_reason(mixed, "net", 32) is None
    assert init_not_applicable_reason(mixed, "zero", 32) == (
        "toy zero is not trained, so its weights are never initialised"
    )


def test_variant_flags_override_the_plugin_and_options_bring_own_weights():
    toy = plugin(
        variants={"own": Variant(manages_init=True), "plain": Variant(), "forced": Variant(trainable=True)},
        default_variant="plain",
        trainable=False,
        options={"pretrained": Option(default=False, own_weights=True)},
        build=lambda v, s, o: nn.Conv2d(1, 2, 1),
        check=lambda v, s, o: None,
    )
    assert [toy.is_trainable(v) for v in toy.variants] == [False, False, True]
    toy = plugin(
        variants={"own": Variant(manages_init=True), "plain": Variant()},
        default_variant="plain",
        options={"pretrained": Option(default=False, own_weights=True)},
        build=lambda v, s, o: nn.Conv2d(1, 2, 1),
        check=lambda v, s, o: None,
    )
    assert init_not_applicable_reason(toy, "own", 32) == "toy own manages its own weight initialisation"
    assert init_not_applicable_reason(toy, "plain", 32) is None
    assert init_not_applicable_reason(toy, "plain", 32, {"pretrained": True}) == (
        "toy plain with pretrained=True brings its own weights"
    )


# -- init applicability --------------------------------------------------------------------------


def test_init_does_not_apply_to_a_module_without_layers():
    assert init_not_applicable_reason(gray.PLUGIN, "zero", 64) == (
        "gray zero is not trained, so its weights are never initialised"
    )
    # The same parameter-free module in a trainable plugin: the build shows nothing to initialise.
    layerless = plugin(build=lambda v, s: GrayBaseline())
    assert init_not_applicable_reason(layerless, "a", 64) == (
        "toy a has no convolution, linear or BatchNorm layer to initialise"
    )
    assert init_not_applicable_reason(plugin(build=lambda v, s: nn.BatchNorm2d(2)), "a", 64) is None


def test_init_applicability_builds_on_the_meta_device_and_falls_back():
    devices = []

    def build(v, s):
        devices.append(torch.empty(0).device.type)
        if devices[-1] == "meta":
            raise RuntimeError("cannot load weights onto meta tensors")
        return nn.Linear(1, 2)

    assert init_not_applicable_reason(plugin(build=build), "a", 32) is None
    assert devices == ["meta", "cpu"]
    start = time.perf_counter()
    assert init_not_applicable_reason(unet.PLUGIN, "n_down_9", 512) is None  # 67 M parameters
    assert time.perf_counter() - start < 0.5, "the U-Net was built for real, not on the meta device"
    assert init_not_applicable_reason(zhang.PLUGIN, None, 64) is None


# -- depth order and default -------------------------------------------------------------------


def test_depth_order_lists_declared_depths_shallow_to_deep():
    assert unet.PLUGIN.depth_order() == ["n_down_5", "n_down_6", "n_down_7", "n_down_8", "n_down_9"]
    assert zhang.PLUGIN.depth_order() == ["removal_348", "no_conv5_7", "full"]
    toy = plugin(
        variants={
            "deep": Variant(depth=50),
            "other_family": Variant(),  # no depth: never a depth level
            "shallow": Variant(depth=18),
            "also_shallow": Variant(depth=18.0),  # a tie keeps declaration order
        },
        default_variant="shallow",
    )
    assert toy.depth_order() == ["shallow", "also_shallow", "deep"]
    assert plugin().depth_order() == []  # no depth declared: the layers factor does not apply
    assert gray.PLUGIN.depth_order() == []


def test_default_for_an_image_size():
    assert [unet.PLUGIN.default_for(s) for s in (None, 32, 64, 256, 512)] == [
        "n_down_8",
        "n_down_5",
        "n_down_6",
        "n_down_8",
        "n_down_8",
    ]
    assert zhang.PLUGIN.default_for(64) == "no_conv5_7"  # no default_variant_for: the default
    two = {"a": Variant(depth=1), "b": Variant(depth=2)}
    toy = plugin(variants=two, default_variant_for=lambda size: None if size < 64 else "b")
    assert (toy.default_for(32), toy.default_for(64)) == ("a", "b")
    wrong = plugin(variants=two, default_variant_for=lambda size: "c")
    with pytest.raises(PluginContractError, match=r"default_variant_for\(64\) returned 'c', not one of"):
        wrong.default_for(64)


# -- API versions --------------------------------------------------------------------------------


def test_api_version_same_major_is_accepted_other_majors_say_what_to_install():
    assert API_VERSION == (1, 3) and API_VERSION_TEXT == "1.3"
    for same in ("1", "1.0", "1.1", "1.2", "1.7"):
        assert api_version_problem(same) is None
    assert api_version_problem("2") == (
        "written for colorbench plugin API 2, this colorbench implements 1.3; "
        "upgrade colorbench or install a release of the plugin for API 1"
    )
    assert api_version_problem("0.9") == (
        "written for colorbench plugin API 0.9, this colorbench implements 1.3; "
        "install a release of the plugin for API 1, or a colorbench release for API 0"
    )
    with pytest.raises(PluginContractError, match="api_version must be a version string"):
        plugin(api_version="one")
