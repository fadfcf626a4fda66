"""Generators, the PatchGAN discriminator, weight init, and the plugin contract and registry.

Importing this package is light: the registry imports a generator's module only when that
generator is asked for, so listing never imports a plugin's heavy dependencies (e.g. timm).
"""

from colorbench.models.contract import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    GeneratorPlugin,
    InfeasibleVariantError,
    Option,
    PluginContractError,
    UnknownOptionError,
    UnknownVariantError,
    Variant,
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
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "INIT_SCHEMES",
    "BrokenGeneratorError",
    "GeneratorPlugin",
    "InfeasibleVariantError",
    "Option",
    "PatchDiscriminator",
    "PluginContractError",
    "PluginInfo",
    "UnknownGeneratorError",
    "UnknownOptionError",
    "UnknownVariantError",
    "Variant",
    "get_generator",
    "init_weights",
    "list_plugins",
    "plugin_info",
    "plugin_version",
    "refresh",
]
