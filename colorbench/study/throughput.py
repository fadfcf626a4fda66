"""What a study's runs cost on this machine: from the store's earlier runs, or a short probe.

For each kind of run (generator, variant, image size, batch, generator options) the costs come
from the completed runs in the store made on the same hardware (device kind, CPU or GPU model,
threads on a CPU, resolved precision), their per-epoch timings read back; otherwise from
a probe: the kind's networks built, a warm-up step, a few timed training steps on random batches
of its shape, one evaluation pass over a batch of val images, and a timed write of part of a
checkpoint (scaled to the whole one). Probing starts with the costliest kind (largest batch and
image size) and stops after :data:`PROBE_BUDGET_S`; a kind left unprobed takes the per-image costs
of the nearest probed kind of its generator, and says so. The arithmetic is
:mod:`colorbench.study.estimate`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colorbench.store.status import Status
from colorbench.study.estimate import Costs, RunShape, StudyEstimate, estimate_study, train_images_per_epoch

PROBE_BUDGET_S = 10.0  # probing stops starting new kinds after this
PROBE_STEP_SECONDS = 1.0  # timed steps per kind: about this long, 1 to 20 steps
PROBE_WRITE_FRACTION = 1 / 3  # the weights of G and D, of a checkpoint that also holds two Adam states
STORE_RUNS_USED = 5
RECORD_WRITES_TIMED = 3  # the latest comparable runs whose timings are taken


@dataclass(frozen=True)
class Machine:
    device: str  # cpu, cuda, mps
    model: str  # the CPU's or GPU's name
    threads: int
    precision_of: dict[str, str]  # requested precision -> what it resolves to here

    def describe(self) -> str:
        threads = f", {self.threads} threads" if self.device == "cpu" else ""
        return f"{self.device} {self.model}{threads}"


def this_machine(device: str) -> Machine:
    import torch

    from colorbench.training.hardware import cpu_model, resolve_device, resolve_precision
    from colorbench.training.performance import configure_threads

    resolved = resolve_device(device)
    threads = configure_threads()
    model = torch.cuda.get_device_name() if resolved == "cuda" else (cpu_model() or "cpu")
    precision_of = {p: resolve_precision(p, resolved) for p in ("auto", "fp32", "bf16") if _can(p, resolved)}
    return Machine(resolved, model, threads, precision_of)


def _can(precision: str, device: str) -> bool:
    return not (precision == "bf16" and device == "mps")


def kind_of(spec) -> tuple:
    """What decides a run's speed per image (not its lr, init or seed)."""
    options = tuple(sorted((k, str(v)) for k, v in spec.generator_options.items()))
    return (spec.generator, spec.variant, spec.image_size, spec.batch_size, spec.precision, options)


def describe_kind(kind: tuple) -> str:
    generator, variant, size, batch, precision, _ = kind
    return f"{generator} {variant} {size} px batch {batch}"


# ---------------------------------------------------------------------- from the store
def from_store(store, kind: tuple, machine: Machine) -> Costs | None:
    """Costs read off the latest completed runs of ``kind`` made on this hardware, if any."""
    generator, variant, size, batch, precision, options = kind
    resolved = machine.precision_of.get(precision)
    found = []
    for directory in store.runs():
        try:
            record = directory.read_record()
            summary = directory.read_summary()
        except Exception:  # an unreadable record is the reader's business, not the estimate's
            continue
        if summary is None or summary.status is not Status.COMPLETED:
            continue
        spec = record.spec
        options_there = tuple(sorted((k, str(v)) for k, v in (spec.get("generator_options") or {}).items()))
        hardware = summary.hardware or {}
        if (
            (record.generator, record.variant, record.image_size, spec.get("batch_size"))
            != (generator, variant, size, batch)
            or options_there != options
            or summary.device != machine.device
            or summary.precision != resolved
            or (hardware.get("gpu") if machine.device == "cuda" else hardware.get("cpu")) != machine.model
            or (machine.device == "cpu" and hardware.get("threads") != machine.threads)
        ):
            continue
        timings = _timings(directory, record, summary)
        if timings is not None:
            found.append((directory.path.stat().st_mtime, timings))
    if not found:
        return None
    latest = [t for _, t in sorted(found, key=lambda x: x[0])[-STORE_RUNS_USED:]]

    def median(key: str) -> float:
        return statistics.median(t[key] for t in latest)

    return Costs(
        train_s_per_image=median("train"),
        eval_s_per_image=median("eval"),
        checkpoint_s=0.0,
        warmup_s=median("warmup"),
        run_start_s=median("other"),
        source=(
            f"store: timings of {len(latest)} earlier run(s) of {describe_kind(kind)} on this machine "
            "(their checkpoint saves counted in the per-run start)"
        ),
    )


def _timings(directory, record, summary) -> dict[str, float] | None:
    rows, _ = directory.read_history()
    rows = [r for r in rows if r.get("train_images") and r.get("wall_time_s")]
    val = int((record.data or {}).get("val") or 0)
    if not rows or not val:
        return None
    per_image = [r["wall_time_s"] / r["train_images"] for r in rows]
    steady = statistics.median(per_image[1:] or per_image)
    warmup = max(0.0, rows[0]["wall_time_s"] - steady * rows[0]["train_images"])
    evals = [r["eval_wall_time_s"] for r in rows if "eval_wall_time_s" in r]
    between = [r["eval_wall_time_s"] for r in rows[:-1] if "eval_wall_time_s" in r]
    eval_each = statistics.median(between or evals) if evals else 0.0
    wall = summary.wall_seconds_this_session or 0.0
    other = max(0.0, wall - sum(r["wall_time_s"] for r in rows) - sum(evals))
    return {"train": steady, "warmup": warmup, "eval": eval_each / val, "other": other}


# ---------------------------------------------------------------------- the probe
def probe(spec, machine: Machine, write_dir: Path, val_images: int, num_samples: int = 0) -> Costs:
    """Measure one kind of run here: build, warm-up step, timed steps, one eval pass, the end of a
    run (set metrics, samples), record writes and a save."""
    import io

    import numpy as np
    import torch
    from torchvision.utils import save_image

    from colorbench.data import BatchLoader
    from colorbench.measures import set_measures
    from colorbench.models import PatchDiscriminator, get_generator
    from colorbench.store.atomic import atomic_write_bytes, atomic_write_json
    from colorbench.training.evaluation import evaluate, evaluate_sets, predict_rgb, truth_rgb
    from colorbench.training.objective import GANLoss, pix2pix_train_step
    from colorbench.training.performance import make_optimizers, prepare_modules
    from colorbench.training.trainer import _autocast_factory, initialise_networks

    device, precision = machine.device, machine.precision_of[spec.precision]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    plugin = get_generator(spec.generator)
    trainable = plugin.is_trainable(spec.variant)
    t0 = time.perf_counter()
    torch.manual_seed(spec.seed)
    generator = plugin.build_module(spec.variant, spec.image_size, spec.generator_options)
    discriminator = PatchDiscriminator(in_channels=3)
    initialise_networks(spec, plugin, generator, discriminator)
    prepare_modules(generator, discriminator, device)
    build_s = time.perf_counter() - t0
    autocast = _autocast_factory(device, precision)
    size, batch = spec.image_size, spec.batch_size
    rng = np.random.default_rng(0)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        l_norm = rng.uniform(-1, 1, (n, 1, size, size)).astype(np.float16)
        return l_norm, rng.uniform(-0.2, 0.2, (n, 2, size, size)).astype(np.float16)

    steady = warmup = 0.0
    steps = 0
    if trainable:
        opt_g, opt_d = make_optimizers(generator, discriminator, spec.lr, device, tuple(spec.betas))
        gan = GANLoss(spec.gan_mode)
        l_np, ab_np = images(batch)
        l_norm, ab = torch.from_numpy(l_np).float().to(device), torch.from_numpy(ab_np).float().to(device)

        def step() -> float:
            start = time.perf_counter()
            pix2pix_train_step(
                generator, discriminator, gan, opt_g, opt_d, l_norm, ab, spec.lambda_l1, autocast
            )
            sync()
            return time.perf_counter() - start

        first, steady = step(), step()
        steps = 2
        if steady < PROBE_STEP_SECONDS / 2:  # short steps: time more of them
            more = min(20, int(PROBE_STEP_SECONDS / max(steady, 1e-6)))
            steady = min(steady, sum(step() for _ in range(more)) / more)
            steps += more
        warmup = max(0.0, first - steady)
    # One evaluation pass, with every metric, over what the trainer evaluates in one batch.
    val_batch = max(batch, 32)
    n_val = max(1, min(val_images or val_batch, val_batch))
    loader = BatchLoader(
        *images(n_val), val_batch, shuffle=False, seed=0, flip=False, drop_last=False, device=device
    )
    t0 = time.perf_counter()
    evaluate(
        generator,
        discriminator if trainable else None,
        loader,
        device=device,
        gan_mode=spec.gan_mode,
        lambda_l1=spec.lambda_l1,
        autocast=autocast,
        discriminator_mode=spec.val_discriminator,
    )
    sync()
    eval_s = time.perf_counter() - t0
    checkpoint_s = 0.0
    with tempfile.TemporaryDirectory(dir=write_dir, prefix=".colorbench-probe-") as tmp:
        # The end of a run: the per-set metrics over the val images, and the sample predictions.
        t0 = time.perf_counter()
        l_val, ab_val = (torch.from_numpy(a).float() for a in images(n_val))
        predicted = predict_rgb(generator, l_val, device=device, autocast=autocast)
        evaluate_sets(
            set_measures(), [str(i) for i in range(n_val)], truth_rgb(l_val, ab_val)[1], predicted, 0
        )
        for i in range(min(num_samples, n_val)):
            save_image(predicted[i], Path(tmp) / f"{i:03d}.png")
        finish_s = time.perf_counter() - t0
        # A run's records (config, summary, history, per-image rows) are small atomic, fsynced writes.
        record = {"probe": list(range(200))}
        t0 = time.perf_counter()
        for i in range(RECORD_WRITES_TIMED):
            atomic_write_json(Path(tmp) / f"record{i}.json", record)
        record_write_s = (time.perf_counter() - t0) / RECORD_WRITES_TIMED
        if trainable:
            buffer = io.BytesIO()
            t0 = time.perf_counter()
            weights = {"generator": generator.state_dict(), "discriminator": discriminator.state_dict()}
            torch.save(weights, buffer)
            atomic_write_bytes(Path(tmp) / "probe.pt", buffer.getvalue())
            checkpoint_s = (time.perf_counter() - t0) / PROBE_WRITE_FRACTION
    what = f"{steps} training steps, " if trainable else ""
    return Costs(
        train_s_per_image=steady / batch,
        eval_s_per_image=eval_s / n_val,
        checkpoint_s=checkpoint_s,
        warmup_s=warmup,
        run_start_s=build_s + finish_s,
        record_write_s=record_write_s,
        source=f"probe: {describe_kind(kind_of(spec))}, {what}one eval pass of {n_val} images, measured now",
    )


def _writable_parent(path: Path) -> Path:
    """Where the probe may write its temporary file: the store, or its nearest existing parent."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return path if os.access(path, os.W_OK) else Path(tempfile.gettempdir())


# ---------------------------------------------------------------------- the study
def process_seconds() -> float:
    """Seconds since this process started (its imports and planning), 0.0 where unknown."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
        with open("/proc/uptime") as f:
            return max(0.0, float(f.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def plan_estimate(
    plan,
    store,
    *,
    cache_dir: str | None,
    workers: int = 1,
    runs_per_device: int | None = None,
    packing_speedup: float = 1.0,
    allow_probe: bool = True,
    startup_s: float | None = None,
) -> tuple[StudyEstimate, Machine]:
    """The estimate of what ``plan`` still has to train, on this machine.

    ``runs_per_device`` None: every worker shares the one device when it is the CPU; on a GPU,
    one run per device.
    """
    from colorbench.data.cache import load_prepared, locate
    from colorbench.study.runner import check_generators

    todo = plan.to_train()
    startup_s = process_seconds() if startup_s is None else startup_s
    device = todo[0].options.device if todo else "auto"
    machine = this_machine(device)
    if runs_per_device is None:
        runs_per_device = workers if machine.device == "cpu" else 1
    notes = []
    counts: dict[Any, tuple[int, int]] = {}
    unprepared = set()
    for data in dict.fromkeys(r.spec.data for r in todo):
        selection, path = locate(data, cache_dir)
        prepared = load_prepared(path)
        if prepared is None:
            unprepared.add(data)
            counts[data] = (len(selection.train), len(selection.val))
        else:
            counts[data] = (int(prepared.meta["train"]), int(prepared.meta["val"]))
    if unprepared:
        notes.append(
            "preparing the data is not included (not cached yet: colorbench data prepare, or the first "
            "run prepares it); image counts are before skipping bad images"
        )
    kinds = list(dict.fromkeys(kind_of(r.spec) for r in todo))
    specs = {kind_of(r.spec): r.spec for r in todo}
    costs: dict[tuple, Costs] = {}
    for kind in kinds:
        found = from_store(store, kind, machine)
        if found is not None:
            costs[kind] = found
    left = [k for k in kinds if k not in costs]
    if left and allow_probe:
        # The real run first checks each generator with one forward (runner.check_generators).
        started = time.perf_counter()
        check_generators(plan)
        startup_s += time.perf_counter() - started
        write_dir = _writable_parent(store.root)
        started = time.perf_counter()
        for kind in sorted(left, key=lambda k: k[3] * k[2] ** 2, reverse=True):
            if kind not in costs and (
                time.perf_counter() - started < PROBE_BUDGET_S or not _probed(costs, kind)
            ):
                spec = specs[kind]
                num_samples = next(r.options.num_samples for r in todo if kind_of(r.spec) == kind)
                costs[kind] = probe(spec, machine, write_dir, counts[spec.data][1], num_samples)
        _fill_unprobed(kinds, costs)
    elif left:
        notes.append(
            f"{sum(1 for r in todo if kind_of(r.spec) in left)} run(s) left out: no comparable run in the "
            "store and --no-probe"
        )
    shapes = []
    for run in todo:
        kind = kind_of(run.spec)
        if kind not in costs:
            continue
        spec = run.spec
        n_train, n_val = counts[spec.data]
        done = (store.run(run.run_id).checkpoint_epoch() or 0) if run.state is Status.INTERRUPTED else 0
        trainable = _trainable(spec)
        shapes.append(
            (
                RunShape(
                    label=run.label,
                    generator=run.generator,
                    epochs=max(0, spec.epochs - done) if trainable else 0,
                    total_epochs=spec.epochs if trainable else 0,
                    train_images_per_epoch=train_images_per_epoch(n_train, spec.batch_size),
                    val_images=n_val,
                    eval_every=run.options.eval_every,
                    checkpoint_every=run.options.checkpoint_every,
                ),
                costs[kind],
            )
        )
    estimate = estimate_study(
        shapes,
        workers=workers,
        runs_per_device=runs_per_device,
        packing_speedup=packing_speedup,
        startup_s=startup_s,
        worker_start_s=startup_s,
    )
    estimate.notes = notes
    if workers > 1:
        estimate.notes.append(f"each of the {workers} workers is taken to start as this process did")
    return estimate, machine


def _trainable(spec) -> bool:
    from colorbench.models import get_generator

    return get_generator(spec.generator).is_trainable(spec.variant)


def _probed(costs: dict[tuple, Costs], kind: tuple) -> bool:
    """Whether ``kind``'s generator has a probed kind already (else it is probed past the budget)."""
    return any(k[0] == kind[0] and c.source.startswith("probe") for k, c in costs.items())


def _fill_unprobed(kinds: list[tuple], costs: dict[tuple, Costs]) -> None:
    """Kinds the budget left out: the per-image costs of the nearest probed kind of the generator."""
    from dataclasses import replace

    for kind in kinds:
        if kind in costs:
            continue
        same = [k for k in costs if k[0] == kind[0] and costs[k].source.startswith("probe")]
        nearest = min(same, key=lambda k: (k[1] != kind[1], k[2] != kind[2], abs(k[3] - kind[3])))
        costs[kind] = replace(
            costs[nearest],
            source=f"{describe_kind(kind)}: not probed (budget), taken as "
            f"{costs[nearest].source.removeprefix('probe: ').split(',')[0]}'s per-image costs",
        )
