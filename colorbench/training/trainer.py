"""One run: train a generator variant with the pix2pix objective, evaluate, checkpoint, resume.

:func:`train_run` is the entry point: it takes a :class:`~colorbench.training.spec.RunSpec` (what
the run is) and :class:`~colorbench.training.spec.RunOptions` (how it executes), resolves ``auto``
device and precision on this machine, and keeps its files through
:class:`~colorbench.store.RunDirectory`. :class:`_Run` keeps the state of one run while it trains.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import colorbench
from colorbench.data import BatchLoader, PreparedData, prepare
from colorbench.errors import ColorbenchError
from colorbench.measures.builtin import LOSS_D, LOSS_G
from colorbench.models import PatchDiscriminator, get_generator, init_weights
from colorbench.models.conformance import check_output
from colorbench.store import RunDirectory, RunRecord, Status, Summary, UnreadableRecordError
from colorbench.store.checkpoint import (
    DamagedCheckpointError,
    UnsafeCheckpointError,
    rng_state,
    seed_everything,
    set_rng_state,
)
from colorbench.training.baseline import ensure_gray_baseline
from colorbench.training.checkpointing import CheckpointPolicy, StopAtEpochEnd
from colorbench.training.evaluation import Evaluation, evaluate, per_image_rows, predict_rgb
from colorbench.training.hardware import device_name, hardware_record, resolve_device, resolve_precision
from colorbench.training.objective import LOSS_NAMES, GANLoss, pix2pix_train_step
from colorbench.training.performance import configure_threads, make_optimizers, prepare_modules
from colorbench.training.resume import check_checkpoint_precision
from colorbench.training.spec import INIT_TARGET_NETWORKS, RunOptions, RunSpec

LOG_EVERY_STEPS = 20  # host synchronisations (finite check, live losses) happen only this often


def train_run(
    spec: RunSpec,
    options: RunOptions,
    run_dir: RunDirectory | str | Path,
    *,
    data: PreparedData | None = None,
    cache_dir: str | Path | None = None,
    progress: bool | None = None,
    verbose: bool = True,
    stop_check: Callable[[], str | None] | None = None,
) -> Summary:
    """Train and evaluate one run in ``run_dir`` (``Store(root).run(run_id)`` or its path); resume it
    if it can.

    Returns the summary (also written to the run directory). A run that cannot run raises
    :class:`ColorbenchError` before any work; a run whose losses become NaN/inf ends ``diverged``;
    Ctrl-C writes ``interrupted`` (the last checkpoint stays) and re-raises. ``stop_check`` is
    asked after each epoch's checkpoint (a safe point); when it returns a reason, the run stops
    there as on Ctrl-C (a worker whose study's process has gone uses it). A run that is already
    completed or diverged is returned as it is. A checkpoint that is damaged, or that cannot be
    opened safely (an older format), is set aside and the run starts again from scratch. A
    checkpoint trained in another precision than this machine resolves the run's to raises
    :class:`PrecisionChangedError` before any work, or, with ``options.restart``, is set aside too.
    """
    plugin = get_generator(spec.generator)
    if data is None:
        data = prepare(spec.data, cache_dir=cache_dir)
    n_train = data.train_l.shape[0]
    if spec.batch_size > n_train:
        raise ColorbenchError(
            f"batch size {spec.batch_size} is larger than the train split ({n_train} images)"
        )
    if data.train_l.shape[-1] != spec.image_size:
        raise ColorbenchError(
            f"prepared data is {data.train_l.shape[-1]} px but the run asks for {spec.image_size} px"
        )
    device = resolve_device(options.device)
    precision = resolve_precision(spec.precision, device)
    writer_class = _tensorboard_writer_class() if options.tensorboard else None

    if progress is None:
        progress = verbose and sys.stderr.isatty()
    directory = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir)
    directory.claim(run_record(spec, options, plugin, data))
    directory.remove_orphan_tmp()
    try:
        finished = directory.read_summary()
    except UnreadableRecordError:
        finished = None  # damaged: the run's state is rebuilt from its checkpoint, or from scratch
    if finished is not None and finished.status.finished:
        return finished
    restarted = check_checkpoint_precision(spec, directory, precision, restart=options.restart)
    run = _Run(spec, options, plugin, data, directory, device, precision, progress, verbose)
    if restarted is not None:
        run.summary.restarted_from_scratch = restarted
        run.say(f"{restarted}; the run starts again from scratch")
    run.stop_check = stop_check
    if writer_class is not None:
        run.writer = writer_class(log_dir=str(directory.tensorboard_dir))
    try:
        return run.execute()
    finally:
        if run.writer is not None:
            run.writer.close()


def run_record(spec: RunSpec, options: RunOptions, plugin, data: PreparedData) -> RunRecord:
    variant = plugin.variant(spec.variant)
    return RunRecord(
        run_id=spec.run_id,
        generator=spec.generator,
        variant=spec.variant,
        spec=spec.to_dict(),
        spec_hash=spec.spec_hash,
        lineage=spec.lineage,
        options=options.to_dict(),
        plugin={
            "name": plugin.name,
            "description": plugin.description,
            "display_name": plugin.shown_name,
            "variant_label": plugin.label(spec.variant),
            "depth": variant.depth,
            "trainable": plugin.is_trainable(spec.variant),
            "manages_init": plugin.manages_own_init(spec.variant, spec.generator_options),
            **spec.plugin,
        },
        data={
            "key": data.key,
            "path": str(data.path),
            "train": int(data.train_l.shape[0]),
            "val": int(data.val_l.shape[0]),
            "spec": data.meta.get("spec"),
            "format_version": data.meta.get("format_version"),
        },
    )


def initialise_networks(
    spec: RunSpec, plugin, generator: torch.nn.Module, discriminator: torch.nn.Module
) -> tuple[str, ...]:
    """Apply the run's init scheme to the networks ``spec.init_targets`` names; returns those it
    touched (a generator that manages its own init is never touched)."""
    networks = {"generator": generator, "discriminator": discriminator}
    touched = []
    for name in INIT_TARGET_NETWORKS[spec.init_targets]:
        if name == "generator" and plugin.manages_own_init(spec.variant, spec.generator_options):
            continue
        init_weights(networks[name], spec.init, spec.init_gain)
        touched.append(name)
    return tuple(touched)


class _Run:
    def __init__(
        self,
        spec: RunSpec,
        options: RunOptions,
        plugin,
        data: PreparedData,
        directory: RunDirectory,
        device: str,
        precision: str,
        progress: bool,
        verbose: bool,
    ):
        self.spec, self.options, self.plugin, self.data, self.dir = spec, options, plugin, data, directory
        self.device, self.precision, self.progress, self.verbose = device, precision, progress, verbose
        self.autocast = _autocast_factory(device, precision)
        self.trainable = plugin.is_trainable(spec.variant)
        self.writer = None
        self.stop_check: Callable[[], str | None] | None = None
        self.history: list[dict[str, Any]] = []
        self.per_image: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.checkpoint_policy = CheckpointPolicy(options.checkpoint_every)
        self.checkpointed_epoch = 0  # the epoch a resume would continue after
        self.started = time.time()
        self.image_ids = list(data.meta.get("val_files") or [str(i) for i in range(len(data.val_l))])

        seed_everything(spec.seed)
        configure_threads()
        self.generator = plugin.build_module(spec.variant, spec.image_size, spec.generator_options)
        self.discriminator = PatchDiscriminator(in_channels=3)
        initialise_networks(spec, plugin, self.generator, self.discriminator)
        prepare_modules(self.generator, self.discriminator, device)
        # One batch before any training: a wrong shape or raw a*b* output is one line, not a torch error.
        check_output(plugin, spec.variant, spec.image_size, spec.generator_options, self.generator)

        self.val_loader = BatchLoader(
            data.val_l,
            data.val_ab,
            max(spec.batch_size, 32),
            shuffle=False,
            seed=spec.seed,
            flip=False,
            drop_last=False,
            device=device,
            sharing=options.runs_on_device,
        )
        self.summary = Summary(
            Status.RUNNING,
            run_id=spec.run_id,
            generator=plugin.name,
            variant=spec.variant,
            epochs=spec.epochs,
            versions=_versions(spec),
            device=device,
            device_name=device_name(device),
            precision=precision,
            data_placement=self.val_loader.placement,
            hardware=hardware_record(device),
            generator_parameters=sum(p.numel() for p in self.generator.parameters()),
        )

    def say(self, line: str) -> None:
        """One line to train.log and, when verbose, to stdout (above a progress bar, if one shows)."""
        self.dir.log(line)
        if self.verbose:
            tqdm.write(line, file=sys.stdout)

    # ------------------------------------------------------------------ the whole run
    def execute(self) -> Summary:
        self.say(
            f"run {self.dir.path}: {self.plugin.name} {self.spec.variant}, {self.spec.image_size} px, "
            f"{self.spec.epochs} epochs, seed {self.spec.seed}, device {self.device}, "
            f"precision {self.precision}"
        )
        from colorbench.measures import skipped_metrics

        for name, reason in skipped_metrics():  # a broken metric plugin is said, never fatal
            self.say(f"warning: metric {name!r} is left out: {reason}")
        if self.trainable:
            self.train()
        else:
            self.dir.write_summary(self.summary)
            self.say(f"{self.plugin.name} {self.spec.variant} is not trainable: evaluating without training")
        if self.summary.status is Status.RUNNING:
            self.finish()
        gray = ensure_gray_baseline(
            self.dir.store,
            self.data,
            self.val_loader,
            self.image_ids,
            self.device,
            self.options.num_samples,
        )
        self.summary.baseline_gray = gray
        self.summary.train_seconds = self.train_seconds
        trained = sum(r["train_images"] for r in self.history)
        self.summary.images_per_s = trained / self.train_seconds if self.train_seconds else None
        self.summary.wall_seconds_this_session = time.time() - self.started
        self.dir.write_summary(self.summary)
        self.say(f"{self.summary.status.value}: {self.dir.path}")
        return self.summary

    def train(self) -> None:
        betas = tuple(self.spec.betas)
        self.opt_g, self.opt_d = make_optimizers(
            self.generator, self.discriminator, self.spec.lr, self.device, betas
        )
        start_epoch = self.resume() + 1
        self.dir.write_summary(self.summary)
        train_loader = BatchLoader(
            self.data.train_l,
            self.data.train_ab,
            self.spec.batch_size,
            shuffle=self.spec.train_order == "shuffled",
            seed=self.spec.seed,
            flip=True,
            drop_last=True,
            device=self.device,
            sharing=self.options.runs_on_device,
        )
        self.summary.data_placement = train_loader.placement
        gan_loss = GANLoss(self.spec.gan_mode)
        try:
            with StopAtEpochEnd() as stop:
                self._train_epochs(start_epoch, train_loader, gan_loss, stop)
        except KeyboardInterrupt:
            self.summary.status = Status.INTERRUPTED
            self.summary.epochs_completed = self.checkpointed_epoch
            self.summary.train_seconds = self.train_seconds
            self.dir.write_summary(self.summary)
            self.say(f"interrupted; resumes after epoch {self.checkpointed_epoch}")
            raise

    def _train_epochs(self, start_epoch: int, train_loader, gan_loss, stop: StopAtEpochEnd) -> None:
        for epoch in range(start_epoch, self.spec.epochs + 1):
            means, seconds = self.train_epoch(epoch, train_loader, gan_loss)
            if means is None:
                self.summary.status = Status.DIVERGED
                self.summary.diverged_epoch = epoch
                self.summary.epochs_completed = len(self.history)
                last = self.history[-1] if self.history else None
                self.summary.last_finite_losses = {k: last[k] for k in LOSS_NAMES} if last else None
                self.say(f"epoch {epoch}: a loss became NaN or infinite; run marked diverged")
                return
            self.end_epoch(epoch, means, seconds)
            # On the time budget, and always after the last epoch and before stopping.
            due = self.checkpoint_policy.due(seconds)
            if due or epoch == self.spec.epochs or stop.requested:
                self.save_checkpoint(epoch)
            # After the checkpoint, so an epoch in the history file has one unless the budget
            # skipped it; a resume rewrites the history from its checkpoint's either way.
            self.dir.write_history(self.history)
            # A worker whose study's process has gone is asked between epochs (study/local_workers.py).
            reason = self.stop_check() if self.stop_check and epoch < self.spec.epochs else None
            if reason:
                if not (due or stop.requested):
                    self.save_checkpoint(epoch)
                self.say(f"stopping after epoch {epoch}: {reason}")
            if stop.requested or reason:
                raise KeyboardInterrupt

    def resume(self) -> int:
        """Load the checkpoint if there is one; returns the last complete epoch (0 if none)."""
        if not self.dir.has_checkpoint():
            self._start_over_files()
            return 0
        try:
            state = self.dir.load_checkpoint(trust=self.options.trust_checkpoint)
        except (DamagedCheckpointError, UnsafeCheckpointError) as exc:
            self.summary.restarted_from_scratch = str(exc)
            self.say(f"{exc}; the run starts again from scratch")
            self.dir.discard_checkpoint()
            self._start_over_files()
            return 0
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        self.history = list(state["history"])
        self.train_seconds = float(state["train_seconds"])
        epoch = self.checkpointed_epoch = int(state["epoch"])
        # The logs follow the checkpoint: epochs after it are trained again, identically.
        self.dir.write_history(self.history)
        try:
            frame = self.dir.read_per_image()
        except UnreadableRecordError:
            frame = None
        if frame is not None:
            self.per_image = frame[frame["epoch"] <= epoch].to_dict("records")
            self._write_per_image()
        self.say(f"resuming {self.dir.run_id} after epoch {epoch}")
        return epoch

    def _start_over_files(self) -> None:
        self.history, self.per_image = [], []
        self.dir.write_history([])
        self.dir.discard_per_image()

    def train_epoch(self, epoch: int, loader: BatchLoader, gan_loss: GANLoss):
        """One epoch; returns (weighted means, seconds), or (None, seconds) if a loss went NaN/inf."""
        from colorbench.metrics import MeanAccumulator

        self.generator.train()
        self.discriminator.train()
        loader.set_epoch(epoch)
        means = MeanAccumulator()
        bar = tqdm(
            total=len(loader),
            desc=f"epoch {epoch}/{self.spec.epochs}",
            disable=not self.progress,
            leave=False,
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        for step, (l_norm, ab_true) in enumerate(loader, 1):  # already on self.device
            losses = pix2pix_train_step(
                self.generator,
                self.discriminator,
                gan_loss,
                self.opt_g,
                self.opt_d,
                l_norm,
                ab_true,
                self.spec.lambda_l1,
                self.autocast,
            )
            means.update(losses, l_norm.shape[0])
            if step % LOG_EVERY_STEPS == 0:
                if not means.all_finite():
                    break
                current = means.compute()
                bar.set_postfix(G=f"{current[LOSS_G.name]:.3f}", D=f"{current[LOSS_D.name]:.3f}")
            bar.update(1)
        bar.close()
        if self.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        return (means if means.all_finite() else None), seconds

    def end_epoch(self, epoch: int, means, seconds: float) -> None:
        row: dict[str, Any] = {
            "epoch": epoch,
            **means.compute(),
            "train_images": means.count,
            "wall_time_s": seconds,
            "images_per_s": means.count / seconds,
        }
        if self.options.eval_every and epoch % self.options.eval_every == 0 and epoch != self.spec.epochs:
            row.update(self._timed_evaluation(epoch))
        self.history.append(row)
        self.train_seconds += seconds
        # Logged before any checkpoint: a kill between the two repeats the epoch's line when the
        # epoch is trained again, where logging after could lose it for good.
        self.say(
            f"epoch {epoch}/{self.spec.epochs} {_format_losses({k: row[k] for k in LOSS_NAMES})} "
            f"{row['images_per_s']:.1f} img/s {seconds:.1f}s{_format_evaluation(row)}"
        )
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, epoch)

    def save_checkpoint(self, epoch: int) -> None:
        t0 = time.perf_counter()
        self.dir.save_checkpoint(
            {
                "epoch": epoch,
                "generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "rng": rng_state(),
                "history": self.history,
                "train_seconds": self.train_seconds,
                "spec_hash": self.spec.spec_hash,
                "precision": self.precision,  # as resolved: a resume in another one is refused
            }
        )
        self.checkpoint_policy.saved(time.perf_counter() - t0)
        self.checkpointed_epoch = epoch

    def _timed_evaluation(self, epoch: int) -> dict[str, float]:
        # Timed so that the cost of evaluating often (eval_every) can be read off the store.
        t0 = time.perf_counter()
        means = dict(self.evaluate(epoch).means)
        means["eval_wall_time_s"] = time.perf_counter() - t0
        return means

    def evaluate(self, epoch: int) -> Evaluation:
        result = evaluate(
            self.generator,
            self.discriminator if self.trainable else None,
            self.val_loader,
            device=self.device,
            gan_mode=self.spec.gan_mode,
            lambda_l1=self.spec.lambda_l1,
            autocast=self.autocast,
            discriminator_mode=self.spec.val_discriminator,
        )
        self.per_image = [r for r in self.per_image if r["epoch"] != epoch]
        self.per_image.extend(per_image_rows(epoch, self.image_ids, result.per_image))
        self._write_per_image()
        return result

    def _write_per_image(self) -> None:
        import pandas as pd

        self.dir.write_per_image(pd.DataFrame(self.per_image))

    def finish(self) -> None:
        """Final evaluation on the whole val split, and the predictions of the first val images."""
        epoch = len(self.history)
        t0 = time.perf_counter()
        final = self.evaluate(epoch)
        set_values, set_missing = self.evaluate_sets()
        not_computed = {**final.not_computed, **set_missing}
        if self.history:
            self.history[-1].update(final.means, eval_wall_time_s=time.perf_counter() - t0)
            self.dir.write_history(self.history)
            self.say(f"final evaluation{_format_evaluation(self.history[-1])}")
        self.summary.samples = self.save_samples()
        self.summary.status = Status.COMPLETED
        self.summary.epochs_completed = epoch
        self.summary.final_train = {k: self.history[-1][k] for k in LOSS_NAMES} if self.history else None
        self.summary.final_val = {**final.means, **{name: v.value for name, v in set_values.items()}}
        # Per-set values with their uncertainty, and what could not be computed here and why.
        if set_values:
            self.summary.extra["set_metrics"] = {name: asdict(v) for name, v in set_values.items()}
        if not_computed:
            self.summary.extra["not_computed"] = not_computed
            for name, reason in not_computed.items():
                self.say(f"metric {name!r} not computed: {reason}")
        if self.writer is not None:
            for key, value in final.means.items():
                self.writer.add_scalar(f"final/{key}", value, epoch)

    def evaluate_sets(self):
        """The per-set metrics over the whole val split (none declared: nothing is predicted)."""
        from colorbench.measures import set_measures
        from colorbench.training.evaluation import evaluate_sets, truth_rgb

        measures = set_measures()
        if not measures:
            return {}, {}
        real, predicted = [], []
        for l_norm, ab_true in self.val_loader:
            l_norm, ab_true = l_norm.float().cpu(), ab_true.float().cpu()
            predicted.append(predict_rgb(self.generator, l_norm, device=self.device, autocast=self.autocast))
            real.append(truth_rgb(l_norm, ab_true)[1])
        return evaluate_sets(
            measures, self.image_ids, torch.cat(real).cpu(), torch.cat(predicted).cpu(), self.spec.seed
        )

    def save_samples(self) -> list[str]:
        from torchvision.utils import make_grid, save_image

        n = min(self.options.num_samples, int(self.data.val_l.shape[0]))
        if not n:
            return []
        l_norm = torch.from_numpy(self.data.val_l[:n].astype("float32"))
        rgb = predict_rgb(self.generator, l_norm, device=self.device, autocast=self.autocast)
        self.dir.samples_dir.mkdir(parents=True, exist_ok=True)
        names = []
        for i in range(n):
            path = self.dir.sample_path(i)
            save_image(rgb[i], path)
            names.append(path.name)
        if self.writer is not None:
            self.writer.add_image("samples (prediction)", make_grid(rgb, nrow=8), len(self.history))
        return names


# ---------------------------------------------------------------------- helpers
def _autocast_factory(device: str, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    if precision == "bf16":
        return functools.partial(torch.autocast, device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _versions(spec: RunSpec) -> dict[str, str]:
    return {
        "colorbench": colorbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "plugin": str(spec.plugin.get("version")),
    }


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k.removeprefix('loss_')}={v:.4f}" for k, v in losses.items())


def _format_evaluation(row: dict[str, Any]) -> str:
    """`` val CIEDE2000=12.34 L1=5.67 (evaluated in 1.2s)`` for an epoch that was evaluated, else ''.

    The metrics shown are those declared with a ``log`` position (colorbench.measures)."""
    if "eval_wall_time_s" not in row:
        return ""
    from colorbench.measures import metric_measures

    shown = sorted((m for m in metric_measures() if m.log and m.name in row), key=lambda m: m.log)
    values = "".join(f" {m.label}={row[m.name]:.3f}" for m in shown)
    return f" val{values} (evaluated in {row['eval_wall_time_s']:.1f}s)"


def _tensorboard_writer_class():
    """Checked before any work: asking for TensorBoard without the package is a usage error."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ColorbenchError(
            "tensorboard logging needs the tensorboard package: pip install 'colorbench[tensorboard]'"
        ) from None
    return SummaryWriter
