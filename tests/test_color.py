"""Colour core against scikit-image: every colour of a 32^3 RGB grid, real photos, both dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata

from colorbench.color import (
    AB_SCALE,
    denormalize_lab,
    lab_to_rgb,
    normalize_lab,
    normalized_to_rgb,
    rgb8_to_lab,
    rgb_to_lab,
    srgb8_to_linear,
    srgb_to_linear,
)

DTYPES = [torch.float32, torch.float64]


def _grid_rgb() -> np.ndarray:
    levels = np.linspace(0.0, 1.0, 32)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    return np.stack([r, g, b], axis=-1).reshape(32, 1024, 3)  # HWC image holding all 32768 colours


def _photos() -> list[np.ndarray]:
    return [skdata.astronaut(), skdata.chelsea(), skdata.coffee()]


def _to_chw(x: np.ndarray, dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rgb_to_lab_matches_skimage_on_grid(dtype):
    rgb = _grid_rgb()
    ours = rgb_to_lab(_to_chw(rgb, dtype)).double().numpy().transpose(1, 2, 0)
    theirs = skcolor.rgb2lab(rgb)
    assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_lab_to_rgb_matches_skimage_on_grid(dtype):
    lab = skcolor.rgb2lab(_grid_rgb())
    ours = lab_to_rgb(_to_chw(lab, dtype)).double().numpy().transpose(1, 2, 0)
    theirs = skcolor.lab2rgb(lab)
    assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_roundtrip_and_skimage_on_photos_batched(dtype):
    photos = [p[:256, :256] / 255.0 for p in _photos()]
    batch = torch.stack([_to_chw(p, dtype) for p in photos])  # (N, 3, H, W)
    lab = rgb_to_lab(batch)
    for i, p in enumerate(photos):
        assert np.abs(lab[i].double().numpy().transpose(1, 2, 0) - skcolor.rgb2lab(p)).max() < 1e-3
    back = lab_to_rgb(lab)
    assert torch.allclose(back, batch, atol=1e-3)


def test_leading_batch_dims_are_kept():
    x = torch.rand(2, 3, 3, 5, 7)
    assert rgb_to_lab(x).shape == x.shape
    assert lab_to_rgb(rgb_to_lab(x)).shape == x.shape


def test_out_of_gamut_lab_is_clipped_like_skimage():
    rng = np.random.default_rng(0)
    # Generator outputs can be anything in [-1, 1] normalised: far outside the sRGB gamut.
    lab = np.stack(
        [rng.uniform(0, 100, (16, 16)), rng.uniform(-128, 128, (16, 16)), rng.uniform(-128, 128, (16, 16))],
        axis=-1,
    )
    with np.errstate(all="ignore"), pytest.warns(UserWarning):
        theirs = skcolor.lab2rgb(lab)  # skimage warns about negative Z values it clips
    ours = lab_to_rgb(_to_chw(lab, torch.float64)).numpy().transpose(1, 2, 0)
    assert not np.isnan(ours).any()
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    assert np.abs(ours - theirs).max() < 1e-3


def test_extreme_predictions_never_nan():
    l_norm = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    ab = torch.full((1, 2, 8, 8), 1.0)
    rgb = normalized_to_rgb(l_norm, ab)
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


def test_normalisation_constants_and_inverse():
    lab = torch.tensor([100.0, AB_SCALE, -AB_SCALE]).view(3, 1, 1)
    l_norm, ab_norm = normalize_lab(lab)
    assert l_norm.item() == pytest.approx(1.0)
    assert ab_norm.flatten().tolist() == pytest.approx([1.0, -1.0])
    assert torch.allclose(denormalize_lab(l_norm, ab_norm), lab)


@pytest.mark.parametrize(
    "bad",
    [torch.rand(3, 4), torch.rand(4, 8, 8), torch.rand(2, 1, 8, 8)],
)
def test_wrong_shape_raises_value_error(bad):
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        rgb_to_lab(bad)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        lab_to_rgb(bad)


def test_integer_input_raises_value_error():
    with pytest.raises(ValueError, match="floating-point"):
        rgb_to_lab(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_denormalize_checks_channel_counts():
    with pytest.raises(ValueError, match="ab must have shape"):
        denormalize_lab(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))


def _all_codes_u8() -> torch.Tensor:
    """(3, 256, 256) uint8 holding every 8-bit code in every channel and 65,536 colours."""
    codes = torch.arange(256, dtype=torch.uint8)
    r = codes.view(256, 1).expand(256, 256)
    g = codes.view(1, 256).expand(256, 256)
    b = (codes.view(256, 1).int() * 7 + codes.view(1, 256).int() * 13).remainder(256).to(torch.uint8)
    return torch.stack([r, g, b])


def test_srgb8_lookup_equals_the_float_path_for_every_code():
    rgb8 = _all_codes_u8()
    looked_up = srgb8_to_linear(rgb8)
    computed = srgb_to_linear(rgb8.float() / 255.0)
    assert looked_up.dtype == torch.float32
    assert torch.equal(looked_up, computed)


def test_rgb8_to_lab_equals_rgb_to_lab_and_skimage():
    rgb8 = torch.stack([_all_codes_u8(), _all_codes_u8().flip(0)])  # (2, 3, 256, 256)
    ours = rgb8_to_lab(rgb8)
    assert torch.equal(ours, rgb_to_lab(rgb8.float() / 255.0))
    theirs = skcolor.rgb2lab(rgb8[0].permute(1, 2, 0).numpy())
    assert np.abs(ours[0].double().numpy().transpose(1, 2, 0) - theirs).max() < 1e-3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.rand(3, 4, 4), "uint8"),
        (torch.zeros(4, 4, 4, dtype=torch.uint8), r"\(\.\.\., 3, H, W\)"),
        (np.zeros((3, 4, 4), np.uint8), "torch.Tensor"),
    ],
)
def test_rgb8_input_contract(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        rgb8_to_lab(bad)
