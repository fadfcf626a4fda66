"""The one-batch output check (colorbench.models.conformance) and the plugin author's conformance
test (colorbench.testing): every registered generator passes; each typical mistake is caught in
one line naming the plugin, the variant and what is wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from colorbench.models import (
    GeneratorOutputError,
    GeneratorPlugin,
    Variant,
    check_output,
    gray,
    list_plugins,
    unet,
)
from colorbench.models.conformance import AB_BOUND, sample_input
from colorbench.testing import assert_conforms, check_case, check_generator, generator_cases

# -- every generator colorbench knows ------------------------------------------------------------


def test_the_cases_cover_every_registered_generator():
    names = {name for name, _, _ in generator_cases()}
    assert names == {info.name for info in list_plugins()}
    assert {"unet", "zhang", "gray"} <= names
    assert ("unet", "n_down_5", 32) in generator_cases() and ("gray", "zero", 64) in generator_cases()


@pytest.mark.parametrize("name, variant, size", generator_cases())
def test_every_registered_generator_conforms(name, variant, size):
    assert_conforms(name, variant, size)


def test_the_report_counts_parameters_and_says_what_ran():
    report = check_generator("unet", sizes=(32, 64)).assert_ok()
    assert report.parameters == {"n_down_5": 16_654_978, "n_down_6": 29_239_938}
    by_case = {(c.variant, c.image_size): c for c in report.cases}
    assert by_case["n_down_6", 64].feasible and not by_case["n_down_6", 32].feasible
    assert by_case["n_down_6", 32].reason.startswith("n_down 6 needs images of at least 64 px")
    assert by_case["n_down_5", 32].bf16_dtype == "bfloat16" and by_case["n_down_5", 32].max_abs_ab <= 1
    assert report.summary().splitlines()[0] == "unet: 10 cases at 32, 64 px, 3 run, 7 infeasible, 0 failures"


# -- faulty generators ---------------------------------------------------------------------------


class Scaled(nn.Module):
    """A conv to ``channels``, Tanh, times ``scale``, resampled by ``factor``: every shape mistake."""

    def __init__(self, channels: int = 2, scale: float = 1.0, factor: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, padding=1)
        self.scale, self.factor = scale, factor

    def forward(self, L):
        out = torch.tanh(self.conv(L) * 10) * self.scale
        return out if self.factor == 1 else nn.functional.interpolate(out, scale_factor=self.factor)


class Returns(nn.Module):
    def __init__(self, make) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.make = make

    def forward(self, L):
        return self.make(self.conv(L))


def poisoned(ab):
    ab = ab.clone()
    ab[1, 1, :2, :] = float("nan")
    ab[0, 0, 0, 0] = float("-inf")
    return ab


def toy(build, check=lambda v, s: None, **fields) -> GeneratorPlugin:
    return GeneratorPlugin(
        "toy",
        "a test generator (Nobody 2024)",
        {"v": Variant(label="v")},
        "v",
        build=build,
        check=check,
        **fields,
    )


FAULTS = {
    "half resolution": (lambda v, s: Scaled(factor=0.5), "output is 16x16 px for a 32x32 input (H/2 x W/2)"),
    "three channels": (lambda v, s: Scaled(channels=3), "output has 3 channels, expected 2 (a and b)"),
    "raw a*b*": (lambda v, s: Scaled(scale=110.0), "beyond 1.5 in normalised units (ab/110): is it raw"),
    "NaN": (lambda v, s: Returns(poisoned), "output has 64 NaN and 1 infinite values of 4096"),
    "tuple": (lambda v, s: Returns(lambda x: (x, x)), "forward returned tuple, not a torch.Tensor"),
    "integers": (lambda v, s: Returns(lambda x: x.long()), "expected a floating-point tensor"),
    "no batch": (lambda v, s: Returns(lambda x: x[0]), "shape (2, 32, 32), expected (2, 2, 32, 32)"),
    "crash": (lambda v, s: Returns(lambda x: x.view(3, -1, 7)), "a batch of 2 raised RuntimeError: shape"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_check_output_names_the_plugin_the_variant_and_the_mistake(fault):
    build, expected = FAULTS[fault]
    with pytest.raises(GeneratorOutputError) as caught:
        check_output(toy(build), "v", 32, None, build("v", 32))
    message = str(caught.value)
    assert message.startswith("generator 'toy' variant 'v' at 32 px: ") and expected in message
    assert "\n" not in message
    # The author's test reports the same line.
    report = check_generator(toy(build), sizes=(32,))
    assert not report.ok and any(expected in f for f in report.failures)
    with pytest.raises(AssertionError, match="toy does not conform"):
        report.assert_ok()


def test_check_output_rejects_what_is_not_a_module():
    with pytest.raises(GeneratorOutputError, match="at 64 px: build returned None, not a torch.nn.Module"):
        check_output(gray.PLUGIN, "zero", 64, None, None)


def test_check_output_passes_a_conforming_module_and_leaves_no_trace():
    module = unet.PLUGIN.build("n_down_5", 32).train()
    module.model.model[1].eval()  # a part kept in eval mode on purpose (e.g. a frozen encoder)
    stats = [b.clone() for b in module.buffers()]
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    check_output(unet.PLUGIN, "n_down_5", 32, {}, module)
    assert torch.equal(torch.rand(3), expected_next)  # the run's random stream is untouched
    assert module.training and not module.model.model[1].training
    assert all(
        m.training
        for m in module.modules()
        if m is not module.model.model[1] and not any(m is s for s in module.model.model[1].modules())
    )
    assert all(torch.equal(a, b) for a, b in zip(stats, module.buffers(), strict=True))  # BN stats


def test_sample_input_is_l_in_normalised_units():
    L = sample_input(16)
    assert L.shape == (2, 1, 16, 16) and L.min() >= -1 and L.max() <= 1 and L.std() > 0.2
    assert torch.equal(L, sample_input(16))
    assert AB_BOUND == 1.5


def test_build_returning_none_is_caught_by_the_authors_test():
    report = check_generator(toy(lambda v, s: None), sizes=(32,))
    assert report.failures == [
        "generator 'toy' variant 'v' at 32 px: build returned None, not a torch.nn.Module"
    ]


def test_check_must_agree_with_build():
    too_strict = toy(lambda v, s: Scaled(), check=lambda v, s: "needs 1024 px")
    (failure,) = check_generator(too_strict, sizes=(32,), require_feasible=False).failures
    assert failure == (
        "generator 'toy' variant 'v' at 32 px: check() says infeasible (needs 1024 px) but it builds and "
        "runs correctly: check() is stricter than the network"
    )

    def build(v, s):
        raise ValueError("kernel larger than the image")

    too_lax = toy(build)
    assert check_generator(too_lax, sizes=(32,)).failures == [
        "generator 'toy' variant 'v' at 32 px: check() says it runs but build raised ValueError: "
        "kernel larger than the image"
    ]
    nothing_runs = toy(build, check=lambda v, s: "needs 1024 px")
    assert check_generator(nothing_runs, sizes=(32,)).failures == [
        "toy: no variant runs at 32 px, so nothing was run: pass sizes at which it runs "
        "(check_generator(..., sizes=...))",
    ]
    assert check_generator(nothing_runs, sizes=(32,), require_feasible=False).ok


def test_check_that_raises_or_answers_false_is_a_failure():
    def check(v, s):
        raise KeyError(v)

    report = check_generator(toy(lambda v, s: Scaled(), check=check), sizes=(32,), require_feasible=False)
    assert report.failures == [
        "generator 'toy' variant 'v' at 32 px: check() raised KeyError: 'v'; "
        "it must return None or one sentence"
    ]
    report = check_generator(
        toy(lambda v, s: Scaled(), check=lambda v, s: False), sizes=(32,), require_feasible=False
    )
    assert "is broken: check('v', 32) returned False" in report.failures[0]


def test_trainable_variant_without_parameters_and_bf16_failures():
    report = check_generator(toy(lambda v, s: gray.GrayBaseline()), sizes=(32,))
    assert report.failures == [
        "generator 'toy' variant 'v' at 32 px: the variant is trainable but its module has no trainable "
        "parameters (declare Variant(trainable=False) or trainable=False on the plugin)"
    ]
    assert check_generator(toy(lambda v, s: gray.GrayBaseline(), trainable=False), sizes=(32,)).ok

    def no_autocast(x):
        if torch.is_autocast_enabled("cpu"):
            raise TypeError("this op has no bf16 kernel")
        return x

    (failure,) = check_generator(toy(lambda v, s: Returns(no_autocast)), sizes=(32,)).failures
    assert failure == (
        "generator 'toy' variant 'v' at 32 px: under bf16 autocast forward raised TypeError: this op has no "
        "bf16 kernel"
    )


def test_generator_level_problems():
    future = toy(lambda v, s: Scaled(), api_version="2.0")
    assert check_generator(future, sizes=(32,)).failures == [
        "toy: written for colorbench plugin API 2.0, this colorbench implements 1.3; upgrade colorbench or "
        "install a release of the plugin for API 1"
    ]
    wrong_default = toy(lambda v, s: Scaled(), default_variant_for=lambda size: "nope")
    (failure,) = check_generator(wrong_default, sizes=(32,)).failures
    assert failure.startswith("toy: default_variant_for(32) raised PluginContractError: toy: default_variant")
    unknown_option = check_generator(toy(lambda v, s: Scaled()), sizes=(32,), options={"x": 1})
    assert unknown_option.failures == ["toy: generator 'toy' has no option 'x'; options: none"]
    assert unknown_option.cases == []


def test_names_the_registry_cannot_give():
    report = check_generator("nope")
    assert not report.ok and report.failures[0].startswith("nope: unknown generator 'nope'; available: ")
    assert ("nope", None, None) in generator_cases(names=["nope"])
    with pytest.raises(AssertionError, match="unknown generator 'nope'"):
        assert_conforms("nope", None, None)
    with pytest.raises(AssertionError, match="has no variant 'w'"):
        assert_conforms("gray", "w", 32)


def test_the_check_does_not_touch_the_callers_random_stream():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    case = check_case(unet.PLUGIN, "n_down_5", 32)
    assert case.ok and torch.equal(torch.rand(4), expected)
