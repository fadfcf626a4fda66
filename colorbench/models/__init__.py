"""Generators, the PatchGAN discriminator, weight init, and the plugin contract and registry.

Importing this package is light: the registry imports a generator's module only when that
generator is asked for, so listing never imports a plugin's heavy dependencies (e.g. timm).
"""

from colorbench.models.contract import (
    ENTRY_POINT_GROUP,
    GeneratorPlugin,
    InfeasibleVariantError,
    PluginContractError,
    UnknownVariantError,
)
from colorbench.models.discriminator import PatchDiscriminator
from colorbench.models.init import INIT_SCHEMES, init_weights
from colorbench.models.registry import (
    BrokenGeneratorError,
    PluginInfo,
    UnknownGeneratorError,
    get_generator,
    list_plugins,
    plugin_info,
    plugin_version,
    refresh,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "INIT_SCHEMES",
    "BrokenGeneratorError",
    "GeneratorPlugin",
    "InfeasibleVariantError",
    "PatchDiscriminator",
    "PluginContractError",
    "PluginInfo",
    "UnknownGeneratorError",
    "UnknownVariantError",
    "get_generator",
    "init_weights",
    "list_plugins",
    "plugin_info",
    "plugin_version",
    "refresh",
]
