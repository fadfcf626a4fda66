"""sRGB <-> CIE L*a*b* (D65, 2 degree observer) in torch, and the field's normalisation.

Shape contract (as kornia's ``color`` module): every transform takes and returns tensors of
shape ``(..., 3, H, W)`` -- any number of leading batch dimensions, the channel dimension third
from the end. sRGB is in [0, 1]; L* in [0, 100]; a*, b* in CIE units (roughly [-110, 110]).

The constants and the piecewise functions follow ``skimage.color.rgb2lab`` / ``lab2rgb`` exactly
(including its 0.008856 / 7.787 linear segment and its clipping of out-of-gamut results), so that
numbers computed here agree with scikit-image to 1e-3 and papers that use either can be compared.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

# sRGB (linear) -> XYZ, the matrix scikit-image uses (IEC 61966-2-1 primaries, D65).
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# Its inverse, computed once in float64 (as scikit-image does with linalg.inv).
_RGB_FROM_XYZ = tuple(map(tuple, np.linalg.inv(np.array(_XYZ_FROM_RGB)).tolist()))
# D65 reference white for the 2 degree observer (scikit-image's default illuminant).
_WHITE_D65 = (0.95047, 1.0, 1.08883)

# CIE constants in the form scikit-image uses them.
_LAB_EPSILON = 0.008856  # (6/29)^3, rounded as in scikit-image
_LAB_KAPPA_SLOPE = 7.787  # slope of the linear segment of f(t)
_LAB_OFFSET = 16.0 / 116.0
_LAB_INV_THRESHOLD = 0.2068966  # 6/29: where f^-1 switches segment
_LAB_FROM_F = ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0))
_LAB_SHIFT = (-16.0, 0.0, 0.0)

# The field's normalisation into [-1, 1] (pix2pix colorization, Zhang et al.): L/50 - 1, ab/110.
L_SCALE = 50.0
L_SHIFT = 1.0
AB_SCALE = 110.0


def _check_image(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (..., 3, H, W); got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got {x.dtype}")


def _matrix(rows, like: torch.Tensor) -> torch.Tensor:
    return _constant(rows, like.dtype, like.device)


@functools.lru_cache(maxsize=64)
def _constant(rows, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Cached per dtype and device: building it on every call costs a host-to-device copy on a GPU.
    return torch.tensor(rows, dtype=dtype, device=device)


def _apply_matrix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # x: (..., 3, H, W); out[..., i, h, w] = sum_j m[i, j] x[..., j, h, w]
    return torch.einsum("ij,...jhw->...ihw", m, x)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer function (values in [0, 1])."""
    _check_image(rgb, "rgb")
    high = torch.pow((rgb.clamp(min=0.04045) + 0.055) / 1.055, 2.4)
    return torch.where(rgb > 0.04045, high, rgb / 12.92)


@functools.lru_cache(maxsize=16)
def _srgb8_to_linear_table(device: torch.device) -> torch.Tensor:
    # The 256 possible 8-bit codes, decoded by srgb_to_linear itself (same float32 arithmetic as
    # the float path), so the lookup returns those very values: one gather instead of a pow per pixel.
    codes = torch.arange(256, dtype=torch.float32, device=device).div_(255.0)
    return srgb_to_linear(codes.repeat(3, 1, 1))[0, 0].contiguous()


def srgb8_to_linear(rgb8: torch.Tensor) -> torch.Tensor:
    """8-bit sRGB codes (uint8, shape (..., 3, H, W)) to linear RGB in [0, 1], float32.

    Equal to ``srgb_to_linear(rgb8.float() / 255)``, by a 256-entry lookup table.
    """
    if not isinstance(rgb8, torch.Tensor):
        raise TypeError(f"rgb8 must be a torch.Tensor, got {type(rgb8).__name__}")
    if rgb8.dtype != torch.uint8:
        raise ValueError(f"rgb8 must be a uint8 tensor; got {rgb8.dtype}")
    if rgb8.dim() < 3 or rgb8.shape[-3] != 3:
        raise ValueError(f"rgb8 must have shape (..., 3, H, W); got {tuple(rgb8.shape)}")
    table = _srgb8_to_linear_table(rgb8.device)
    return table.index_select(0, rgb8.reshape(-1).int()).view(rgb8.shape)


def linear_to_srgb(rgb: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer function; does not clip."""
    _check_image(rgb, "rgb")
    high = 1.055 * torch.pow(rgb.clamp(min=0.0031308), 1.0 / 2.4) - 0.055
    return torch.where(rgb > 0.0031308, high, rgb * 12.92)


def rgb_to_xyz(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] to CIE XYZ (D65)."""
    return _apply_matrix(_matrix(_XYZ_FROM_RGB, rgb), srgb_to_linear(rgb))


def rgb8_to_xyz(rgb8: torch.Tensor) -> torch.Tensor:
    """8-bit sRGB (uint8, (..., 3, H, W)) to CIE XYZ (D65), float32."""
    linear = srgb8_to_linear(rgb8)
    return _apply_matrix(_matrix(_XYZ_FROM_RGB, linear), linear)


def xyz_to_rgb(xyz: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D65) to sRGB, clipped to [0, 1] as scikit-image does."""
    _check_image(xyz, "xyz")
    return linear_to_srgb(_apply_matrix(_matrix(_RGB_FROM_XYZ, xyz), xyz)).clamp(0.0, 1.0)


def xyz_to_lab(xyz: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D65) to L*a*b*."""
    _check_image(xyz, "xyz")
    t = xyz / _matrix(_WHITE_D65, xyz).view(3, 1, 1)
    f = torch.where(
        t > _LAB_EPSILON,
        t.clamp(min=_LAB_EPSILON).pow_(1.0 / 3.0),
        t.mul(_LAB_KAPPA_SLOPE).add_(_LAB_OFFSET),
    )
    # L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz): one matrix product, one pass.
    return _apply_matrix(_matrix(_LAB_FROM_F, f), f).add_(_matrix(_LAB_SHIFT, f).view(3, 1, 1))


def lab_to_xyz(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* to CIE XYZ (D65). Negative z (impossible colours) is set to 0 as in scikit-image."""
    _check_image(lab, "lab")
    lightness, a, b = lab.unbind(dim=-3)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = (fy - b / 200.0).clamp(min=0.0)
    f = torch.stack((fx, fy, fz), dim=-3)
    t = torch.where(
        f > _LAB_INV_THRESHOLD,
        torch.pow(f, 3.0),
        (f - _LAB_OFFSET) / _LAB_KAPPA_SLOPE,
    )
    return t * _matrix(_WHITE_D65, lab).view(3, 1, 1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (..., 3, H, W), to L*a*b* (L in [0, 100], a/b in CIE units)."""
    return xyz_to_lab(rgb_to_xyz(rgb))


def rgb8_to_lab(rgb8: torch.Tensor) -> torch.Tensor:
    """8-bit sRGB (uint8, shape (..., 3, H, W)), as decoded image files hold it, to L*a*b* float32.

    Equal to ``rgb_to_lab(rgb8.float() / 255)``; the sRGB decoding is a table lookup, which makes
    preparing a data set about 3x faster than evaluating ``pow`` per pixel.
    """
    return xyz_to_lab(rgb8_to_xyz(rgb8))


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b*, shape (..., 3, H, W), to sRGB in [0, 1].

    Out-of-gamut colours (as a generator may predict) are clipped to [0, 1] the way scikit-image
    does; the result never holds NaN.
    """
    return xyz_to_rgb(lab_to_xyz(lab))


# --------------------------------------------------------------------------- normalisation
def _check_channels(x: torch.Tensor, name: str, channels: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 3 or x.shape[-3] != channels:
        raise ValueError(f"{name} must have shape (..., {channels}, H, W); got {tuple(x.shape)}")


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L* in [0, 100] -> [-1, 1]."""
    return lightness / L_SCALE - L_SHIFT


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> L* in [0, 100]."""
    return (l_norm + L_SHIFT) * L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """a*, b* in CIE units -> roughly [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    """Normalised ab -> a*, b* in CIE units."""
    return ab_norm * AB_SCALE


def normalize_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L*a*b* (..., 3, H, W) -> (L, ab) normalised, shapes (..., 1, H, W) and (..., 2, H, W)."""
    _check_image(lab, "lab")
    return normalize_l(lab[..., :1, :, :]), normalize_ab(lab[..., 1:, :, :])


def denormalize_lab(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Normalised (L, ab) -> L*a*b* (..., 3, H, W)."""
    _check_channels(l_norm, "L", 1)
    _check_channels(ab_norm, "ab", 2)
    return torch.cat((denormalize_l(l_norm), denormalize_ab(ab_norm)), dim=-3)


def normalized_to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Normalised (L, ab) -> sRGB in [0, 1]; what every metric and image grid uses."""
    return lab_to_rgb(denormalize_lab(l_norm.float(), ab_norm.float()))
