"""What the C2ST critic sees of an image: colour given lightness, summarised per photo.

Both feature sets look only at how a photo's colour (a*, b*) sits on its lightness (L*): a
colorized photo carries its real photo's L*, so anything that L* alone could tell is the same on
both sides and only wastes the critic's capacity. Images are first rounded to 8-bit sRGB codes
(as :func:`to_lab8` does), so that a float output and a decoded file cannot be told apart by
quantisation alone.

``colour-given-L`` (default, :data:`COLOUR_GIVEN_L_NAMES`, 23 numbers):

* per L* band (0-25, 25-50, 50-75, 75-100): mean a*, mean b*, log(1 + mean chroma) -- is the
  colour right for how bright the region is (blue bright sky, dark foliage, skin mid-tones);
* the hue mix: chroma-weighted share of each of 6 hue sectors of 60 degrees;
* log(1 + chroma quantiles) 50, 90, 99% -- how saturated, and how saturated at the extreme;
* log(1 + mean |grad ab|) and the correlation of |grad ab| with |grad L*| over the pixels --
  whether colour changes where lightness changes (colour bleeding, blotches and ab noise fail it).

``ab-histogram`` (:func:`ab_histogram`, 147 numbers): the square root of each photo's share of
pixels in a 7 x 7 grid of (a*, b*) cells 20 units wide (edges clamped), per L* third.
"""

from __future__ import annotations

import math

import torch

from colorbench.color import rgb8_to_lab

L_BANDS = (25.0, 50.0, 75.0)  # inner edges of the colour-given-L bands, in L* units
HUE_SECTORS = 6
CHROMA_QUANTILES = (0.5, 0.9, 0.99)
HIST_L_BANDS = (100.0 / 3, 200.0 / 3)
HIST_CELLS = 7
HIST_CELL_WIDTH = 20.0  # a*, b* units: the grid spans [-70, 70]


def _names() -> tuple[str, ...]:
    bands = [f"L{lo:.0f}-{hi:.0f}" for lo, hi in zip((0.0, *L_BANDS), (*L_BANDS, 100.0), strict=True)]
    names = [f"{band}:{stat}" for band in bands for stat in ("mean_a", "mean_b", "log_mean_chroma")]
    names += [f"hue{k * 360 // HUE_SECTORS}:share" for k in range(HUE_SECTORS)]
    names += [f"chroma_q{round(q * 100)}:log" for q in CHROMA_QUANTILES]
    names += ["grad_ab:log_mean", "grad_ab~grad_L:corr"]
    return tuple(names)


COLOUR_GIVEN_L_NAMES = _names()
FEATURE_SETS = ("colour-given-L", "ab-histogram")


def to_lab8(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 or float in [0, 1] -> L*a*b* (N, 3, H, W) float32, via 8-bit codes."""
    if images.dtype != torch.uint8:
        images = images.to(torch.float32).clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
    return rgb8_to_lab(images.permute(0, 3, 1, 2).contiguous())


def _gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H-1, W-1): forward differences over both axes and all channels."""
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.square() + dy.square()).sum(dim=1).sqrt()


def _pixel_correlation(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image over pixels; 0 where either side is constant (a gray image)."""
    u = u.flatten(1) - u.flatten(1).mean(dim=1, keepdim=True)
    v = v.flatten(1) - v.flatten(1).mean(dim=1, keepdim=True)
    norm = u.square().sum(dim=1).sqrt() * v.square().sum(dim=1).sqrt()
    return torch.where(norm > 1e-6, (u * v).sum(dim=1) / norm.clamp(min=1e-6), torch.zeros_like(norm))


def colour_given_l(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* (N, 3, H, W) -> (N, 23) float64, in the order of :data:`COLOUR_GIVEN_L_NAMES`."""
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = torch.hypot(a, b)
    n = lab.shape[0]
    band = torch.bucketize(lightness, torch.tensor(L_BANDS, dtype=lab.dtype)).flatten(1)
    bands = len(L_BANDS) + 1
    # An empty band (no pixel that dark or bright) reads 0 on both sides of a pair.
    counts = torch.zeros(n, bands, dtype=lab.dtype).scatter_add_(
        1, band, torch.ones_like(lightness).flatten(1)
    )
    counts = counts.clamp(min=1.0)

    def band_mean(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, bands, dtype=lab.dtype).scatter_add_(1, band, x.flatten(1)) / counts

    per_band = torch.stack((band_mean(a), band_mean(b), band_mean(chroma).log1p()), dim=2)  # (N, 4, 3)

    sector = ((torch.atan2(b, a) + math.pi) / (2 * math.pi) * HUE_SECTORS).long().clamp(max=HUE_SECTORS - 1)
    weighted = torch.zeros(n, HUE_SECTORS, dtype=lab.dtype).scatter_add_(
        1, sector.flatten(1), chroma.flatten(1)
    )
    hue_share = weighted / weighted.sum(dim=1, keepdim=True).clamp(min=1e-6)

    quantiles = torch.quantile(chroma.flatten(1), torch.tensor(CHROMA_QUANTILES, dtype=lab.dtype), dim=1).T

    grad_ab = _gradient_magnitude(lab[:, 1:])
    grad_l = _gradient_magnitude(lab[:, :1])
    spatial = torch.stack(
        (grad_ab.flatten(1).mean(dim=1).log1p(), _pixel_correlation(grad_ab, grad_l)), dim=1
    )
    return torch.cat((per_band.flatten(1), hue_share, quantiles.log1p(), spatial), dim=1).double()


def ab_histogram(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* (N, 3, H, W) -> (N, 3 * 7 * 7) float64: sqrt of the pixel share per (L* third, a*, b*) cell."""
    n = lab.shape[0]
    band = torch.bucketize(lab[:, 0], torch.tensor(HIST_L_BANDS, dtype=lab.dtype))
    half = HIST_CELLS * HIST_CELL_WIDTH / 2
    cell_a, cell_b = (
        ((lab[:, c] + half) / HIST_CELL_WIDTH).floor().long().clamp(0, HIST_CELLS - 1) for c in (1, 2)
    )
    index = (band * HIST_CELLS + cell_a) * HIST_CELLS + cell_b
    bins = (len(HIST_L_BANDS) + 1) * HIST_CELLS * HIST_CELLS
    counts = torch.zeros(n, bins, dtype=torch.float64)
    counts.scatter_add_(1, index.flatten(1), torch.ones(index.flatten(1).shape, dtype=torch.float64))
    return (counts / index[0].numel()).sqrt()


CHUNK_PIXELS = 1 << 19  # pixels per batch of images: bounds memory (~100 MB of temporaries) at any size


def extract(images: torch.Tensor, feature_set: str) -> torch.Tensor:
    """(N, H, W, 3) images -> (N, D) float64 features, in batches of about CHUNK_PIXELS pixels."""
    function = {"colour-given-L": colour_given_l, "ab-histogram": ab_histogram}[feature_set]
    chunk = max(1, CHUNK_PIXELS // (images.shape[1] * images.shape[2]))
    return torch.cat([function(to_lab8(images[i : i + chunk])) for i in range(0, len(images), chunk)])
