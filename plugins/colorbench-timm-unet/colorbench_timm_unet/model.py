"""The network: timm ``features_only`` encoder on L, U-Net decoder, Tanh to 2 ab channels."""

from __future__ import annotations

from collections.abc import Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


class DecoderBlock(nn.Module):
    """Upsample x2 (to the skip's size), concatenate the skip, two 3x3 conv-BN-ReLU."""

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(c_in + c_skip, c_out), *_conv_bn_relu(c_out, c_out))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: Sequence[int]) -> torch.Tensor:
        x = F.interpolate(x, size=tuple(size), mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.body(x)


class TimmUnet(nn.Module):
    """L (N, 1, H, W) in [-1, 1] -> ab (N, 2, H, W) in [-1, 1] (normalised units, Tanh)."""

    def __init__(
        self,
        encoder: str,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        weights_file: str | None = None,
    ) -> None:
        super().__init__()
        # pretrained_cfg_overlay(file=...) makes timm load that local file and nothing else; timm
        # also folds the RGB stem weights into the single input channel (in_chans=1).
        kwargs = {"pretrained_cfg_overlay": {"file": weights_file}} if weights_file else {}
        self.encoder = timm.create_model(
            encoder, features_only=True, in_chans=1, pretrained=weights_file is not None, **kwargs
        )
        skips = list(self.encoder.feature_info.channels())  # shallow -> deep
        if len(decoder_channels) != len(skips):
            raise ValueError(f"{encoder} gives {len(skips)} feature maps; need as many decoder widths")
        blocks, c_in = [], skips[-1]
        # One block per shallower skip, then a last one at full resolution without a skip.
        for c_skip, c_out in zip([*reversed(skips[:-1]), 0], decoder_channels, strict=True):
            blocks.append(DecoderBlock(c_in, c_skip, c_out))
            c_in = c_out
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Conv2d(c_in, 2, 3, padding=1), nn.Tanh())

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        features = self.encoder(L)
        x = features[-1]
        skips = [*reversed(features[:-1]), None]
        for block, skip in zip(self.decoder, skips, strict=True):
            size = L.shape[-2:] if skip is None else skip.shape[-2:]
            x = block(x, skip, size)
        return self.head(x)
