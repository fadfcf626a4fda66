"""Generators, the PatchGAN discriminator, weight init, and the plugin contract and registry.

Importing this package is light: the contract and the registry are plain Python, torch is
imported only when something that needs it (the discriminator, weight init, the output check) is
first used, and the registry imports a generator's module only when that generator is asked for,
so ``colorbench --help`` never imports torch and listing never imports a plugin's heavy
dependencies (e.g. timm).
"""

from importlib import import_module

from colorbench.models.contract import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    GeneratorOutputError,
    GeneratorPlugin,
    InfeasibleVariantError,
    Option,
    PluginContractError,
    UnknownOptionError,
    UnknownVariantError,
    Variant,
)
from colorbench.models.registry import (
    BrokenGeneratorError,
    PluginInfo,
    UnknownGeneratorError,
    get_generator,
    list_plugins,
    plugin_info,
    plugin_version,
    refresh,
    usable_generators,
)

# Names that need torch, imported on first use (PEP 562): name -> module that defines it.
_NEEDS_TORCH = {
    "PatchDiscriminator": "colorbench.models.discriminator",
    "INIT_SCHEMES": "colorbench.models.init",
    "init_weights": "colorbench.models.init",
    "init_not_applicable_reason": "colorbench.models.init",
    "check_output": "colorbench.models.conformance",
}


def __getattr__(name: str):
    if name in _NEEDS_TORCH:
        return getattr(import_module(_NEEDS_TORCH[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "INIT_SCHEMES",
    "BrokenGeneratorError",
    "GeneratorOutputError",
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
    "check_output",
    "get_generator",
    "init_not_applicable_reason",
    "init_weights",
    "list_plugins",
    "plugin_info",
    "plugin_version",
    "refresh",
    "usable_generators",
]
