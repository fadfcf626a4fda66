"""What determines a run's numbers (:class:`RunSpec`, hashed) and how it executes (:class:`RunOptions`, not).

A user asks for a run with a :class:`RunRequest`: a preset's values plus ``--set key=value``
overrides, flat and unchecked. :func:`resolve_request` checks it once, in one place (one error
type, :class:`InvalidRunError`, naming the key the user typed), asks the plugin for its default
variant, options and identity, and splits it:

- :class:`RunSpec`: generator, variant and the variant's declared config, the plugin's identity
  (distribution, version, code fingerprint, content of the files its variant reads), its options,
  every hyper-parameter, the seed, the *requested* precision and the data spec (which holds the
  image size: ``--set image_size`` sets ``data.size``, and ``RunSpec.image_size`` reads it). Its
  hash names the run directory; :meth:`RunSpec.lineage` is the same hash without the plugin's identity, which
  is how a run made with an older version of the plugin is found (``stale``).
- :class:`RunOptions`: device, evaluation frequency, sample images, TensorBoard. Changing them
  never retrains anything. ``auto`` device and precision are resolved where the run executes
  (``colorbench.training.hardware``), and what they resolved to is recorded in the run's summary
  and checkpoint (a checkpoint is never resumed under another resolved precision).

Nothing here queries torch devices, so planning a study never touches the hardware.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from colorbench.data.spec import RESIZE_MODES, DataSpec
from colorbench.errors import ColorbenchError

GAN_MODES = ("vanilla", "lsgan")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")
# The networks each ``init_targets`` value re-initialises with the run's init scheme; the others keep
# the weights they were built with (PyTorch's defaults, or a plugin's own). The tutorial the study
# used initialises D always and G only when it builds its own U-Net.
INIT_TARGET_NETWORKS = {
    "both": ("generator", "discriminator"),
    "generator": ("generator",),
    "discriminator": ("discriminator",),
}
INIT_TARGETS = tuple(INIT_TARGET_NETWORKS)
TRAIN_ORDERS = ("shuffled", "fixed")
VAL_DISCRIMINATOR_MODES = ("eval", "train")
MAX_SEED = 2**63
OPTION_PREFIX = "option."


class InvalidRunError(ColorbenchError):
    """A run setting that cannot run (one line, naming the key as the user typed it)."""


# --------------------------------------------------------------------------- the request
@dataclass(frozen=True)
class RunRequest:
    """Every setting a user can give (``--set KEY=VALUE``), before any check. Defaults: the study's."""

    generator: str = "unet"
    variant: str | None = None  # None: the plugin's default at this image size
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 16
    init: str = "normal"
    init_gain: float = 0.02
    init_targets: str = "both"  # which networks the init scheme re-initialises
    epochs: int = 100
    image_size: int = 256
    lambda_l1: float = 100.0
    gan_mode: str = "vanilla"
    seed: int = 0
    precision: str = "auto"
    train_order: str = "shuffled"  # "fixed": the same order every epoch (the tutorial's)
    val_discriminator: str = "eval"  # D's mode when val GAN losses are computed
    data: str = "sample"  # sample | coco:IMAGES_DIR:ANNOTATIONS | folder:DIR
    data_limit: int | None = None
    data_val_fraction: float = 0.2
    data_seed: int = 123
    data_categories: tuple[str, ...] = ()
    data_resize: str = "crop"  # "squash": the whole photo to a square (the tutorial's), no crop
    data_keep_gray: bool = False  # keep grayscale photos (ab = 0 targets), as the tutorial does
    generator_options: dict[str, Any] = field(default_factory=dict)  # option.NAME=VALUE
    # How it runs (RunOptions): never part of the run's identity.
    device: str = "auto"
    eval_every: int = 0  # evaluate on val every N epochs; 0: only after the last epoch
    num_samples: int = 32  # val images whose predictions are saved for the image grids
    tensorboard: bool = False
    checkpoint_every: float | None = None  # minutes of training; 0: every epoch; None: auto

    def replace(self, **changes: Any) -> RunRequest:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: dict[str, str]) -> RunRequest:
        """Apply ``--set key=value`` strings, converting each to the field's type."""
        fields = {f.name for f in dataclasses.fields(self)} - {"generator", "generator_options"}
        changes: dict[str, Any] = {}
        options = dict(self.generator_options)
        for key, text in overrides.items():
            if key.startswith(OPTION_PREFIX) and len(key) > len(OPTION_PREFIX):
                options[key[len(OPTION_PREFIX) :]] = parse_option_value(text)
                continue
            if key not in fields:
                raise InvalidRunError(
                    f"unknown setting {key!r}; settings: {', '.join(sorted(fields))} "
                    f"(and {OPTION_PREFIX}NAME for a generator's options)"
                )
            changes[key] = _parse_value(key, text, getattr(self, key))
        return self.replace(generator_options=options, **changes)


SETTING_KEYS = tuple(
    f.name for f in dataclasses.fields(RunRequest) if f.name not in ("generator", "generator_options")
)
OPTION_KEYS = ("device", "eval_every", "num_samples", "tensorboard", "checkpoint_every")
SET_HELP = (
    "Override a run setting (repeatable). KEY: "
    + ", ".join(SETTING_KEYS)
    + "; option.NAME for a generator's own options (colorbench list NAME)."
)


def parse_option_value(text: str) -> bool | int | float | str:
    """A generator option's value from text: true/false, an integer, a number, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _parse_value(key: str, text: str, current: Any) -> Any:
    try:
        if key in ("variant", "data_limit") and text.lower() in ("none", ""):
            return None
        if key == "data_limit":
            return int(text)
        if key == "checkpoint_every":
            return None if text.lower() in ("auto", "none", "") else float(text)
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
        if isinstance(current, int):
            return int(text)
        return type(current)(text)
    except ValueError:
        kind = "true/false" if isinstance(current, bool) else type(current).__name__
        if key == "checkpoint_every":
            kind = "a number of minutes (0: every epoch) or auto"
        raise InvalidRunError(f"setting {key}={text!r}: expected {kind}") from None


# --------------------------------------------------------------------------- the split
@dataclass(frozen=True)
class RunOptions:
    """How a run executes; never part of its identity (changing these retrains nothing)."""

    device: str = "auto"
    eval_every: int = 0
    num_samples: int = 32
    tensorboard: bool = False
    trust_checkpoint: bool = False  # open checkpoints of an older format (their pickle can run code)
    restart: bool = False  # a checkpoint trained in another precision: start over instead of refusing
    # Minutes of training between checkpoints (0: every epoch; None: the default budget, which keeps
    # saving under 2% of training; see colorbench/training/checkpointing.py). Always after the last epoch.
    checkpoint_every: float | None = None
    # Runs sharing this run's device at once (set by the executor that packs them): each run may keep
    # only its share of the device's memory for the data set (colorbench.data.loader.data_placement).
    runs_on_device: int = 1

    def __post_init__(self) -> None:
        _check_int("runs_on_device", self.runs_on_device, 1, None, "a count of runs")
        if self.device not in DEVICES:
            raise InvalidRunError(f"setting device={self.device!r}: choose from {', '.join(DEVICES)}")
        _check_int("eval_every", self.eval_every, 0, None, "0 (end only) or a number of epochs")
        _check_int("num_samples", self.num_samples, 0, 10_000, "a count of val images")
        if self.checkpoint_every is not None:
            _check_positive_finite("checkpoint_every", self.checkpoint_every, allow_zero=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's numbers; validated on construction, hashed into its id."""

    generator: str
    variant: str
    variant_config: dict[str, Any]
    plugin: dict[str, Any]  # distribution, version, fingerprint (code), files (content of files it reads)
    generator_options: dict[str, Any]
    lr: float
    betas: tuple[float, float]
    batch_size: int
    init: str
    init_gain: float
    init_targets: str
    epochs: int
    lambda_l1: float
    gan_mode: str
    seed: int
    precision: str  # as requested: auto | fp32 | bf16 (what it resolved to: summary and checkpoint)
    train_order: str
    val_discriminator: str
    data: DataSpec  # its ``size`` is the run's image size (held once: see ``image_size``)

    def __post_init__(self) -> None:
        check_spec_values({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @property
    def image_size(self) -> int:
        """The side of the run's square images, px: the data's size (``--set image_size``)."""
        return self.data.size

    def replace(self, **changes: Any) -> RunSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["betas"] = list(self.betas)
        out["data"] = self.data.to_dict()
        return json.loads(json.dumps(out, sort_keys=True))  # tuples -> lists, as on disk

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        data = dict(data)
        if "image_size" in data:  # format 2 held the size twice; format 3 only in data.size
            size, data_size = data.pop("image_size"), (data.get("data") or {}).get("size")
            if size != data_size:
                raise InvalidRunError(f"data spec is {data_size} px but image_size is {size}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        missing = sorted(known - set(data))
        if unknown or missing:
            raise InvalidRunError(
                f"not a run spec of this colorbench (unknown: {', '.join(unknown) or '-'}; "
                f"missing: {', '.join(missing) or '-'})"
            )
        values = dict(data)
        values["betas"] = tuple(values["betas"])
        values["data"] = DataSpec.from_dict(values["data"])
        return cls(**values)

    @property
    def spec_hash(self) -> str:
        return _hash(self.to_dict())

    @property
    def run_id(self) -> str:
        """The run directory's name: the same spec is the same run in any study."""
        return f"{self.generator}-{self.spec_hash[:12]}"

    @property
    def lineage(self) -> str:
        """The hash without the plugin's identity: equal for the same setting under another plugin version."""
        return _hash({k: v for k, v in self.to_dict().items() if k != "plugin"})


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- validation (the one place)
def _check_int(key: str, value: Any, low: int, high: int | None, what: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value >= high)
    ):
        span = f"from {low}" + (f" to {high - 1}" if high is not None else "")
        raise InvalidRunError(f"setting {key}={value!r}: expected {what}, an integer {span}")


def _check_positive_finite(key: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise InvalidRunError(f"setting {key}={value!r}: expected {need}")


def _check_choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise InvalidRunError(f"setting {key}={value!r}: choose from {', '.join(map(str, choices))}")


def check_spec_values(values: dict[str, Any]) -> None:
    """Reject settings that cannot run, one line each, naming the ``--set`` key."""
    from colorbench.models.init import INIT_SCHEMES

    _check_positive_finite("lr", values["lr"])
    for key, beta in zip(("beta1", "beta2"), values["betas"], strict=True):
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0.0 <= beta < 1.0:
            raise InvalidRunError(f"setting {key}={beta!r}: expected a number in [0, 1)")
    _check_int("batch_size", values["batch_size"], 1, None, "a batch size")
    _check_int("epochs", values["epochs"], 1, None, "a number of epochs")
    _check_int("seed", values["seed"], 0, MAX_SEED, "a seed")
    _check_positive_finite("init_gain", values["init_gain"])
    _check_positive_finite("lambda_l1", values["lambda_l1"], allow_zero=True)
    _check_choice("init", values["init"], INIT_SCHEMES)
    _check_choice("init_targets", values["init_targets"], INIT_TARGETS)
    _check_choice("gan_mode", values["gan_mode"], GAN_MODES)
    _check_choice("precision", values["precision"], PRECISIONS)
    _check_choice("train_order", values["train_order"], TRAIN_ORDERS)
    _check_choice("val_discriminator", values["val_discriminator"], VAL_DISCRIMINATOR_MODES)
    if not isinstance(values["data"], DataSpec):
        raise InvalidRunError(f"not a data spec: {values['data']!r}")  # it holds the image size


def _data_spec(request: RunRequest) -> DataSpec:
    """The data spec, with the request's keys checked first so that errors name ``data_*`` keys."""
    if request.data_limit is not None:
        _check_int("data_limit", request.data_limit, 2, None, "a number of images (one train, one val)")
    value = request.data_val_fraction
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < value < 1.0:
        raise InvalidRunError(f"setting data_val_fraction={value!r}: expected a number between 0 and 1")
    _check_int("data_seed", request.data_seed, 0, 2**32, "a seed")
    _check_int("image_size", request.image_size, 8, 4097, "a side in pixels")
    _check_choice("data_resize", request.data_resize, RESIZE_MODES)
    spec = DataSpec.parse(
        request.data,
        size=request.image_size,
        limit=request.data_limit,
        val_fraction=request.data_val_fraction,
        seed=request.data_seed,
        categories=tuple(request.data_categories),
        resize=request.data_resize,
        keep_gray=request.data_keep_gray,
    )
    # The same folder spelled two ways is the same data: record real, absolute paths.
    resolved = {
        k: os.path.realpath(os.path.expanduser(v)) for k in ("root", "annotations") if (v := getattr(spec, k))
    }
    return dataclasses.replace(spec, **resolved) if resolved else spec


def data_spec_for(spec_or_request) -> DataSpec:
    if isinstance(spec_or_request, RunSpec):
        return spec_or_request.data
    return _data_spec(spec_or_request)


# --------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ResolvedRun:
    spec: RunSpec
    options: RunOptions
    plugin: Any  # the GeneratorPlugin
    infeasible: str | None = None  # the plugin's sentence when the variant cannot run at this size


def resolve_request(request: RunRequest, *, require_feasible: bool = True) -> ResolvedRun:
    """Check ``request`` once and split it into spec and options (see the module docstring).

    Raises :class:`ColorbenchError` (one line) for an unknown or broken generator, an unknown
    variant or option, a bad value; an infeasible variant raises too unless ``require_feasible``
    is False, in which case its reason is returned in ``infeasible``.
    """
    from colorbench.models import get_generator
    from colorbench.models.identity import plugin_identity

    options = RunOptions(
        device=request.device,
        eval_every=request.eval_every,
        num_samples=request.num_samples,
        tensorboard=request.tensorboard,
        checkpoint_every=request.checkpoint_every,
    )
    data = _data_spec(request)
    plugin = get_generator(request.generator)
    variant = plugin.resolve_variant(request.variant or plugin.default_for(request.image_size))
    generator_options = plugin.resolve_options(request.generator_options)
    spec = RunSpec(
        generator=plugin.name,
        variant=variant,
        variant_config=json.loads(json.dumps(dict(plugin.variant(variant).config), default=str)),
        plugin=plugin_identity(plugin.name, variant, generator_options),
        generator_options=generator_options,
        lr=request.lr,
        betas=(request.beta1, request.beta2),
        batch_size=request.batch_size,
        init=request.init,
        init_gain=request.init_gain,
        init_targets=request.init_targets,
        epochs=request.epochs,
        lambda_l1=request.lambda_l1,
        gan_mode=request.gan_mode,
        seed=request.seed,
        precision=request.precision,
        train_order=request.train_order,
        val_discriminator=request.val_discriminator,
        data=data,
    )
    reason = plugin.feasibility(variant, request.image_size, generator_options)
    if reason is not None and require_feasible:
        raise InvalidRunError(f"{plugin.name} variant {variant} is infeasible: {reason}")
    return ResolvedRun(spec, options, plugin, reason)
