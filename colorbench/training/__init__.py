"""Training and evaluation protocol: one run = a generator variant + hyper-parameters + a seed."""

from colorbench.training.config import RunConfig, config_hash, resolve_config
from colorbench.training.presets import PRESETS, preset_config

__all__ = ["RunConfig", "config_hash", "resolve_config", "PRESETS", "preset_config", "train_run"]


def __getattr__(name: str):
    # The trainer pulls in data and models; importing it lazily keeps `colorbench --help` fast.
    if name == "train_run":
        from colorbench.training.trainer import train_run

        return train_run
    raise AttributeError(name)
