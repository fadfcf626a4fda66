"""The public contract between colorbench and a colorizer (built-in or third-party).

An entry point in the group ``colorbench.generators`` resolves to one :class:`GeneratorPlugin`.
Everything the harness needs to know before building a network is plain data on that object
(name, description, variants with their labels and depths, options, the default), so
``colorbench list`` and the study planner never build a model.

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
# The contract's version (major, minor). A plugin states the version it was written against
# (``api_version``, "1", "1.1", "1.2" or "1.3"); minor versions only add optional fields whose defaults keep
# the older behaviour, so any 1.x plugin runs on any 1.y colorbench; a major version breaks plugins.
API_VERSION = (1, 3)
API_VERSION_TEXT = ".".join(map(str, API_VERSION))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_OPTION_VALUE_TYPES = (bool, int, float, str)


class PluginContractError(ColorbenchError):
    """A plugin object does not satisfy the :class:`GeneratorPlugin` contract."""


class UnknownVariantError(ColorbenchError):
    """A variant name that the generator does not declare."""


class InfeasibleVariantError(ColorbenchError):
    """A variant that cannot run at the requested image size (its check said why)."""


class UnknownOptionError(ColorbenchError):
    """An option the generator does not declare, or a value outside its choices."""


class GeneratorOutputError(PluginContractError):
    """A built generator is not what the contract promises: ``build`` returned no ``nn.Module``, or
    its output for one batch has the wrong type, shape or units, or is not finite."""


@dataclass(frozen=True)
class Variant:
    """One named variant of a generator, as data.

    ``config``: what distinguishes it (recorded with every run, part of the run's identity);
    ``label``: its name in reports (``n_down = 7``); ``depth``: its position on the study's depth
    axis (any number that orders the variants from shallow to deep; ``None``: not a depth level,
    e.g. an encoder of another family); ``trainable`` / ``manages_init``: per-variant overrides
    of the plugin's flags (``None`` = the plugin's); ``files``: files the variant reads when built
    (e.g. its weights), whose *content* is part of every run's identity, so that replacing the
    file never reuses results computed with the old one.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    depth: float | None = None
    trainable: bool | None = None
    manages_init: bool | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Option:
    """A run-time choice of a generator that changes the numbers (hence part of a run's identity).

    Values are plain scalars; ``choices`` (if any) lists the allowed ones. ``own_weights``: when
    the option is set to a true value the network brings its own weights (e.g. pretrained), so the
    study's init factor does not apply to it.
    """

    default: bool | int | float | str
    choices: tuple = ()
    help: str = ""
    own_weights: bool = False


@dataclass(frozen=True)
class GeneratorPlugin:
    """What a ``colorbench.generators`` entry point resolves to.

    ``build(variant, image_size)`` returns an ``nn.Module`` mapping L (N,1,H,W) in [-1, 1] to
    ab (N,2,H,W) in normalised units; ``check(variant, image_size)`` returns ``None`` when the
    variant can run at that size, else one sentence saying why not (any other answer, e.g.
    ``False``, is a broken plugin: :class:`PluginContractError`). A plugin that declares
    ``options`` receives them as a third argument of both: ``build(variant, image_size, options)``.
    ``files_for(variant, options)`` (API 1.2) names the files a variant reads when built with those
    options (weights that only a pretrained option loads, found in a cache), hashed by content into
    every run's identity as ``Variant.files`` are.
    ``trainable=False`` marks a generator that is evaluated without training; ``manages_init=True``
    one whose weights are not re-initialised by the study's init factor (reported as "not
    applicable"); both can be set per variant (:class:`Variant`). ``default_variant_for(image_size)``
    may name a better default for an image size (the U-Net's depth whose bottleneck is 1 px).
    """

    name: str
    description: str
    variants: Mapping[str, Variant | Mapping[str, Any]]
    default_variant: str
    build: Callable[..., torch.nn.Module]
    check: Callable[..., str | None]
    trainable: bool = True
    manages_init: bool = False
    variant_labels: Mapping[str, str] = field(default_factory=dict)  # older form of Variant.label
    options: Mapping[str, Option] = field(default_factory=dict)
    default_variant_for: Callable[[int], str | None] | None = None
    files_for: Callable[[str, Mapping[str, Any]], tuple[str, ...]] | None = None
    api_version: str = "1"
    display_name: str = ""  # API 1.3: the generator's name in reports ("U-Net"); empty: ``name``

    def __post_init__(self) -> None:
        problem = contract_problem(self)
        if problem is not None:
            raise PluginContractError(problem)
        # A plain mapping is the older way to declare a variant: it is its config.
        variants = {
            name: v if isinstance(v, Variant) else Variant(config=dict(v))
            for name, v in self.variants.items()
        }
        object.__setattr__(self, "variants", variants)

    # ------------------------------------------------------------------ variants
    def variant(self, name: str) -> Variant:
        return self.variants[self.resolve_variant(name)]

    @property
    def shown_name(self) -> str:
        """The generator's name as reports print it: ``display_name``, else ``name``."""
        return self.display_name or self.name

    def label(self, variant: str) -> str:
        """Human label of a variant for reports (e.g. ``n_down = 7``); the variant name if none."""
        declared = self.variants.get(variant)
        if declared is not None and declared.label:
            return declared.label
        return self.variant_labels.get(variant, variant)

    def files(self, variant: str, options: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Every file the variant reads when built with ``options``: ``Variant.files``, then
        ``files_for``'s answer (the files whose content is part of a run's identity)."""
        declared = self.variant(variant).files
        if self.files_for is None:
            return declared
        extra = self.files_for(self.resolve_variant(variant), self.resolve_options(options))
        if not isinstance(extra, tuple) or not all(isinstance(f, str) and f for f in extra):
            raise PluginContractError(
                f"generator {self.name!r} is broken: files_for({variant!r}, ...) returned {extra!r}, "
                "not a tuple of file paths"
            )
        return declared + extra

    def is_trainable(self, variant: str) -> bool:
        own = self.variant(variant).trainable
        return self.trainable if own is None else own

    def manages_own_init(self, variant: str, options: Mapping[str, Any] | None = None) -> bool:
        """Whether the harness must leave the generator's weights alone (the init factor does not apply)."""
        own = self.variant(variant).manages_init
        if (self.manages_init if own is None else own) or not self.is_trainable(variant):
            return True
        values = self.resolve_options(options)
        return any(opt.own_weights and bool(values[key]) for key, opt in self.options.items())

    def depth_order(self) -> list[str]:
        """The variants that are depth levels, shallowest first (declared ``Variant.depth``)."""
        levels = [
            (v.depth, i, name) for i, (name, v) in enumerate(self.variants.items()) if v.depth is not None
        ]
        return [name for _, _, name in sorted(levels)]

    def default_for(self, image_size: int | None) -> str:
        """The default variant at ``image_size``: ``default_variant_for``'s answer, else the default."""
        if image_size is not None and self.default_variant_for is not None:
            chosen = self.default_variant_for(image_size)
            if chosen is not None:
                if chosen not in self.variants:
                    raise PluginContractError(
                        f"{self.name}: default_variant_for({image_size}) returned {chosen!r}, "
                        f"not one of its variants ({', '.join(self.variants)})"
                    )
                return chosen
        return self.default_variant

    def resolve_variant(self, variant: str | None) -> str:
        """``None`` -> the default variant; an unknown name -> :class:`UnknownVariantError`."""
        if variant is None:
            return self.default_variant
        if variant not in self.variants:
            raise UnknownVariantError(
                f"generator {self.name!r} has no variant {variant!r}; variants: {', '.join(self.variants)}"
            )
        return variant

    # ------------------------------------------------------------------ options
    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every declared option's value: ``given`` (checked against the declaration), else its default."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise UnknownOptionError(
                f"generator {self.name!r} has no option {unknown[0]!r}; options: {known}"
            )
        values = {}
        for key, option in self.options.items():
            value = given.get(key, option.default)
            if option.choices and value not in option.choices:
                choices = ", ".join(map(str, option.choices))
                raise UnknownOptionError(f"{self.name} option {key}={value!r}: choose one of {choices}")
            values[key] = value
        return values

    # ------------------------------------------------------------------ building
    def feasibility(
        self, variant: str | None, image_size: int, options: Mapping[str, Any] | None = None
    ) -> str | None:
        """The plugin's check for a (resolved) variant, plus the harness's own size sanity."""
        variant = self.resolve_variant(variant)
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
            return f"image size must be a positive integer number of pixels, got {image_size!r}"
        if self.options:
            reason = self.check(variant, image_size, self.resolve_options(options))
        else:
            reason = self.check(variant, image_size)
        return self._checked_reason(variant, image_size, reason)

    def _checked_reason(self, variant: str, image_size: int, reason: Any) -> str | None:
        # The planner prints the reason as one line of a table and decides on ``is None``: a check
        # returning False, 0 or "" would otherwise silently mean "feasible" or print nothing.
        if reason is None:
            return None
        if isinstance(reason, str) and reason.strip() and "\n" not in reason.strip():
            return reason.strip()
        shown = repr(reason) if len(repr(reason)) <= 80 else repr(reason)[:77] + "..."
        raise PluginContractError(
            f"generator {self.name!r} is broken: check({variant!r}, {image_size}) returned {shown}; "
            "it must return None (the variant runs) or one non-empty line saying why not"
        )

    def build_module(
        self, variant: str, image_size: int, options: Mapping[str, Any] | None = None
    ) -> torch.nn.Module:
        """``build`` with the options when the plugin declares any (no check).

        Raises :class:`GeneratorOutputError` when ``build`` returns anything but an ``nn.Module``
        (typically ``None`` from a forgotten ``return``), before the harness trips over it.
        """
        variant = self.resolve_variant(variant)
        if self.options:
            module = self.build(variant, image_size, self.resolve_options(options))
        else:
            module = self.build(variant, image_size)
        from torch import nn  # here, not at import: describing a plugin must not need torch

        if not isinstance(module, nn.Module):
            got = "None" if module is None else f"a {type(module).__name__}"
            raise GeneratorOutputError(
                f"generator {self.name!r} variant {variant!r} at {image_size} px: build returned {got}, "
                "not a torch.nn.Module"
            )
        return module

    def create(
        self, variant: str | None = None, image_size: int = 256, options: Mapping[str, Any] | None = None
    ) -> torch.nn.Module:
        """Check, then build: the safe way for the harness to get a module."""
        variant = self.resolve_variant(variant)
        reason = self.feasibility(variant, image_size, options)
        if reason is not None:
            raise InfeasibleVariantError(f"{self.name} {variant} at {image_size} px: {reason}")
        return self.build_module(variant, image_size, options)


def api_version_problem(declared: str) -> str | None:
    """``None`` if a plugin written for API ``declared`` runs on this colorbench, else why not.

    Same major: accepted, whatever the minor (a newer minor only adds optional fields, see
    docs/plugins.md, "Compatibility policy"). Another major: one sentence saying what to install.
    """
    major = int(str(declared).split(".")[0])
    ours = API_VERSION[0]
    if major == ours:
        return None
    if major > ours:
        advice = f"upgrade colorbench or install a release of the plugin for API {ours}"
    else:
        advice = f"install a release of the plugin for API {ours}, or a colorbench release for API {major}"
    return (
        f"written for colorbench plugin API {declared}, this colorbench implements {API_VERSION_TEXT}; "
        + advice
    )


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
    if not isinstance(obj.display_name, str) or "\n" in obj.display_name:
        return "display_name must be one line (the generator's name in reports), or empty"
    if not isinstance(obj.variants, Mapping) or not obj.variants:
        return "variants must be a non-empty mapping of variant name -> Variant (or config mapping)"
    for key, variant in obj.variants.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            return f"variant names must be letters, digits, '_', '-' or '.', got {key!r}"
        problem = _variant_problem(key, variant)
        if problem:
            return problem
    if obj.default_variant not in obj.variants:
        known = ", ".join(obj.variants)
        return f"default variant {obj.default_variant!r} is not one of its variants ({known})"
    for attr in ("build", "check"):
        if not callable(getattr(obj, attr)):
            return f"{attr} must be callable"
    if obj.default_variant_for is not None and not callable(obj.default_variant_for):
        return "default_variant_for must be callable (image_size -> variant name or None)"
    if obj.files_for is not None and not callable(obj.files_for):
        return "files_for must be callable ((variant, options) -> tuple of file paths)"
    for attr in ("trainable", "manages_init"):
        if not isinstance(getattr(obj, attr), bool):
            return f"{attr} must be a bool"
    if not isinstance(obj.variant_labels, Mapping):
        return "variant_labels must be a mapping"
    extra = [k for k in obj.variant_labels if k not in obj.variants]
    if extra:
        return f"variant_labels names unknown variants: {', '.join(map(str, extra))}"
    if not isinstance(obj.options, Mapping):
        return "options must be a mapping of option name -> colorbench.models.Option"
    for key, option in obj.options.items():
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            return f"option names must be lower-case identifiers, got {key!r}"
        if not isinstance(option, Option) or not isinstance(option.default, _OPTION_VALUE_TYPES):
            return f"option {key!r} must be an Option whose default is a bool, int, float or str"
        if option.choices and option.default not in option.choices:
            return f"option {key!r}: default {option.default!r} is not one of its choices"
    if not isinstance(obj.api_version, str) or not re.fullmatch(r"\d+(\.\d+)?", obj.api_version):
        return f"api_version must be a version string such as '1', got {obj.api_version!r}"
    return None


def _variant_problem(key: str, variant: Any) -> str | None:
    if isinstance(variant, Variant):
        if not isinstance(variant.config, Mapping):
            return f"variant {key!r} config must be a mapping, got {type(variant.config).__name__}"
        if variant.label is not None and (not isinstance(variant.label, str) or not variant.label.strip()):
            return f"variant {key!r} label must be a non-empty string"
        depth = variant.depth
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, (int, float))):
            return f"variant {key!r} depth must be a number (shallow to deep) or None"
        for attr in ("trainable", "manages_init"):
            if getattr(variant, attr) is not None and not isinstance(getattr(variant, attr), bool):
                return f"variant {key!r} {attr} must be a bool or None"
        if not isinstance(variant.files, tuple) or not all(isinstance(f, str) and f for f in variant.files):
            return f"variant {key!r} files must be a tuple of file paths"
        return None
    if not isinstance(variant, Mapping):
        kind = type(variant).__name__
        return f"variant {key!r} must be a colorbench.models.Variant or a config mapping, got {kind}"
    return None
