"""A study's plan: every (generator, setting, seed) resolved and checked before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorbench.data.cache import load_prepared, locate
from colorbench.errors import ColorbenchError
from colorbench.models import get_generator, list_plugins, plugin_version
from colorbench.study.design import FACTORS, Setting, study_settings
from colorbench.study.store import read_summary
from colorbench.training.config import RunConfig, data_spec_for, resolve_config, run_id
from colorbench.training.presets import build_config


@dataclass
class PlannedRun:
    generator: str
    setting: Setting
    seed: int
    config: RunConfig | None  # resolved; None when infeasible / not applicable
    run_id: str | None
    status: str  # planned | infeasible | not-applicable
    reason: str | None = None
    progress: str = ""  # done / resume after epoch k / new / diverged ... (filled by refresh)

    def record(self) -> dict[str, Any]:
        return {
            "setting": self.setting.id,
            "generator": self.generator,
            "seed": self.seed,
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass
class StudyPlan:
    name: str
    preset: str
    overrides: dict[str, str]
    plugins: list[str]
    factors: list[str]
    grid: bool
    seeds: list[int]
    settings: dict[str, list[Setting]] = field(default_factory=dict)  # per generator
    runs: list[PlannedRun] = field(default_factory=list)

    def record(self, command: str) -> dict[str, Any]:
        unique: dict[str, Setting] = {}
        for settings in self.settings.values():
            for s in settings:
                unique.setdefault(s.id, s)
        return {
            "name": self.name,
            "command": command,
            "preset": self.preset,
            "overrides": self.overrides,
            "plugins": self.plugins,
            "factors": self.factors,
            "grid": self.grid,
            "seeds": self.seeds,
            "settings": [s.to_dict() for s in unique.values()],
            "runs": [r.record() for r in self.runs],
        }

    def to_train(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.status == "planned" and not r.progress.startswith("done")]


def expand_plugins(names: tuple[str, ...]) -> list[str]:
    if not names or names == ("all",):
        if names == ("all",):
            return [p.name for p in list_plugins() if p.status == "ok"]
        raise ColorbenchError(
            "name at least one generator with --plugin (see colorbench list), or --plugin all"
        )
    if "all" in names:
        raise ColorbenchError("--plugin all cannot be combined with other --plugin names")
    return list(dict.fromkeys(names))


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
    if seeds < 1:
        raise ColorbenchError(f"--seeds must be at least 1, got {seeds}")
    plan = StudyPlan(name, preset, dict(overrides), plugins, factors, grid, [])
    for generator in plugins:
        plugin = get_generator(generator)  # unknown / broken -> one line naming what exists
        base = build_config(preset, generator, data=data, overrides=overrides)
        variant = base.variant or plugin.default_variant
        if variant not in plugin.variants:
            raise ColorbenchError(
                f"{generator} has no variant {variant!r}; variants: {', '.join(plugin.variants)}"
            )
        base = base.replace(variant=variant)
        n_train = _train_images(base, cache_dir)
        plan.seeds = list(range(base.seed, base.seed + seeds))
        baseline = {f.field: getattr(base, f.field) for f in FACTORS.values()}
        settings = study_settings(
            factors if plugin.trainable else [],
            baseline,
            variants=list(plugin.variants),
            default_variant=variant,
            variant_label=plugin.label,
            values=values if plugin.trainable else None,
            grid=grid,
        )
        plan.settings[generator] = settings
        for setting in settings:
            for seed in plan.seeds:
                plan.runs.append(_plan_run(plugin, base, setting, seed, n_train))
    return plan


def _train_images(config: RunConfig, cache_dir: str | None) -> int:
    """Train images of the run's data: exact once prepared, else the selection (before skipping)."""
    selection, path = locate(data_spec_for(config), cache_dir)
    prepared = load_prepared(path)
    return int(prepared.meta["train"]) if prepared is not None else len(selection.train)


def _plan_run(plugin, base: RunConfig, setting: Setting, seed: int, n_train: int) -> PlannedRun:
    def not_run(status: str, reason: str) -> PlannedRun:
        return PlannedRun(plugin.name, setting, seed, None, None, status, reason)

    if plugin.manages_init and "init" in setting.changes:
        return not_run("not-applicable", f"{plugin.name} manages its own weight initialisation")
    config = base.replace(seed=seed, **setting.changes)
    if config.batch_size > n_train:
        return not_run(
            "infeasible", f"batch size {config.batch_size} is larger than the train split ({n_train} images)"
        )
    reason = plugin.feasibility(config.variant, config.image_size)
    if reason:
        return not_run("infeasible", reason)
    resolved, _ = resolve_config(config)
    return PlannedRun(
        plugin.name, setting, seed, resolved, run_id(resolved, plugin_version(plugin.name)), "planned"
    )


def refresh_progress(plan: StudyPlan, out_dir: Path) -> None:
    """What each planned run has on disk: done, resumable, new."""
    for r in plan.runs:
        if r.status != "planned":
            r.progress = r.status
            continue
        run_dir = Path(out_dir) / r.run_id
        summary = read_summary(run_dir)
        if summary and summary.get("status") in ("completed", "diverged"):
            r.progress = "done" if summary["status"] == "completed" else "done (diverged)"
        elif (run_dir / "checkpoint.pt").exists():
            epochs = (
                len((run_dir / "metrics.jsonl").read_text().splitlines())
                if (run_dir / "metrics.jsonl").exists()
                else 0
            )
            r.progress = f"resume after epoch {epochs}"
        elif summary and summary.get("status") == "failed":
            r.progress = "retry (failed before)"
        else:
            r.progress = "new"


def describe_plan(plan: StudyPlan) -> str:
    lines = [
        f"study {plan.name}: preset {plan.preset}, factors {', '.join(plan.factors) or '-'}"
        f"{' (grid)' if plan.grid else ''}, seeds {plan.seeds}"
        + (f", overrides {plan.overrides}" if plan.overrides else "")
    ]
    for generator in plan.plugins:
        runs = [r for r in plan.runs if r.generator == generator]
        cfg = next((r.config for r in runs if r.config is not None), None)
        if cfg is not None:
            lines.append(
                f"  {generator}: {cfg.image_size} px, {cfg.epochs} epochs, data {cfg.data}, "
                f"device {cfg.device}, precision {cfg.precision}"
            )
        else:
            lines.append(f"  {generator}:")
        for setting in plan.settings[generator]:
            seeds = [r for r in runs if r.setting.id == setting.id]
            states = ", ".join(f"seed {r.seed}: {r.progress or r.status}" for r in seeds)
            if seeds and seeds[0].status != "planned":
                states = f"{seeds[0].status}: {seeds[0].reason}"
            lines.append(f"    {setting.label:28s} {states}")
    todo = plan.to_train()
    done = sum(1 for r in plan.runs if r.progress.startswith("done"))
    skipped = sum(1 for r in plan.runs if r.status != "planned")
    lines.append(
        f"{len(plan.runs)} runs: {done} done, {len(todo)} to run, {skipped} infeasible or not applicable"
    )
    return "\n".join(lines)
