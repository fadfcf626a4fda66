"""PatchGAN discriminator (pix2pix's ``NLayerDiscriminator``, 70x70 receptive field at n_layers=3).

Input is the pair (L, ab) concatenated: 3 channels. Convolutions 64 -> 128 -> 256 -> 512 with
k4 and strides 2, 2, 2, 1, then a k4 s1 convolution to 1 channel of logits (BCE-with-logits or
MSE is applied by the loss, not here). BatchNorm everywhere except after the first and the last
convolution, which therefore keep their bias. On 256 px the output is 30x30 patch logits; the
parameter count on 3 input channels is 2,765,633.
"""

from __future__ import annotations

import torch
from torch import nn

LEAKY_SLOPE = 0.2
MAX_WIDTH_MULT = 8


def _layer(c_in: int, c_out: int, stride: int, norm: bool = True, act: bool = True) -> list[nn.Module]:
    # No bias before BatchNorm: the norm's mean subtraction would cancel it.
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size=4, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    if act:
        layers.append(nn.LeakyReLU(LEAKY_SLOPE, True))
    return layers


class PatchDiscriminator(nn.Module):
    """(N, in_channels, H, W) -> (N, 1, H', W') patch logits (30x30 on 256 px with the defaults)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        widths = [ndf * min(2**i, MAX_WIDTH_MULT) for i in range(n_layers + 1)]
        layers = _layer(in_channels, widths[0], stride=2, norm=False)
        for i in range(1, n_layers + 1):
            # The last of these keeps stride 1: that is what gives the 70x70 receptive field.
            layers += _layer(widths[i - 1], widths[i], stride=2 if i < n_layers else 1)
        layers += _layer(widths[-1], 1, stride=1, norm=False, act=False)
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
