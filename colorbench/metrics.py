"""Colorization metrics on batches in the harness's normalised units, all in torch.

The formulas behind the built-in metrics (declared, with their names, labels, units and
directions, in :mod:`colorbench.measures.builtin`). Inputs of
:func:`colorbench.measures.image_metrics`: ``l_norm`` (N, 1, H, W) in [-1, 1] and ``ab_pred`` /
``ab_true`` (N, 2, H, W) as ab / AB_SCALE (see :mod:`colorbench.color`). Every metric returns one value per
image, shape (N,), on the input's device; :class:`MeanAccumulator` averages them over a split
with a single host transfer at the end.

Two representations, one rule:

* L*a*b* metrics (``l1_ab``, ``ciede2000``, ``auc``) use the prediction as the model emits it:
  the input L with the predicted ab, no gamut clipping.
* sRGB metrics (``psnr``, ``ssim``, ``colorfulness_*``, ``dcf``) use the image a viewer sees:
  :func:`colorbench.color.normalized_to_rgb`, i.e. sRGB in [0, 1] clipped like scikit-image.

Variants (also in each declaration's ``variant``): PSNR with data_range 1 on [0, 1] RGB, capped at
``PSNR_CAP_DB`` so that a pixel-exact image does not turn a split mean into inf; SSIM with an
11x11 gaussian window, sigma 1.5 (torchmetrics' map), averaged over the valid region as
scikit-image does; CIEDE2000 with kL = kC = kH = 1 (Sharma et al. 2005); colorfulness of Hasler
and Suesstrunk (2003) on 0-255 RGB with signed rg / yb and population std; AuC of Zhang et al.
(2016) as the mean over the 151 integer thresholds 0..150.

LPIPS and FID are not computed: both need pretrained network weights, which this harness does
not download.
"""

from __future__ import annotations

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

PSNR_CAP_DB = 100.0  # = an MSE floor of 1e-10 on [0, 1] data
AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016: thresholds 0, 1, ..., 150 in a*b* units
SSIM_KERNEL = 11


def _check(x: torch.Tensor, name: str, channels: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (N, {channels}, H, W); got {tuple(x.shape)}")


def _check_pair(pred: torch.Tensor, true: torch.Tensor, names: str, channels: int) -> None:
    a, b = names.split(",")
    _check(pred, a, channels)
    _check(true, b, channels)
    if pred.shape != true.shape:
        raise ValueError(f"{a} and {b} differ in shape: {tuple(pred.shape)} vs {tuple(true.shape)}")


def l1_ab(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
    """Mean absolute ab error per image, in normalised units (ab / AB_SCALE); (N, 2, H, W) -> (N,)."""
    _check_pair(ab_pred, ab_true, "ab_pred,ab_true", 2)
    return (ab_pred - ab_true).abs().flatten(1).mean(dim=1)


def psnr(rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
    """PSNR per image in dB of sRGB in [0, 1] (data_range 1); (N, 3, H, W) -> (N,).

    Capped at PSNR_CAP_DB: identical images would otherwise give inf (an MSE of 0).
    """
    _check_pair(rgb_pred, rgb_true, "rgb_pred,rgb_true", 3)
    values = peak_signal_noise_ratio(rgb_pred, rgb_true, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return values.clamp(max=PSNR_CAP_DB)


def ssim(rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
    """SSIM per image of sRGB in [0, 1]: gaussian 11x11 window, sigma 1.5, data_range 1; -> (N,).

    The SSIM map comes from torchmetrics; its mean is taken over the valid region only (the
    5 px border, where the window would reach past the image, is dropped), as in Wang et al.'s
    reference code and ``skimage.metrics.structural_similarity``. torchmetrics' own mean also
    averages the reflect-padded border, which on 64 px images moves SSIM by about 0.01.
    """
    _check_pair(rgb_pred, rgb_true, "rgb_pred,rgb_true", 3)
    if min(rgb_pred.shape[-2:]) <= SSIM_KERNEL:
        raise ValueError(f"SSIM needs images larger than {SSIM_KERNEL} px; got {tuple(rgb_pred.shape)}")
    _, ssim_map = structural_similarity_index_measure(
        rgb_pred,
        rgb_true,
        gaussian_kernel=True,
        sigma=1.5,
        kernel_size=SSIM_KERNEL,
        data_range=1.0,
        reduction="none",
        return_full_image=True,
    )
    pad = (SSIM_KERNEL - 1) // 2
    return ssim_map[..., pad:-pad, pad:-pad].flatten(1).mean(dim=1)


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel, kL = kC = kH = 1; (..., 3, H, W) x 2 -> (..., H, W).

    The formula of Sharma, Wu and Dalal (2005), written like ``skimage.color.deltaE_ciede2000``
    (hue angles in radians in [0, 2 pi); hue difference and mean hue take the short way round
    the circle; a pixel with zero chroma has no hue, so dH = 0 and the mean hue is h1 + h2).
    Computed in the inputs' floating dtype (at least float32).
    """
    if lab1.shape != lab2.shape or lab1.dim() < 3 or lab1.shape[-3] != 3:
        raise ValueError(
            f"lab1, lab2 must share shape (..., 3, H, W); got {tuple(lab1.shape)}, {tuple(lab2.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(lab1.dtype, lab2.dtype), torch.float32)
    L1, a1, b1 = lab1.to(dtype).unbind(dim=-3)
    L2, a2, b2 = lab2.to(dtype).unbind(dim=-3)
    two_pi = 2.0 * math.pi
    pow25_7 = 25.0**7

    # a* is stretched by (1 + G) so that near-neutral colours get a fairer hue (the "prime" values).
    c_mean = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    c7 = c_mean**7
    scale = 1.0 + 0.5 * (1.0 - torch.sqrt(c7 / (c7 + pow25_7)))
    a1p, a2p = a1 * scale, a2 * scale
    C1, C2 = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1 = torch.remainder(torch.atan2(b1, a1p), two_pi)
    h2 = torch.remainder(torch.atan2(b2, a2p), two_pi)

    l_mean_50 = (0.5 * (L1 + L2) - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_mean_50 / torch.sqrt(20.0 + l_mean_50)
    l_term = (L2 - L1) / s_l

    cp_mean = 0.5 * (C1 + C2)
    c_term = (C2 - C1) / (1.0 + 0.045 * cp_mean)

    h_diff = h2 - h1
    h_sum = h1 + h2
    cc = C1 * C2
    chromatic = cc != 0.0
    wraps = h_diff.abs() > math.pi
    d_h = torch.where(h_diff > math.pi, h_diff - two_pi, h_diff)
    d_h = torch.where(h_diff < -math.pi, h_diff + two_pi, d_h)
    d_h = torch.where(chromatic, d_h, torch.zeros_like(d_h))
    dh_term = 2.0 * torch.sqrt(cc) * torch.sin(0.5 * d_h)
    h_mean = torch.where(h_sum < two_pi, h_sum + two_pi, h_sum - two_pi)
    h_mean = torch.where(chromatic & wraps, 0.5 * h_mean, 0.5 * h_sum)
    # Achromatic pair: Sharma's h1 + h2, not halved. Kept for fidelity only: with C1 C2 = 0 the hue
    # term, and with it every use of h_mean, is 0.
    h_mean = torch.where(chromatic, h_mean, h_sum)

    t = (
        1.0
        - 0.17 * torch.cos(h_mean - math.radians(30.0))
        + 0.24 * torch.cos(2.0 * h_mean)
        + 0.32 * torch.cos(3.0 * h_mean + math.radians(6.0))
        - 0.20 * torch.cos(4.0 * h_mean - math.radians(63.0))
    )
    h_term = dh_term / (1.0 + 0.015 * cp_mean * t)

    cp7 = cp_mean**7
    r_c = 2.0 * torch.sqrt(cp7 / (cp7 + pow25_7))
    d_theta = math.radians(30.0) * torch.exp(-(((torch.rad2deg(h_mean) - 275.0) / 25.0) ** 2))
    r_term = -torch.sin(2.0 * d_theta) * r_c * c_term * h_term

    de2 = l_term**2 + c_term**2 + h_term**2 + r_term
    return torch.sqrt(de2.clamp(min=0.0))  # rounding can make de2 a hair negative


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler and Suesstrunk (2003) colorfulness per image; sRGB [0, 1] (N, 3, H, W) -> (N,).

    Variant: on 0-255 RGB, signed opponents rg = R - G and yb = 0.5 (R + G) - B (no abs),
    population std (ddof 0): CF = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2).
    """
    _check(rgb, "rgb", 3)
    r, g, b = (rgb.float() * 255.0).flatten(2).unbind(dim=1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = torch.sqrt(rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0))
    offset = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return spread + 0.3 * offset


def auc(ab_pred: torch.Tensor, ab_true: torch.Tensor, max_threshold: int = AUC_MAX_THRESHOLD) -> torch.Tensor:
    """Zhang et al. (2016) AuC per image; ab in CIE units (not normalised), (N, 2, H, W) -> (N,).

    Per pixel e = ||ab_pred - ab_true||_2. The curve is the share of pixels with e <= t for the
    integer thresholds t = 0, 1, ..., max_threshold; AuC is the plain mean of the curve over those
    max_threshold + 1 points (a left Riemann sum, not a trapezoid), so it lies in [0, 1] and is 1
    exactly for a perfect prediction. A pixel counts for the thresholds ceil(e)..max_threshold,
    i.e. max(0, max_threshold + 1 - ceil(e)) of them, which avoids a (thresholds x pixels) tensor.
    """
    _check_pair(ab_pred, ab_true, "ab_pred,ab_true", 2)
    err = torch.linalg.vector_norm((ab_pred - ab_true).float(), dim=1).flatten(1)
    n_thresholds = max_threshold + 1
    hits = (n_thresholds - torch.ceil(err)).clamp(min=0.0, max=n_thresholds)
    return hits.mean(dim=1) / n_thresholds


class MeanAccumulator:
    """Running means of named values, each weighted by the number of items it stands for.

    The one accumulator of the harness. ``update`` takes either per-item values (1-D tensors of one
    length n: an image's metric, weight n) or scalar batch means (0-d tensors, with ``weight`` = the
    batch size: the study's epoch losses are means over batches weighted by batch size). Sums stay
    on the values' device in float64 (float32 on MPS, which has no float64) and reach the host once,
    in :meth:`compute`, so a training step never waits on the device.
    """

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self.count = 0  # items seen; a python int, known without touching the device

    def update(self, values: dict[str, torch.Tensor], weight: int | None = None) -> None:
        if not values:
            raise ValueError("update() needs at least one value")
        shapes = {name: tuple(v.shape) for name, v in values.items()}
        scalar = all(len(s) == 0 for s in shapes.values())
        if scalar:
            if weight is None or weight < 1:
                raise ValueError("scalar (batch mean) values need a positive weight")
            n = weight
        elif all(len(s) == 1 for s in shapes.values()) and len({s[0] for s in shapes.values()}) == 1:
            n = next(iter(shapes.values()))[0]
            if weight is not None and weight != n:
                raise ValueError(f"weight {weight} differs from the {n} per-item values")
        else:
            raise ValueError(
                f"values must be all 0-d or all 1-D per-item tensors of one length; got {shapes}"
            )
        if self._sums and set(values) != set(self._sums):
            raise ValueError(f"value names changed: {sorted(values)} vs {sorted(self._sums)}")
        for name, v in values.items():
            acc_dtype = torch.float32 if v.device.type == "mps" else torch.float64
            v = v.detach().to(acc_dtype)
            total = v * n if scalar else v.sum()
            self._sums[name] = self._sums[name] + total if name in self._sums else total
        self.count += n

    def all_finite(self) -> bool:
        if not self._sums:
            return True
        return bool(torch.isfinite(torch.stack(list(self._sums.values()))).all())

    def compute(self) -> dict[str, float]:
        """Mean of each value over every item seen, as python floats (one host transfer)."""
        if self.count == 0:
            raise ValueError("nothing accumulated")
        names = list(self._sums)
        sums = torch.stack([self._sums[n] for n in names]).cpu().tolist()
        return {n: s / self.count for n, s in zip(names, sums, strict=True)}
