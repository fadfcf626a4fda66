"""Weight init: each scheme gives the reference code's weight statistics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from colorbench.errors import ColorbenchError
from colorbench.models import INIT_SCHEMES, PatchDiscriminator, init_weights
from colorbench.models.unet import UnetGenerator

C_IN, C_OUT, K = 64, 128, 3
FAN_IN, FAN_OUT = C_IN * K * K, C_OUT * K * K


def net() -> nn.Module:
    # Large enough layers that sample statistics are within ~1-2% of the distribution's.
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(C_IN, C_OUT, K),
        nn.BatchNorm2d(4096),
        nn.ConvTranspose2d(C_IN, C_OUT, K),
        nn.Linear(512, 256),
    )


def initialised(scheme: str, gain: float = 0.02, seed: int = 1) -> nn.Module:
    model = net()
    torch.manual_seed(seed)
    return init_weights(model, scheme, gain)


def test_schemes():
    assert INIT_SCHEMES == ("normal", "xavier", "kaiming", "orthogonal")


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_biases_zero_and_batchnorm_n1_002(scheme):
    model = initialised(scheme)
    for m in model.modules():
        if getattr(m, "bias", None) is not None:
            assert torch.count_nonzero(m.bias) == 0, m
    bn = model[1].weight.detach()
    assert bn.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert bn.std().item() == pytest.approx(0.02, rel=0.05)


def test_normal_std_is_the_gain():
    w = initialised("normal")[0].weight.detach()
    assert w.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert w.std().item() == pytest.approx(0.02, rel=0.02)


def test_xavier_takes_the_gain():
    w = initialised("xavier", gain=0.02)[0].weight.detach()
    assert w.std().item() == pytest.approx(0.02 * math.sqrt(2.0 / (FAN_IN + FAN_OUT)), rel=0.02)


def test_kaiming_uses_fan_in_and_ignores_the_gain():
    for gain in (0.02, 5.0):
        w = initialised("kaiming", gain=gain)[0].weight.detach()
        assert w.std().item() == pytest.approx(math.sqrt(2.0 / FAN_IN), rel=0.02)


def test_orthogonal_rows_scaled_by_the_gain():
    w = initialised("orthogonal", gain=0.02)[0].weight.detach().reshape(C_OUT, -1)
    gram = w @ w.T  # 128 rows of length 576: orthogonal rows
    assert torch.allclose(gram, 0.02**2 * torch.eye(C_OUT), atol=1e-7)


def test_transposed_convs_and_linears_are_initialised_too():
    model = initialised("normal")
    for layer in (model[2], model[3]):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.03)


def test_seeded_init_is_reproducible():
    a, b, c = initialised("xavier", seed=3), initialised("xavier", seed=3), initialised("xavier", seed=4)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_unknown_scheme_names_the_schemes():
    with pytest.raises(ColorbenchError, match="unknown init scheme 'he'; choose one of normal, xavier"):
        init_weights(net(), "he")


def test_applies_to_generator_and_discriminator():
    for model in (UnetGenerator(5, num_filters=8), PatchDiscriminator()):
        init_weights(model, "normal")
        for m in model.modules():
            if isinstance(m, nn.modules.conv._ConvNd):
                assert m.weight.std().item() < 0.03 and (m.bias is None or not m.bias.any())
            if isinstance(m, nn.BatchNorm2d):
                assert not m.bias.any()
