"""The pix2pix objective (Isola et al.) exactly as the study's reference code computes it.

D sees (L, ab) pairs. loss_D = 0.5 * (GAN(D(L, G(L)), fake) + GAN(D(L, ab), real));
loss_G = GAN(D(L, G(L)), real) + lambda_L1 * L1(G(L), ab). G's L1 loss is logged with lambda
already applied, as the study logs it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

from colorbench.measures import builtin

LOSS_NAMES = tuple(m.name for m in builtin.LOSSES)  # declared in colorbench.measures.builtin


class GANLoss(nn.Module):
    """``vanilla``: BCE with logits; ``lsgan``: mean squared error to 1 (real) / 0 (fake)."""

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode == "vanilla":
            self.criterion: nn.Module = nn.BCEWithLogitsLoss()
        elif mode == "lsgan":
            self.criterion = nn.MSELoss()
        else:
            raise ValueError(f"unknown GAN mode {mode!r}")
        self.mode = mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # losses in fp32 also under bf16 autocast
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return self.criterion(prediction, target)


def pix2pix_losses(
    generator: nn.Module,
    discriminator: nn.Module,
    gan_loss: GANLoss,
    l_norm: torch.Tensor,
    ab_true: torch.Tensor,
    lambda_l1: float,
    autocast: Callable[[], AbstractContextManager],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """All six losses for one batch, without gradients (validation). Returns (fake ab, losses)."""
    with torch.no_grad(), autocast():
        fake_ab = generator(l_norm)
        fake_pred = discriminator(torch.cat((l_norm, fake_ab), 1))
        real_pred = discriminator(torch.cat((l_norm, ab_true), 1))
    loss_d_fake = gan_loss(fake_pred, False)
    loss_d_real = gan_loss(real_pred, True)
    loss_g_gan = gan_loss(fake_pred, True)
    loss_g_l1 = nn.functional.l1_loss(fake_ab.float(), ab_true.float()) * lambda_l1
    return fake_ab, _as_dict(loss_d_fake, loss_d_real, loss_g_gan, loss_g_l1)


def pix2pix_train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    gan_loss: GANLoss,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    l_norm: torch.Tensor,
    ab_true: torch.Tensor,
    lambda_l1: float,
    autocast: Callable[[], AbstractContextManager],
) -> dict[str, torch.Tensor]:
    """One optimisation step of D then G, in the reference code's order. Losses stay on device."""
    with autocast():
        fake_ab = generator(l_norm)
    fake_pair = torch.cat((l_norm, fake_ab), 1)
    real_pair = torch.cat((l_norm, ab_true), 1)

    # Discriminator: fake pairs are detached so D's step does not reach G.
    discriminator.requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    with autocast():
        fake_pred = discriminator(fake_pair.detach())
        real_pred = discriminator(real_pair)
    loss_d_fake = gan_loss(fake_pred, False)
    loss_d_real = gan_loss(real_pred, True)
    loss_d = 0.5 * (loss_d_fake + loss_d_real)
    loss_d.backward()
    opt_d.step()

    # Generator: D frozen, scored again after D's update (as the reference code does).
    discriminator.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    with autocast():
        fake_pred = discriminator(fake_pair)
    loss_g_gan = gan_loss(fake_pred, True)
    loss_g_l1 = nn.functional.l1_loss(fake_ab.float(), ab_true) * lambda_l1
    loss_g = loss_g_gan + loss_g_l1
    loss_g.backward()
    opt_g.step()
    return _as_dict(loss_d_fake.detach(), loss_d_real.detach(), loss_g_gan.detach(), loss_g_l1.detach())


def _as_dict(d_fake, d_real, g_gan, g_l1) -> dict[str, torch.Tensor]:
    return {
        builtin.LOSS_D_FAKE.name: d_fake,
        builtin.LOSS_D_REAL.name: d_real,
        builtin.LOSS_D.name: 0.5 * (d_fake + d_real),
        builtin.LOSS_G_GAN.name: g_gan,
        builtin.LOSS_G_L1.name: g_l1,
        builtin.LOSS_G.name: g_gan + g_l1,
    }
