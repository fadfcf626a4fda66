"""Each metric of colorbench.metrics against an independent computation (scikit-image, numpy, by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata
from skimage import metrics as skmetrics

from colorbench.color import normalize_lab, normalized_to_rgb
from colorbench.measures import image_metrics, metric_measures
from colorbench.metrics import (
    PSNR_CAP_DB,
    MeanAccumulator,
    auc,
    ciede2000,
    colorfulness,
    l1_ab,
    psnr,
    ssim,
)

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula", Table 1:
# L1, a1, b1, L2, a2, b2, published dE00 (4 decimals).
SHARMA = np.array(
    [
        (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
        (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
        (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
        (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
        (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
        (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
        (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
        (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
        (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
        (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
        (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
        (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
        (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
        (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
        (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
        (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
        (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
        (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
        (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
        (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
    ]
)
# Pairs 10 and 14 (1-based) put the two hues exactly pi apart, where the formula's mean hue jumps;
# only exact (float64) arithmetic lands on the published side of that jump.
SHARMA_EXACT_TIES = [9, 13]


def _to_chw(lab: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """(P, 3) numpy Lab -> (3, 1, P) tensor, the (..., 3, H, W) layout ciede2000 takes."""
    return torch.tensor(lab.T[:, None, :].copy(), dtype=dtype)


def _ciede(lab1: np.ndarray, lab2: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    return ciede2000(_to_chw(lab1, dtype), _to_chw(lab2, dtype))[0].double().numpy()


def _edge_case_lab(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random Lab pairs plus the hue-angle edge cases: zero / tiny chroma, hue near 0 = 2 pi,
    hues about pi apart, a* < 0 on the b* = 0 axis, identical colours."""

    def rand(k: int) -> np.ndarray:
        return np.stack([rng.uniform(0, 100, k), rng.uniform(-110, 110, k), rng.uniform(-110, 110, k)], 1)

    lab1, lab2 = rand(6 * n), rand(6 * n)
    s = slice(0, n)
    lab1[s, 1:] = 0.0  # achromatic vs chromatic, and (every other) achromatic vs achromatic
    lab2[s][::2, 1:] = 0.0
    s = slice(n, 2 * n)
    lab1[s, 1:] = rng.uniform(-1e-3, 1e-3, (n, 2))  # barely chromatic: hue is ill-conditioned
    s = slice(2 * n, 3 * n)
    lab1[s, 1], lab1[s, 2] = rng.uniform(1, 80, n), rng.uniform(-1e-2, 1e-2, n)  # hue near 0 / 2 pi
    lab2[s, 1], lab2[s, 2] = rng.uniform(1, 80, n), rng.uniform(-1e-2, 1e-2, n)
    s = slice(3 * n, 4 * n)
    lab2[s, 1:] = -lab1[s, 1:] * rng.uniform(0.5, 2, (n, 1)) + rng.normal(0, 0.5, (n, 2))  # ~pi apart
    s = slice(4 * n, 5 * n)
    lab1[s, 1], lab1[s, 2] = -rng.uniform(1, 80, n), 0.0  # on the negative a* axis (hue = pi)
    lab2[5 * n :] = lab1[5 * n :]  # identical colours: dE = 0
    return lab1, lab2


# ------------------------------------------------------------------------------- CIEDE2000
def test_ciede2000_sharma_pairs_float64():
    got = _ciede(SHARMA[:, :3], SHARMA[:, 3:6], torch.float64)
    np.testing.assert_allclose(got, SHARMA[:, 6], atol=1e-4)
    np.testing.assert_allclose(got, skcolor.deltaE_ciede2000(SHARMA[:, :3], SHARMA[:, 3:6]), atol=1e-9)


def test_ciede2000_sharma_pairs_float32():
    keep = np.setdiff1d(np.arange(len(SHARMA)), SHARMA_EXACT_TIES)
    got = _ciede(SHARMA[keep, :3], SHARMA[keep, 3:6], torch.float32)
    np.testing.assert_allclose(got, SHARMA[keep, 6], atol=1e-4)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_ciede2000_random_and_edge_cases_match_skimage(dtype, atol):
    lab1, lab2 = _edge_case_lab(np.random.default_rng(0), 2000)
    # compare on the values the tensor actually holds (float32 rounds the inputs)
    lab1 = lab1.astype(np.float32).astype(np.float64) if dtype == torch.float32 else lab1
    lab2 = lab2.astype(np.float32).astype(np.float64) if dtype == torch.float32 else lab2
    want = skcolor.deltaE_ciede2000(lab1, lab2)
    got = _ciede(lab1, lab2, dtype)
    np.testing.assert_allclose(got, want, atol=atol, rtol=0)
    assert np.all(got[-2000:] == 0.0)


def test_ciede2000_real_images_match_skimage():
    lab1 = skcolor.rgb2lab(_image("astronaut")).reshape(-1, 3).astype(np.float32).astype(np.float64)
    lab2 = skcolor.rgb2lab(_image("coffee")).reshape(-1, 3).astype(np.float32).astype(np.float64)
    got = _ciede(lab1, lab2, torch.float32)
    np.testing.assert_allclose(got, skcolor.deltaE_ciede2000(lab1, lab2), atol=1e-4, rtol=0)
    assert got.mean() > 5.0  # different images: a non-trivial comparison


def test_ciede2000_shape_check():
    with pytest.raises(ValueError):
        ciede2000(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError):
        ciede2000(torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4))


# ------------------------------------------------------------------------------- helpers
def _image(name: str) -> np.ndarray:
    """A 64x64 crop of a scikit-image sample, float64 sRGB in [0, 1], (H, W, 3)."""
    return getattr(skdata, name)()[:256:4, :256:4] / 255.0


def _batch(*names: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised (L, ab) of sample images, as the harness feeds them: (N, 1, H, W), (N, 2, H, W)."""
    lab = np.stack([skcolor.rgb2lab(_image(n)).transpose(2, 0, 1) for n in names])
    return normalize_lab(torch.tensor(lab, dtype=torch.float32))


def _to_hwc(rgb: torch.Tensor) -> np.ndarray:
    return rgb.permute(1, 2, 0).double().numpy()


def _np_colorfulness(rgb01: np.ndarray) -> float:
    """Hasler-Suesstrunk, signed rg / yb, population std, on 0-255 RGB; rgb01 is (H, W, 3)."""
    r, g, b = (rgb01.astype(np.float64) * 255.0).reshape(-1, 3).T
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


# ------------------------------------------------------------------------------- colorfulness
def test_colorfulness_matches_numpy_on_real_images():
    names = ("astronaut", "chelsea", "coffee")
    rgb = torch.tensor(np.stack([_image(n).transpose(2, 0, 1) for n in names]), dtype=torch.float32)
    got = colorfulness(rgb).numpy()
    want = [_np_colorfulness(_image(n)) for n in names]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_colorfulness_is_the_signed_variant_by_hand():
    # pixels (255, 0, 0) and (0, 0, 255): rg = [255, 0], yb = [127.5, -255]
    rgb = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]).view(1, 3, 1, 2)
    want = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)  # |yb| would give mean 191.25
    assert colorfulness(rgb).item() == pytest.approx(want, rel=1e-6)


def test_image_metrics_colorfulness_and_dcf_match_numpy():
    l_norm, ab_true = _batch("astronaut", "chelsea", "coffee")
    ab_pred = ab_true.roll(1, dims=0)  # another image's colours on each L
    m = image_metrics(l_norm, ab_pred, ab_true)
    rgb_pred, rgb_true = normalized_to_rgb(l_norm, ab_pred), normalized_to_rgb(l_norm, ab_true)
    cf_pred = [_np_colorfulness(_to_hwc(x)) for x in rgb_pred]
    cf_true = [_np_colorfulness(_to_hwc(x)) for x in rgb_true]
    np.testing.assert_allclose(m["colorfulness_pred"].numpy(), cf_pred, rtol=1e-5)
    np.testing.assert_allclose(m["colorfulness_true"].numpy(), cf_true, rtol=1e-5)
    np.testing.assert_allclose(m["dcf"].numpy(), np.abs(np.subtract(cf_pred, cf_true)), atol=1e-3)


def test_grey_prediction_has_zero_colorfulness():
    l_norm, ab_true = _batch("astronaut", "coffee")
    m = image_metrics(l_norm, torch.zeros_like(ab_true), ab_true)
    # a* = b* = 0 gives R = G = B up to the ~1e-4 mismatch between skimage's RGB->XYZ matrix and
    # its D65 white, i.e. a few hundredths of a 0-255 level at most.
    assert m["colorfulness_pred"].abs().max().item() < 0.02
    assert torch.all(m["colorfulness_true"] > 10.0)
    assert torch.allclose(m["dcf"], m["colorfulness_true"], atol=0.02)


# ------------------------------------------------------------------------------- PSNR, SSIM
def test_psnr_and_ssim_match_skimage():
    l_norm, ab_true = _batch("astronaut", "chelsea", "coffee")
    ab_pred = ab_true.roll(1, dims=0) * 0.7
    rgb_pred, rgb_true = normalized_to_rgb(l_norm, ab_pred), normalized_to_rgb(l_norm, ab_true)
    m = image_metrics(l_norm, ab_pred, ab_true)
    for i in range(3):
        p, t = _to_hwc(rgb_pred[i]), _to_hwc(rgb_true[i])
        want_psnr = skmetrics.peak_signal_noise_ratio(t, p, data_range=1.0)
        want_ssim = skmetrics.structural_similarity(
            t,
            p,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        # float32 vs float64: PSNR to 1e-4 dB, SSIM to 1e-4 (observed ~3e-6)
        assert m["psnr"][i].item() == pytest.approx(want_psnr, abs=1e-4)
        assert m["ssim"][i].item() == pytest.approx(want_ssim, abs=1e-4)
        assert psnr(rgb_pred[i : i + 1], rgb_true[i : i + 1]).item() == pytest.approx(want_psnr, abs=1e-4)
        assert ssim(rgb_pred[i : i + 1], rgb_true[i : i + 1]).item() == pytest.approx(want_ssim, abs=1e-4)


def test_psnr_capped_for_identical_images():
    rgb = torch.rand(2, 3, 16, 16)
    assert torch.equal(psnr(rgb, rgb), torch.full((2,), PSNR_CAP_DB))
    assert torch.allclose(ssim(rgb, rgb), torch.ones(2))
    with pytest.raises(ValueError):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


# ------------------------------------------------------------------------------- AuC, L1
def test_auc_by_hand():
    # errors 0, 0.5, 10 (a 6-8-10 triangle), 200, in a*b* units, against ab_true = 0.
    ab_pred = torch.tensor([[[0.0, 0.5, 6.0, 120.0]], [[0.0, 0.0, 8.0, 160.0]]]).view(1, 2, 1, 4)
    # t = 0: 1 of 4 pixels; t = 1..9 (9 thresholds): 2 of 4; t = 10..150 (141): 3 of 4.
    want = (1 * 0.25 + 9 * 0.5 + 141 * 0.75) / 151
    assert auc(ab_pred, torch.zeros_like(ab_pred)).item() == pytest.approx(want, abs=1e-7)
    # an error of exactly 150 counts only at t = 150; one past it never
    edge = torch.tensor([150.0, 150.5]).view(1, 1, 1, 2)
    edge = torch.cat([edge, torch.zeros_like(edge)], dim=1)
    assert auc(edge, torch.zeros_like(edge)).item() == pytest.approx(0.5 / 151, abs=1e-7)


def test_auc_matches_explicit_threshold_curve():
    gen = torch.Generator().manual_seed(0)
    ab_true = torch.randn(3, 2, 8, 8, generator=gen) * 40
    ab_pred = torch.randn(3, 2, 8, 8, generator=gen) * 40
    err = torch.linalg.vector_norm(ab_pred - ab_true, dim=1).flatten(1).double().numpy()
    curve = np.stack([(err <= t).mean(axis=1) for t in range(151)], axis=1)  # (N, 151)
    np.testing.assert_allclose(auc(ab_pred, ab_true).numpy(), curve.mean(axis=1), atol=1e-6)


def test_perfect_prediction():
    l_norm, ab = _batch("astronaut", "chelsea")
    m = image_metrics(l_norm, ab, ab)
    assert torch.all(m["l1_ab"] == 0) and torch.all(m["ciede2000"] == 0) and torch.all(m["dcf"] == 0)
    assert torch.all(m["auc"] == 1.0) and torch.all(m["psnr"] == PSNR_CAP_DB)
    assert torch.allclose(m["ssim"], torch.ones(2))
    grey = image_metrics(l_norm, torch.zeros_like(ab), ab)
    assert torch.all(grey["auc"] < 1.0) and torch.all(grey["ciede2000"] > 0)


def test_l1_ab():
    ab_true = torch.rand(2, 2, 4, 4)
    ab_pred = ab_true.clone()
    ab_pred[0, 0] += 0.1  # one channel of image 0 off by 0.1: mean over both channels 0.05
    np.testing.assert_allclose(l1_ab(ab_pred, ab_true).numpy(), [0.05, 0.0], atol=1e-6)


# ------------------------------------------------------------------------------- image_metrics
def test_image_metrics_table_dtype_and_shapes():
    l_norm, ab = _batch("astronaut", "coffee")
    m = image_metrics(l_norm.bfloat16(), ab.bfloat16().flip(0), ab.bfloat16())
    # The declarations (colorbench.measures) of the per-image metrics computable here (not FID/KID,
    # per set; not LPIPS without its weights file).
    METRICS = {d.name: d for d in metric_measures() if d.per_image and not d.unmet_needs()}
    METRIC_VARIANTS = {name: d.variant for name, d in METRICS.items()}
    assert set(m) == set(METRICS) == set(METRIC_VARIANTS)
    assert all(v.shape == (2,) and v.dtype == torch.float32 for v in m.values())
    assert all(torch.isfinite(v).all() for v in m.values())
    assert all(info.direction in ("higher", "lower") and info.unit for info in METRICS.values())
    assert "signed" in METRIC_VARIANTS["colorfulness_pred"] and "151" in METRIC_VARIANTS["auc"]
    with pytest.raises(ValueError):
        image_metrics(l_norm, ab[:, :1], ab)
    with pytest.raises(ValueError):
        image_metrics(l_norm[:1], ab, ab)
    with pytest.raises(ValueError):
        image_metrics(l_norm[0], ab[0], ab[0])


# ------------------------------------------------------------------------------- accumulator
def test_accumulator_weights_unequal_batches():
    acc = MeanAccumulator()
    acc.update({"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([0.0, 0.0, 0.0])})
    acc.update({"a": torch.tensor([10.0]), "b": torch.tensor([4.0])})
    out = acc.compute()
    assert acc.count == 4
    assert out == pytest.approx({"a": 16.0 / 4, "b": 1.0})  # not the mean of batch means (6.0)
    assert all(isinstance(v, float) for v in out.values())


def test_accumulator_over_image_metrics_equals_whole_split():
    l_norm, ab = _batch("astronaut", "chelsea", "coffee")
    pred = ab.roll(1, dims=0)
    acc = MeanAccumulator()
    acc.update(image_metrics(l_norm[:2], pred[:2], ab[:2]))
    acc.update(image_metrics(l_norm[2:], pred[2:], ab[2:]))
    whole = {k: v.double().mean().item() for k, v in image_metrics(l_norm, pred, ab).items()}
    assert acc.count == 3
    assert acc.compute() == pytest.approx(whole, rel=1e-6)


def test_accumulator_rejects_bad_input():
    acc = MeanAccumulator()
    with pytest.raises(ValueError):
        acc.compute()
    with pytest.raises(ValueError):
        acc.update({"a": torch.zeros(3), "b": torch.zeros(2)})
    with pytest.raises(ValueError):
        acc.update({"a": torch.zeros(2, 2)})
    with pytest.raises(ValueError):
        acc.update({"a": torch.tensor(1.0)})  # a batch mean without its weight
    acc.update({"a": torch.zeros(2)})
    with pytest.raises(ValueError):
        acc.update({"b": torch.zeros(2)})
