"""A study's plan: every (generator, setting, seed) resolved and checked before anything runs.

Planning resolves each run's spec (never the hardware: ``auto`` device and precision are resolved
by the worker that runs it) and then looks at the store: what is done, what resumes, what is new,
and which completed runs were made with an older version of a plugin (``stale``: same setting,
other plugin code or weights; retrained by default, the old run stays on disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorbench.data.cache import load_prepared, locate
from colorbench.errors import ColorbenchError
from colorbench.factors import FACTORS
from colorbench.models import get_generator, init_not_applicable_reason
from colorbench.store import Status, Store, StudyRecord
from colorbench.store.studies import design_hash
from colorbench.study.design import Setting, study_settings
from colorbench.training.presets import build_request
from colorbench.training.spec import (
    OPTION_KEYS,
    OPTION_PREFIX,
    RunOptions,
    RunRequest,
    RunSpec,
    resolve_request,
)


@dataclass
class PlannedRun:
    generator: str
    setting: Setting
    seed: int
    spec: RunSpec | None  # None when the run is never trained (infeasible, not applicable)
    options: RunOptions | None
    status: Status  # PLANNED (to train), INFEASIBLE or NOT_APPLICABLE
    reason: str | None = None
    state: Status = Status.NOT_STARTED  # what the store holds for it (filled by refresh_state)
    detail: str | None = None
    superseded: list[str] = field(default_factory=list)  # completed runs of an older plugin version

    @property
    def planned(self) -> bool:
        return not self.status.never_trained

    @property
    def run_id(self) -> str | None:
        return self.spec.run_id if self.spec is not None else None

    @property
    def label(self) -> str:
        return f"{self.generator} {self.setting.label} seed {self.seed}"

    def record(self) -> dict[str, Any]:
        return {
            "setting": self.setting.id,
            "generator": self.generator,
            "seed": self.seed,
            "run_id": self.run_id,
            "status": self.status.value,
            "reason": self.reason,
            "superseded": list(self.superseded),
        }


@dataclass
class StudyPlan:
    name: str
    preset: str
    overrides: dict[str, str]  # --set values that change results (part of the design)
    option_overrides: dict[str, str]  # --set values that do not (device, eval_every, ...)
    plugins: list[str]
    factors: list[str]
    grid: bool
    seeds: list[int]
    values: dict[str, tuple] = field(default_factory=dict)
    data: str | None = None
    settings: dict[str, list[Setting]] = field(default_factory=dict)  # per generator, table order
    runs: list[PlannedRun] = field(default_factory=list)
    generators: dict[str, dict[str, Any]] = field(default_factory=dict)  # labels and descriptions
    skipped_plugins: list[tuple[str, str]] = field(default_factory=list)

    def design(self) -> dict[str, Any]:
        """What identifies the study: generators, factors, levels, seeds, preset, overrides, data."""
        data = next((r.spec.data.to_dict() for r in self.runs if r.spec is not None), self.data)
        return {
            "plugins": list(self.plugins),
            "factors": list(self.factors),
            "grid": self.grid,
            "values": {k: list(v) for k, v in sorted(self.values.items())},
            "seeds": list(self.seeds),
            "preset": self.preset,
            "overrides": dict(sorted(self.overrides.items())),
            "data": data,
        }

    @property
    def design_hash(self) -> str:
        return design_hash(self.design())

    def record(self, command: str) -> StudyRecord:
        return StudyRecord(
            name=self.name,
            settings=[s.to_dict(g) for g, settings in self.settings.items() for s in settings],
            runs=[r.record() for r in self.runs],
            design=self.design(),
            design_hash=self.design_hash,
            command=command,
            preset=self.preset,
            overrides=dict(self.overrides),
            options=dict(self.option_overrides),
            plugins=list(self.plugins),
            factors=list(self.factors),
            grid=self.grid,
            seeds=list(self.seeds),
            generators=self.generators,
        )

    def to_train(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.planned and not r.state.finished]


def expand_plugins(names: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """The generators named by ``--plugin`` and, for ``all``, those skipped with why."""
    from colorbench.models import list_plugins

    if not names:
        raise ColorbenchError(
            "name at least one generator with --plugin (see colorbench list), or --plugin all"
        )
    if names == ("all",):
        infos = list_plugins()
        usable = list(dict.fromkeys(i.name for i in infos if i.ok))
        skipped = [(i.name, f"{i.status}: {i.reason}") for i in infos if not i.ok and i.name not in usable]
        if not usable:
            raise ColorbenchError("--plugin all: no usable generator is registered (see colorbench list)")
        return usable, skipped
    if "all" in names:
        raise ColorbenchError("--plugin all cannot be combined with other --plugin names")
    return list(dict.fromkeys(names)), []


def split_overrides(overrides: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(--set values that change results, --set values that only change how runs execute)."""
    spec = {k: v for k, v in overrides.items() if k not in OPTION_KEYS}
    options = {k: v for k, v in overrides.items() if k in OPTION_KEYS}
    return spec, options


def _for_generator(plugin, overrides: dict[str, str]) -> dict[str, str]:
    """The overrides that apply to one generator: option.NAME only if it declares NAME."""
    return {
        k: v
        for k, v in overrides.items()
        if not k.startswith(OPTION_PREFIX) or k[len(OPTION_PREFIX) :] in plugin.options
    }


def build_plan(
    *,
    name: str,
    plugins: list[str],
    factors: list[str],
    preset: str,
    overrides: dict[str, str],
    seeds: int,
    values: dict[str, tuple] | None = None,
    grid: bool = False,
    data: str | None = None,
    cache_dir: str | None = None,
) -> StudyPlan:
    """Resolve every run of the study; raises ColorbenchError for anything the user must fix."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ColorbenchError(f"--seeds must be at least 1, got {seeds}")
    values = dict(values or {})
    spec_overrides, option_overrides = split_overrides(overrides)
    for key in [k for k in overrides if k.startswith(OPTION_PREFIX)]:
        option = key[len(OPTION_PREFIX) :]
        if not any(option in get_generator(g).options for g in plugins):
            raise ColorbenchError(f"--set {key}: no generator of this study has an option {option!r}")
    plan = StudyPlan(name, preset, spec_overrides, option_overrides, plugins, factors, grid, [], values, data)
    for generator in plugins:
        plugin = get_generator(generator)  # unknown / broken -> one line naming what exists
        request = build_request(preset, generator, data=data, overrides=_for_generator(plugin, overrides))
        base = resolve_request(request, require_feasible=False)
        variant = base.spec.variant
        plan.seeds = list(range(request.seed, request.seed + seeds))
        n_train = _train_images(base.spec, cache_dir)
        trainable = plugin.is_trainable(variant)
        baseline = {f.field: getattr(base.spec, f.field) for f in FACTORS.values()}
        settings = study_settings(
            factors if trainable else [],
            baseline,
            variants=list(plugin.variants),
            depth_order=plugin.depth_order(),
            default_variant=variant,
            variant_label=plugin.label,
            values=values if trainable else None,
            grid=grid,
        )
        plan.settings[generator] = settings
        plan.generators[generator] = {
            "description": plugin.description,
            "display_name": plugin.shown_name,
            "variant_labels": {v: plugin.label(v) for v in plugin.variants},
            "default_variant": variant,
            "version": base.spec.plugin.get("version"),
            "distribution": base.spec.plugin.get("distribution"),
        }
        for setting in settings:
            for seed in plan.seeds:
                plan.runs.append(_plan_run(plugin, request, setting, seed, n_train))
    return plan


def _train_images(spec: RunSpec, cache_dir: str | None) -> int:
    """Train images of the run's data: exact once prepared, else the selection (before skipping)."""
    selection, path = locate(spec.data, cache_dir)
    prepared = load_prepared(path)
    return int(prepared.meta["train"]) if prepared is not None else len(selection.train)


def _plan_run(plugin, request: RunRequest, setting: Setting, seed: int, n_train: int) -> PlannedRun:
    def not_run(status: Status, reason: str) -> PlannedRun:
        return PlannedRun(plugin.name, setting, seed, None, None, status, reason)

    resolved = resolve_request(request.replace(seed=seed, **setting.changes), require_feasible=False)
    spec = resolved.spec
    if "init" in setting.changes and not resolved.infeasible:
        reason = init_not_applicable_reason(plugin, spec.variant, spec.image_size, spec.generator_options)
        if reason:
            return not_run(Status.NOT_APPLICABLE, reason)
    if spec.batch_size > n_train:
        return not_run(
            Status.INFEASIBLE,
            f"batch size {spec.batch_size} is larger than the train split ({n_train} images)",
        )
    if resolved.infeasible:
        return not_run(Status.INFEASIBLE, resolved.infeasible)
    return PlannedRun(plugin.name, setting, seed, spec, resolved.options, Status.PLANNED)


def refresh_state(plan: StudyPlan, store: Store | str | Path, *, reuse_stale: bool = False) -> None:
    """What each planned run has in the store: done, resumable, failed before, stale, new."""
    if not isinstance(store, Store):
        store = Store(store)
    index = None
    for run in plan.runs:
        if not run.planned:
            run.state, run.detail = run.status, run.reason
            continue
        run.state, run.detail = store.run(run.run_id).state()
        if run.state is not Status.NOT_STARTED:
            continue
        if index is None:
            index = store.lineage_index()
        older = [entry for entry in index.get(run.spec.lineage, []) if entry.run_id != run.run_id]
        done = [entry for entry in older if entry.status is Status.COMPLETED]
        if done:
            run.superseded = [entry.run_id for entry in done]
            changed = ", ".join(sorted({c for entry in done for c in entry.changes(run.spec)})) or "plugin"
            run.state, run.detail = Status.STALE, f"{changed} changed since {done[0].run_id}"
            if reuse_stale:
                run.spec = RunSpec.from_dict(done[0].spec)
                run.state, run.detail, run.superseded = (
                    Status.COMPLETED,
                    f"kept (stale: {changed} changed)",
                    [],
                )


def describe_state(run: PlannedRun) -> str:
    state, detail = run.state, run.detail
    if state is Status.COMPLETED:
        return "done" if not detail else f"done ({detail})"
    if state is Status.DIVERGED:
        return "done (diverged)"
    if state is Status.INTERRUPTED:
        return detail or "resume"
    if state is Status.FAILED:
        return f"retry (failed before: {detail})" if detail else "retry (failed before)"
    if state is Status.STALE:
        return f"stale: {detail}; retrains (the old run stays)"
    if state is Status.UNREADABLE:
        # The trainer rewrites the record, and finishes the run from its checkpoint if it can.
        return f"{detail}; rebuilt from its checkpoint, else retrained"
    if state is Status.RUNNING:
        return "running in another process"
    return "new"


def describe_plan(plan: StudyPlan) -> str:
    lines = [
        f"study {plan.name}: preset {plan.preset}, factors {', '.join(plan.factors) or '-'}"
        f"{' (grid)' if plan.grid else ''}, seeds {plan.seeds}"
        + (f", overrides {plan.overrides}" if plan.overrides else "")
        + (f", options {plan.option_overrides}" if plan.option_overrides else "")
    ]
    for name, reason in plan.skipped_plugins:
        lines.append(f"  skipped {name}: {reason}")
    for generator in plan.plugins:
        runs = [r for r in plan.runs if r.generator == generator]
        spec = next((r.spec for r in runs if r.spec is not None), None)
        options = next((r.options for r in runs if r.options is not None), None)
        if spec is not None:
            lines.append(
                f"  {generator}: {spec.image_size} px, {spec.epochs} epochs, data {spec.data.describe()}; "
                f"device {options.device}, precision {spec.precision} (auto is resolved by each worker)"
            )
        else:
            lines.append(f"  {generator}:")
        for setting in plan.settings[generator]:
            seeds = [r for r in runs if r.setting.id == setting.id]
            states = ", ".join(f"seed {r.seed}: {describe_state(r)}" for r in seeds)
            if seeds and not seeds[0].planned:
                states = f"{seeds[0].status.value}: {seeds[0].reason}"
            lines.append(f"    {setting.label:28s} {states}")
    todo = plan.to_train()
    done = sum(1 for r in plan.runs if r.planned and r.state.finished)
    stale = sum(1 for r in todo if r.state is Status.STALE)
    skipped = sum(1 for r in plan.runs if not r.planned)
    lines.append(
        f"{len(plan.runs)} runs: {done} done, {len(todo)} to run"
        + (f" ({stale} stale)" if stale else "")
        + f", {skipped} infeasible or not applicable"
    )
    return "\n".join(lines)
