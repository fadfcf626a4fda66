"""Batches of normalised ``(L, ab)`` float32 tensors from prepared (memory-mapped) arrays.

The order and the flips of an epoch depend only on ``(seed, epoch)``: a ``torch.Generator`` is
seeded from them at the start of every epoch, so a run resumed at epoch ``e`` sees exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from colorbench.errors import ColorbenchError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator seeded from (seed, epoch) through ``np.random.SeedSequence`` (no collisions
    between e.g. (1, 0) and (0, 1), unlike ``seed + epoch``)."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class BatchLoader:
    """Iterate over ``(l, ab)`` batches of the arrays ``l`` (N, 1, S, S) and ``ab`` (N, 2, S, S).

    ``shuffle``: a seeded permutation per epoch; ``flip``: each image is mirrored left-right with
    probability 1/2 (same generator); ``drop_last``: leave out a final short batch. Train uses
    ``shuffle=True, flip=True, drop_last=True``; val ``shuffle=False, flip=False, drop_last=False``.
    Rows are read from the memory map in ascending order (sequential disk access), then put in
    the shuffled order; flips are applied to the whole batch at once.
    """

    def __init__(
        self,
        l,
        ab,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        flip: bool,
        drop_last: bool,
        device: str | torch.device = "cpu",
    ):
        if len(l) != len(ab):
            raise ValueError(f"l has {len(l)} images but ab has {len(ab)}")
        if (
            tuple(l.shape[1:2]) != (1,)
            or tuple(ab.shape[1:2]) != (2,)
            or tuple(l.shape[2:]) != tuple(ab.shape[2:])
        ):
            raise ValueError(
                f"expected l (N, 1, H, W) and ab (N, 2, H, W); got {tuple(l.shape)} and {tuple(ab.shape)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ColorbenchError(f"batch size must be a positive integer, got {batch_size!r}")
        if drop_last and len(l) < batch_size:
            raise ColorbenchError(
                f"only {len(l)} images for batches of {batch_size} with the last partial batch dropped: "
                "no batch at all; use a smaller batch size or more images"
            )
        self.l, self.ab = l, ab
        self.batch_size = batch_size
        self.shuffle, self.flip, self.drop_last = shuffle, flip, drop_last
        self.seed = seed
        self.device = torch.device(device)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.l)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(order, flip mask) for the current epoch: image indices and per-position flips."""
        n = len(self.l)
        generator = epoch_generator(self.seed, self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        flips = torch.rand(n, generator=generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        return order, flips

    def _gather(self, array, indices: torch.Tensor) -> torch.Tensor:
        if isinstance(array, torch.Tensor):
            return array[indices].float()
        ascending, position = torch.sort(indices)
        rows = torch.from_numpy(np.asarray(array[ascending.numpy()])).float()
        out = torch.empty_like(rows)
        out[position] = rows  # rows[k] belongs where indices[position[k]] came from
        return out

    def __iter__(self):
        order, flips = self.epoch_plan()
        for b in range(len(self)):
            indices = order[b * self.batch_size : (b + 1) * self.batch_size]
            l_batch = self._gather(self.l, indices)
            ab_batch = self._gather(self.ab, indices)
            mask = flips[b * self.batch_size : (b + 1) * self.batch_size]
            if mask.any():
                mask4 = mask.view(-1, 1, 1, 1)
                l_batch = torch.where(mask4, l_batch.flip(-1), l_batch)
                ab_batch = torch.where(mask4, ab_batch.flip(-1), ab_batch)
            yield l_batch.to(self.device), ab_batch.to(self.device)
