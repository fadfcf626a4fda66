"""Weight initialisation as in the pix2pix reference code (``networks.init_weights``).

The reference semantics are kept on purpose, so that the study is reproduced faithfully:

- ``normal``: conv/linear weights ~ N(0, gain)                  (gain 0.02 by default)
- ``xavier``: ``xavier_normal_(weight, gain=gain)``             (so the 0.02 gain *does* apply)
- ``kaiming``: ``kaiming_normal_(weight, a=0, mode="fan_in")``   (the gain is ignored)
- ``orthogonal``: ``orthogonal_(weight, gain=gain)``
- conv/linear biases are set to 0;
- BatchNorm weights ~ N(1, gain) and biases 0 (the reference uses the same gain here: N(1, 0.02)).

Seeding is the caller's job (``torch.manual_seed`` before calling).
"""

from __future__ import annotations

import torch
from torch import nn

from colorbench.errors import ColorbenchError

INIT_SCHEMES: tuple[str, ...] = ("normal", "xavier", "kaiming", "orthogonal")
DEFAULT_GAIN = 0.02

# The reference matches class names containing "Conv"/"Linear"/"BatchNorm2d"; isinstance is the
# same for torch's layers and also covers subclasses (e.g. timm's BatchNormAct2d).
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
_NORMS = (nn.modules.batchnorm._BatchNorm,)


def _init_weight(weight, scheme: str, gain: float) -> None:
    if scheme == "normal":
        nn.init.normal_(weight, 0.0, gain)
    elif scheme == "xavier":
        nn.init.xavier_normal_(weight, gain=gain)
    elif scheme == "kaiming":
        nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
    else:
        nn.init.orthogonal_(weight, gain=gain)


def init_weights(module: nn.Module, scheme: str = "normal", gain: float = DEFAULT_GAIN) -> nn.Module:
    """Initialise every conv/linear/BatchNorm layer of ``module`` in place; returns ``module``."""
    if scheme not in INIT_SCHEMES:
        raise ColorbenchError(f"unknown init scheme {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    for m in module.modules():
        if isinstance(m, _WEIGHTED) and getattr(m, "weight", None) is not None:
            _init_weight(m.weight.data, scheme, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias.data)
        elif isinstance(m, _NORMS) and m.affine:
            nn.init.normal_(m.weight.data, 1.0, gain)
            nn.init.zeros_(m.bias.data)
    return module


def has_initialisable_layers(module: nn.Module) -> bool:
    """Whether :func:`init_weights` would touch anything in ``module`` (conv, linear, BatchNorm)."""
    return any(
        (isinstance(m, _WEIGHTED) and getattr(m, "weight", None) is not None)
        or (isinstance(m, _NORMS) and m.affine)
        for m in module.modules()
    )


def _build_cheaply(plugin, variant: str, image_size: int, options) -> nn.Module:
    # On the meta device a module has shapes but no memory and no random draws, so looking at a
    # 67 M parameter U-Net costs milliseconds. Not every plugin builds there (e.g. one that loads
    # a weights file), so fall back to a real build.
    try:
        with torch.device("meta"):
            return plugin.build_module(variant, image_size, options)
    except Exception:
        return plugin.build_module(variant, image_size, options)


def init_not_applicable_reason(plugin, variant: str, image_size: int, options=None) -> str | None:
    """Why the study's init factor cannot touch this generator, or ``None`` if it applies.

    Not applicable when the generator keeps its own weights (``plugin.manages_own_init``: declared
    by the plugin or the variant, not trainable, or an ``own_weights`` option set) or when its
    module has no conv, linear or BatchNorm layer for :func:`init_weights` to initialise (e.g.
    ``gray``). The planner reports such a setting as *not applicable* instead of training a run
    identical to the baseline. Errors of ``build`` itself propagate.
    """
    variant = plugin.resolve_variant(variant)
    if plugin.manages_own_init(variant, options):
        if not plugin.is_trainable(variant):
            return f"{plugin.name} {variant} is not trained, so its weights are never initialised"
        declared = plugin.variant(variant).manages_init
        if plugin.manages_init if declared is None else declared:
            return f"{plugin.name} {variant} manages its own weight initialisation"
        values = plugin.resolve_options(options)
        own = [f"{k}={values[k]!r}" for k, opt in plugin.options.items() if opt.own_weights and values[k]]
        return f"{plugin.name} {variant} with {', '.join(own)} brings its own weights"
    module = _build_cheaply(plugin, variant, image_size, options)
    if not has_initialisable_layers(module):
        return f"{plugin.name} {variant} has no convolution, linear or BatchNorm layer to initialise"
    return None
