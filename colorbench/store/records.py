"""Typed schemas of the store's JSON records, with their format versions.

``config.json`` (:class:`RunRecord`) says what a run is; ``summary.json`` (:class:`Summary`) how it
stands and what it measured; ``studies/<name>.json`` (:class:`StudyRecord`) what a study planned.
Each reader accepts the current format and the earlier ones (colorbench 0.1.0's first stores,
format 1; format 2, whose spec held the image size twice), so old stores keep rendering; a record
that is not what its schema says raises :class:`UnreadableRecordError`, which the plan and the
reports turn into one line and go on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from colorbench.errors import ColorbenchError
from colorbench.store.status import Status

# 1: a flat resolved RunConfig under "config", hashed with the plugin version only; 2: the spec held
# the image size twice (``image_size`` and ``data.size``); 3: once, in ``data.size`` (new run ids).
RUN_FORMAT = 3
STUDY_FORMAT = 2  # 1: no design identity, one settings list for every generator


class UnreadableRecordError(ColorbenchError):
    """A record that is missing a field, has the wrong type somewhere, or is not JSON."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"this run's record is unreadable: {path} ({reason})")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except UnicodeDecodeError as exc:
        raise UnreadableRecordError(path, f"not text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise UnreadableRecordError(path, f"not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _expect(path, data: Any, key: str, kinds: tuple, *, required: bool = True, default: Any = None) -> Any:
    if key not in data or data[key] is None:
        if required:
            raise UnreadableRecordError(path, f"no {key!r}")
        return default
    value = data[key]
    if isinstance(value, bool) and bool not in kinds:
        raise UnreadableRecordError(path, f"{key!r} is a boolean")
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise UnreadableRecordError(path, f"{key!r} should be {names}, is {type(value).__name__}")
    return value


def _object(path, data: Any) -> dict:
    if not isinstance(data, dict):
        raise UnreadableRecordError(path, f"should be a JSON object, is {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- config.json
@dataclass
class RunRecord:
    """What a run is: its spec (hashed into ``run_id``), the plugin that built it, its data."""

    run_id: str
    generator: str
    variant: str | None
    spec: dict[str, Any]  # RunSpec.to_dict(); format 1: the flat config converted (see legacy)
    spec_hash: str
    lineage: str | None = None  # the spec's hash without the plugin's identity: finds stale runs
    options: dict[str, Any] = field(default_factory=dict)  # how it ran first (not hashed)
    plugin: dict[str, Any] = field(default_factory=dict)  # name, description, labels, identity
    data: dict[str, Any] = field(default_factory=dict)  # prepared cache key, counts, spec, format
    legacy_config: dict[str, Any] | None = None  # format 1's flat resolved config
    format_version: int = RUN_FORMAT

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("legacy_config")
        return out

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        return cls.from_dict(read_json(path), path)

    @classmethod
    def from_dict(cls, data: Any, path: Path | str = "config.json") -> RunRecord:
        data = _object(path, data)
        version = _expect(path, data, "format_version", (int,), required=False, default=1)
        if version > RUN_FORMAT:
            raise UnreadableRecordError(path, f"format {version} is newer than this colorbench reads")
        plugin = _expect(path, data, "plugin", (dict,), required=False, default={})
        run_data = _expect(path, data, "data", (dict,), required=False, default={})
        if version == 1:
            config = _expect(path, data, "config", (dict,))
            generator = _expect(path, config, "generator", (str,))
            return cls(
                run_id=f"{generator}-{str(_expect(path, data, 'config_hash', (str,)))[:12]}",
                generator=generator,
                variant=_expect(path, config, "variant", (str,), required=False),
                spec=dict(config),
                spec_hash=_expect(path, data, "config_hash", (str,)),
                plugin=plugin,
                data=run_data,
                legacy_config=dict(config),
                format_version=1,
            )
        spec = _expect(path, data, "spec", (dict,))
        return cls(
            run_id=_expect(path, data, "run_id", (str,)),
            generator=_expect(path, data, "generator", (str,)),
            variant=_expect(path, data, "variant", (str,), required=False),
            spec=spec,
            spec_hash=_expect(path, data, "spec_hash", (str,)),
            lineage=_expect(path, data, "lineage", (str,), required=False),
            options=_expect(path, data, "options", (dict,), required=False, default={}),
            plugin=plugin,
            data=run_data,
            format_version=version,
        )

    @property
    def image_size(self) -> int | None:
        """The run's image size, px, in any format (format 3 holds it only in the data spec)."""
        spec = self.legacy_config if self.legacy_config is not None else self.spec
        size = spec.get("image_size")
        if size is None:
            size = (spec.get("data") or {}).get("size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    def table_fields(self) -> dict[str, Any]:
        """The run's settings as flat columns (``lr``, ``batch_size``, ``image_size``, ``data_limit`` ...)."""
        if self.legacy_config is not None:
            out = {k: v for k, v in self.legacy_config.items() if k not in ("generator", "seed")}
            out["data_categories"] = ",".join(out.get("data_categories") or []) or None
            return out
        # Format 3 keeps the image size in the data spec only; the column keeps its name and place.
        spec = dict(sorted({**self.spec, "image_size": self.image_size}.items()))
        out = {k: v for k, v in spec.items() if k not in ("generator", "seed", "data", "plugin", "files")}
        out["betas"] = ",".join(f"{b:g}" for b in out.get("betas") or []) or None
        out["variant_config"] = json.dumps(out.get("variant_config") or {}, sort_keys=True)
        out["generator_options"] = json.dumps(out.get("generator_options") or {}, sort_keys=True)
        data = self.spec.get("data") or {}
        for key, value in data.items():
            out[f"data_{key}"] = ",".join(value) if isinstance(value, list) else value
        out["data"] = data.get("source")
        out.update(
            {k: v for k, v in self.options.items() if k in ("eval_every", "num_samples", "tensorboard")}
        )
        return out


# --------------------------------------------------------------------------- summary.json
@dataclass
class Summary:
    """How a run stands and what it measured. Unknown keys are kept in ``extra``."""

    status: Status
    run_id: str | None = None
    generator: str | None = None
    variant: str | None = None
    epochs: int | None = None
    epochs_completed: int = 0
    final_train: dict[str, float] | None = None
    final_val: dict[str, float] | None = None
    baseline_gray: dict[str, float] | None = None
    samples: list[str] = field(default_factory=list)
    train_seconds: float | None = None
    images_per_s: float | None = None
    wall_seconds_this_session: float | None = None
    device: str | None = None
    device_name: str | None = None
    precision: str | None = None
    data_placement: str | None = None
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    diverged_epoch: int | None = None
    last_finite_losses: dict[str, float] | None = None
    error: str | None = None
    restarted_from_scratch: str | None = None  # why a resume started over (e.g. a damaged checkpoint)
    generator_parameters: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = RUN_FORMAT

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["status"] = self.status.value
        return {**self.extra, **out}

    @classmethod
    def read(cls, path: Path) -> Summary:
        return cls.from_dict(read_json(path), path)

    @classmethod
    def from_dict(cls, data: Any, path: Path | str = "summary.json") -> Summary:
        data = _object(path, data)
        status = Status.parse(_expect(path, data, "status", (str,)))
        # planned and busy describe a study's entry and an executor's outcome, never a run's summary.
        if status in (Status.UNREADABLE, Status.PLANNED, Status.BUSY):
            raise UnreadableRecordError(path, f"unknown status {data['status']!r}")
        kinds: dict[str, tuple] = {
            "run_id": (str,),
            "generator": (str,),
            "variant": (str,),
            "epochs": (int,),
            "epochs_completed": (int,),
            "final_train": (dict,),
            "final_val": (dict,),
            "baseline_gray": (dict,),
            "samples": (list,),
            "train_seconds": (int, float),
            "images_per_s": (int, float),
            "wall_seconds_this_session": (int, float),
            "device": (str,),
            "device_name": (str,),
            "precision": (str,),
            "data_placement": (str,),
            "hardware": (dict,),
            "versions": (dict,),
            "diverged_epoch": (int,),
            "last_finite_losses": (dict,),
            "error": (str,),
            "restarted_from_scratch": (str,),
            "generator_parameters": (int,),
            "format_version": (int,),
        }
        values: dict[str, Any] = {}
        for key, kind in kinds.items():
            value = _expect(path, data, key, kind, required=False)
            if value is not None:
                values[key] = value
        for key in ("final_train", "final_val", "baseline_gray", "last_finite_losses"):
            if key in values:
                values[key] = {
                    k: float(v)
                    for k, v in values[key].items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
        values["samples"] = [s for s in values.get("samples", []) if isinstance(s, str)]
        values["versions"] = {str(k): str(v) for k, v in values.get("versions", {}).items()}
        values.setdefault("format_version", 1)
        known = set(kinds) | {"status"}
        return cls(status=status, extra={k: v for k, v in data.items() if k not in known}, **values)


# --------------------------------------------------------------------------- studies/<name>.json
@dataclass
class StudyRecord:
    """What a study planned: its design (whose hash identifies it), settings per generator, runs."""

    name: str
    settings: list[dict[str, Any]]  # {"id", "generator", "factor", "level", "label", "changes"}, table order
    runs: list[dict[str, Any]]  # {"setting", "generator", "seed", "run_id", "status", "reason", ...}
    design: dict[str, Any] = field(default_factory=dict)
    design_hash: str | None = None  # format 1: none
    command: str | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # how the study's runs were last executed
    plugins: list[str] = field(default_factory=list)
    factors: list[str] = field(default_factory=list)
    grid: bool = False
    seeds: list[int] = field(default_factory=list)
    generators: dict[str, dict[str, Any]] = field(default_factory=dict)  # description, labels, source
    created: str | None = None
    updated: str | None = None
    format_version: int = STUDY_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> StudyRecord:
        return cls.from_dict(read_json(path), path)

    @classmethod
    def from_dict(cls, data: Any, path: Path | str = "study.json") -> StudyRecord:
        data = _object(path, data)
        version = _expect(path, data, "format_version", (int,), required=False, default=1)
        if version > STUDY_FORMAT:
            raise UnreadableRecordError(path, f"format {version} is newer than this colorbench reads")
        settings = _expect(path, data, "settings", (list,))
        runs = _expect(path, data, "runs", (list,))
        for i, setting in enumerate(settings):
            if not isinstance(setting, dict) or not isinstance(setting.get("id"), str):
                raise UnreadableRecordError(path, f"settings[{i}] has no string 'id'")
        for i, run in enumerate(runs):
            if not isinstance(run, dict):
                raise UnreadableRecordError(path, f"runs[{i}] is not an object")
            missing = [k for k in ("setting", "generator", "seed") if k not in run]
            if missing:
                raise UnreadableRecordError(path, f"runs[{i}] lacks {', '.join(missing)}")
        name = _expect(path, data, "name", (str,), required=False) or Path(path).stem
        optional = {
            "design": (dict,),
            "design_hash": (str,),
            "command": (str,),
            "preset": (str,),
            "overrides": (dict,),
            "options": (dict,),
            "plugins": (list,),
            "factors": (list,),
            "grid": (bool,),
            "seeds": (list,),
            "generators": (dict,),
            "created": (str,),
            "updated": (str,),
        }
        values = {}
        for key, kind in optional.items():
            value = _expect(path, data, key, kind, required=False)
            if value is not None:
                values[key] = value
        return cls(name=name, settings=settings, runs=runs, format_version=version, **values)
