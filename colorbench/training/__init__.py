"""Training and evaluation protocol: one run = a generator variant + hyper-parameters + a seed.

``RunRequest`` (what a user asks) -> ``resolve_request`` -> ``RunSpec`` (what determines the
numbers, hashed) + ``RunOptions`` (how it executes) -> ``train_run``.
"""

from colorbench.training.presets import PRESETS, build_request, preset_request
from colorbench.training.spec import InvalidRunError, RunOptions, RunRequest, RunSpec, resolve_request

__all__ = [
    "PRESETS",
    "InvalidRunError",
    "RunOptions",
    "RunRequest",
    "RunSpec",
    "build_request",
    "preset_request",
    "resolve_request",
    "train_run",
]


def __getattr__(name: str):
    # The trainer pulls in torch, data and models; importing it lazily keeps `colorbench --help` fast.
    if name == "train_run":
        from colorbench.training.trainer import train_run

        return train_run
    raise AttributeError(name)
