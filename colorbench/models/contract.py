"""The public contract between colorbench and a colorizer (built-in or third-party).

An entry point in the group ``colorbench.generators`` resolves to one :class:`GeneratorPlugin`.
Everything the harness needs to know before building a network is plain data on that object
(name, description, variants, default), so ``colorbench list`` never builds a model.

The built module maps ``L`` of shape (N, 1, H, W) in [-1, 1] (``L/50 - 1``) to ``ab`` of shape
(N, 2, H, W) in the colour core's normalised units (``ab/110``), so that losses and metrics of
all generators are in the same units. See ``docs/plugins.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from colorbench.errors import ColorbenchError

if TYPE_CHECKING:  # torch is only needed by whoever builds a module, not to describe one
    import torch

ENTRY_POINT_GROUP = "colorbench.generators"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class PluginContractError(ColorbenchError):
    """A plugin object does not satisfy the :class:`GeneratorPlugin` contract."""


class UnknownVariantError(ColorbenchError):
    """A variant name that the generator does not declare."""


class InfeasibleVariantError(ColorbenchError):
    """A variant that cannot run at the requested image size (its check said why)."""


@dataclass(frozen=True)
class GeneratorPlugin:
    """What a ``colorbench.generators`` entry point resolves to.

    ``build(variant, image_size)`` returns an ``nn.Module`` mapping L (N,1,H,W) in [-1, 1] to
    ab (N,2,H,W) in normalised units; ``check(variant, image_size)`` returns ``None`` when the
    variant can run at that size, else one sentence saying why not. ``trainable=False`` marks a
    baseline that is evaluated without training; ``manages_init=True`` marks a generator whose
    weights are not re-initialised by the study's init factor (reported as "not applicable").
    """

    name: str
    description: str
    variants: Mapping[str, Mapping[str, Any]]
    default_variant: str
    build: Callable[[str, int], torch.nn.Module]
    check: Callable[[str, int], str | None]
    trainable: bool = True
    manages_init: bool = False
    variant_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = contract_problem(self)
        if problem is not None:
            raise PluginContractError(problem)

    def label(self, variant: str) -> str:
        """Human label of a variant for reports (e.g. ``n_down = 7``); the variant name if none."""
        return self.variant_labels.get(variant, variant)

    def resolve_variant(self, variant: str | None) -> str:
        """``None`` -> the default variant; an unknown name -> :class:`UnknownVariantError`."""
        if variant is None:
            return self.default_variant
        if variant not in self.variants:
            raise UnknownVariantError(
                f"generator {self.name!r} has no variant {variant!r}; variants: {', '.join(self.variants)}"
            )
        return variant

    def feasibility(self, variant: str | None, image_size: int) -> str | None:
        """The plugin's check for a (resolved) variant, plus the harness's own size sanity."""
        variant = self.resolve_variant(variant)
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
            return f"image size must be a positive integer number of pixels, got {image_size!r}"
        return self.check(variant, image_size)

    def create(self, variant: str | None = None, image_size: int = 256) -> torch.nn.Module:
        """Check, then build: the safe way for the harness to get a module."""
        variant = self.resolve_variant(variant)
        reason = self.feasibility(variant, image_size)
        if reason is not None:
            raise InfeasibleVariantError(f"{self.name} {variant} at {image_size} px: {reason}")
        return self.build(variant, image_size)


def contract_problem(obj: object) -> str | None:
    """``None`` if ``obj`` satisfies the contract, else one sentence naming the first problem.

    Used by the dataclass itself and again by the registry, which may be handed anything.
    """
    if not isinstance(obj, GeneratorPlugin):
        return f"resolves to {type(obj).__name__}, not a colorbench.models.GeneratorPlugin"
    if not isinstance(obj.name, str) or not _NAME.fullmatch(obj.name):
        return f"name must be letters, digits, '_', '-' or '.' (it names run directories), got {obj.name!r}"
    if not isinstance(obj.description, str) or not obj.description.strip() or "\n" in obj.description:
        return "description must be one non-empty line (what it is and which paper)"
    if not isinstance(obj.variants, Mapping) or not obj.variants:
        return "variants must be a non-empty mapping of variant name -> config"
    for key, config in obj.variants.items():
        if not isinstance(key, str) or not key:
            return f"variant names must be non-empty strings, got {key!r}"
        if not isinstance(config, Mapping):
            return f"variant {key!r} config must be a mapping, got {type(config).__name__}"
    if obj.default_variant not in obj.variants:
        known = ", ".join(obj.variants)
        return f"default variant {obj.default_variant!r} is not one of its variants ({known})"
    for attr in ("build", "check"):
        if not callable(getattr(obj, attr)):
            return f"{attr} must be callable"
    for attr in ("trainable", "manages_init"):
        if not isinstance(getattr(obj, attr), bool):
            return f"{attr} must be a bool"
    if not isinstance(obj.variant_labels, Mapping):
        return "variant_labels must be a mapping"
    extra = [k for k in obj.variant_labels if k not in obj.variants]
    if extra:
        return f"variant_labels names unknown variants: {', '.join(map(str, extra))}"
    return None
