"""One run's configuration: every hyper-parameter of the study is a field here.

A :class:`RunConfig` is plain data. :func:`resolve_config` checks it against the plugin and the
hardware *before any work* (one clear line on a problem) and fills in what ``auto`` means on this
machine; the resolved form is what a run directory records and what its hash is taken of.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from colorbench.errors import ColorbenchError

GAN_MODES = ("vanilla", "lsgan")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (generator variant + hyper-parameters + seed)."""

    generator: str = "unet"
    variant: str | None = None  # None: the plugin's default depth variant
    lr: float = 5e-4
    batch_size: int = 16
    init: str = "normal"
    init_gain: float = 0.02
    epochs: int = 100
    image_size: int = 256
    lambda_l1: float = 100.0
    gan_mode: str = "vanilla"
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    eval_every: int = 0  # evaluate on val every N epochs; 0: only after the last epoch
    num_samples: int = 8  # fixed val images colorized for the image grids
    data: str = "sample"  # sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR
    data_limit: int | None = None
    data_val_fraction: float = 0.2
    data_seed: int = 123
    data_categories: tuple[str, ...] = ()
    tensorboard: bool = False

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data_categories"] = list(self.data_categories)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ColorbenchError(f"unknown run configuration field(s): {', '.join(unknown)}")
        d = dict(d)
        if "data_categories" in d:
            d["data_categories"] = tuple(d["data_categories"])
        return cls(**d)

    def with_overrides(self, overrides: dict[str, str]) -> RunConfig:
        """Apply ``--set key=value`` strings, converting each to the field's type."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, text in overrides.items():
            if key not in fields:
                raise ColorbenchError(f"unknown setting {key!r}; known: {', '.join(sorted(fields))}")
            changes[key] = _parse_value(key, text, getattr(self, key))
        return self.replace(**changes)


def _parse_value(key: str, text: str, current: Any) -> Any:
    kind = type(current)
    try:
        if key in ("variant", "data_limit") and text.lower() in ("none", ""):
            return None
        if key == "data_limit":
            return int(text)
        if isinstance(current, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(current, tuple):
            return tuple(s.strip() for s in text.split(",") if s.strip())
        if current is None:
            return text
        return kind(text)
    except ValueError:
        raise ColorbenchError(f"setting {key}={text!r}: expected {kind.__name__}") from None


# --------------------------------------------------------------------------- resolution
def resolve_device(requested: str) -> str:
    if requested not in DEVICES:
        raise ColorbenchError(f"unknown device {requested!r}; choose from {', '.join(DEVICES)}")
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ColorbenchError("device 'cuda' was asked for but torch sees no CUDA GPU on this machine")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ColorbenchError("device 'mps' was asked for but Apple MPS is not available here")
    return requested


def native_bf16(device: str) -> bool:
    """Whether the hardware runs bf16 natively (not emulated)."""
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    if device == "cpu":
        # The instruction sets themselves: oneDNN's own flag says True on AVX-512 CPUs that only
        # emulate bf16 (measured 0.3-0.5x fp32 speed there, benchmarks/RESULTS.md).
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def resolve_precision(requested: str, device: str) -> str:
    """``auto``: bf16 autocast where the hardware has native bf16, else fp32."""
    if requested not in PRECISIONS:
        raise ColorbenchError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "bf16" and device == "mps":
        raise ColorbenchError("precision bf16 is not supported on the mps device; use fp32")
    return requested


def check_hyper_parameters(config: RunConfig) -> None:
    """Reject configurations that cannot run, one clear line each (no plugin or data needed)."""
    from colorbench.models import INIT_SCHEMES

    if not config.lr > 0:
        raise ColorbenchError(f"learning rate must be positive, got {config.lr}")
    if config.batch_size < 1:
        raise ColorbenchError(f"batch size must be at least 1, got {config.batch_size}")
    if config.epochs < 1:
        raise ColorbenchError(f"epochs must be at least 1, got {config.epochs}")
    if config.image_size < 8:
        raise ColorbenchError(f"image size must be at least 8 px, got {config.image_size}")
    if config.init not in INIT_SCHEMES:
        raise ColorbenchError(f"unknown init scheme {config.init!r}; choose from {', '.join(INIT_SCHEMES)}")
    if not config.init_gain > 0:
        raise ColorbenchError(f"init gain must be positive, got {config.init_gain}")
    if config.gan_mode not in GAN_MODES:
        raise ColorbenchError(f"unknown GAN mode {config.gan_mode!r}; choose from {', '.join(GAN_MODES)}")
    if config.lambda_l1 < 0:
        raise ColorbenchError(f"lambda_l1 must not be negative, got {config.lambda_l1}")
    if config.eval_every < 0:
        raise ColorbenchError(f"eval_every must be 0 (end only) or positive, got {config.eval_every}")
    if config.num_samples < 0:
        raise ColorbenchError(f"num_samples must not be negative, got {config.num_samples}")


def resolve_config(config: RunConfig) -> tuple[RunConfig, Any]:
    """Validate ``config`` and fill in its defaults; returns (resolved config, generator plugin).

    Raises :class:`ColorbenchError` with one line for anything that cannot run: unknown or broken
    generator, unknown variant, an infeasible variant at this image size, bad hyper-parameters,
    a device that is not there.
    """
    from colorbench.models import get_generator

    check_hyper_parameters(config)
    plugin = get_generator(config.generator)
    variant = config.variant or plugin.default_variant
    if variant not in plugin.variants:
        raise ColorbenchError(
            f"generator {plugin.name!r} has no variant {variant!r}; variants: {', '.join(plugin.variants)}"
        )
    reason = plugin.feasibility(variant, config.image_size)
    if reason:
        raise ColorbenchError(f"{plugin.name} variant {variant} is infeasible: {reason}")
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    return config.replace(variant=variant, device=device, precision=precision), plugin


def config_hash(config: RunConfig, plugin_version: str = "") -> str:
    """Stable hash of a resolved configuration plus the plugin's version (names run directories)."""
    payload = json.dumps({"config": config.to_dict(), "plugin_version": plugin_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_id(config: RunConfig, plugin_version: str) -> str:
    """A resolved configuration's directory name: the same setting is the same run in any study."""
    return f"{config.generator}-{config_hash(config, plugin_version)[:12]}"


def data_spec_for(config: RunConfig):
    """The data specification (colorbench.data.DataSpec) a run trains and evaluates on."""
    from colorbench.data import DataSpec

    return DataSpec.parse(
        config.data,
        size=config.image_size,
        limit=config.data_limit,
        val_fraction=config.data_val_fraction,
        seed=config.data_seed,
        categories=tuple(config.data_categories),
    )
