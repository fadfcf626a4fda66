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
