"""One run: train a generator variant with the pix2pix objective, evaluate, checkpoint, resume.

What a run directory holds is described in ``rundir.py``. :func:`train_run` is the entry point;
:class:`_Run` keeps the state of one run while it trains (models, optimisers, history, summary).
"""

from __future__ import annotations

import contextlib
import functools
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import colorbench
from colorbench.data import BatchLoader, PreparedData, prepare
from colorbench.errors import ColorbenchError
from colorbench.models import PatchDiscriminator, init_weights, plugin_version
from colorbench.training.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from colorbench.training.config import RunConfig, config_hash, data_spec_for, resolve_config
from colorbench.training.evaluation import WeightedMeans, evaluate, gray_baseline, save_samples
from colorbench.training.objective import LOSS_NAMES, GANLoss, pix2pix_train_step
from colorbench.training.performance import configure_threads, make_optimizers, prepare_modules
from colorbench.training.rundir import RunDirectory

LOG_EVERY_STEPS = 20  # host synchronisations (finite check, live losses) happen only this often


def train_run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    data: PreparedData | None = None,
    cache_dir: str | Path | None = None,
    progress: bool | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train and evaluate one run in ``run_dir``; resume it if a checkpoint is there.

    Returns the summary (also written to ``summary.json``). A configuration that cannot run raises
    :class:`ColorbenchError` before any work; a run whose losses become NaN/inf returns with status
    ``diverged``; Ctrl-C writes status ``interrupted`` (the last complete epoch's checkpoint stays)
    and re-raises. A run that is already completed or diverged is returned as it is.
    """
    resolved, plugin = resolve_config(config)
    if data is None:
        data = prepare(data_spec_for(resolved), cache_dir=cache_dir)
    n_train = data.train_l.shape[0]
    if resolved.batch_size > n_train:
        raise ColorbenchError(
            f"batch size {resolved.batch_size} is larger than the train split ({n_train} images)"
        )
    if data.train_l.shape[-1] != resolved.image_size:
        raise ColorbenchError(
            f"prepared data is {data.train_l.shape[-1]} px but the run asks for {resolved.image_size} px"
        )
    writer_class = _tensorboard_writer_class() if resolved.tensorboard else None

    if progress is None:
        progress = verbose and sys.stderr.isatty()
    directory = RunDirectory(run_dir, echo=verbose and not progress)
    directory.claim(_run_record(resolved, plugin, data))
    finished = directory.finished_summary()
    if finished is not None:
        return finished
    run = _Run(resolved, plugin, data, directory, progress)
    if writer_class is not None:
        run.writer = writer_class(log_dir=str(directory.tensorboard))
    try:
        return run.execute()
    finally:
        if run.writer is not None:
            run.writer.close()


def _run_record(config: RunConfig, plugin, data: PreparedData) -> dict[str, Any]:
    version = plugin_version(plugin.name)
    return {
        "config": config.to_dict(),
        "config_hash": config_hash(config, version),
        "plugin": {
            "name": plugin.name,
            "description": plugin.description,
            "trainable": plugin.trainable,
            "manages_init": plugin.manages_init,
            "version": version,
            "variant_label": plugin.label(config.variant),
        },
        "data": {
            "key": data.key,
            "path": str(data.path),
            "train": int(data.train_l.shape[0]),
            "val": int(data.val_l.shape[0]),
            "spec": data.meta.get("spec"),
            "format_version": data.meta.get("format_version"),
        },
    }


class _Run:
    def __init__(
        self, config: RunConfig, plugin, data: PreparedData, directory: RunDirectory, progress: bool
    ):
        self.config, self.plugin, self.data, self.dir, self.progress = (
            config,
            plugin,
            data,
            directory,
            progress,
        )
        self.device = config.device
        self.autocast = _autocast_factory(self.device, config.precision)
        self.writer = None
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.started = time.time()

        seed_everything(config.seed)
        configure_threads()
        self.generator = plugin.build_module(config.variant, config.image_size)
        self.discriminator = PatchDiscriminator(in_channels=3)
        if not plugin.manages_init:
            init_weights(self.generator, config.init, config.init_gain)
        init_weights(self.discriminator, config.init, config.init_gain)
        prepare_modules(self.generator, self.discriminator, self.device)

        self.val_loader = BatchLoader(
            data.val_l,
            data.val_ab,
            max(config.batch_size, 32),
            shuffle=False,
            seed=config.seed,
            flip=False,
            drop_last=False,
            device=self.device,
        )
        self.summary: dict[str, Any] = {
            "status": "running",
            "run_dir": str(directory.path),
            "config_hash": config_hash(config, plugin_version(plugin.name)),
            "generator": plugin.name,
            "variant": config.variant,
            "epochs": config.epochs,
            "versions": _versions(plugin.name),
            "device": self.device,
            "device_name": _device_name(self.device),
            "precision": config.precision,
            "data_placement": self.val_loader.placement,
        }

    # ------------------------------------------------------------------ the whole run
    def execute(self) -> dict[str, Any]:
        if self.plugin.trainable:
            self.train()
        else:
            self.dir.write_summary(self.summary)
            self.dir.log(f"{self.plugin.name} is not trainable: evaluating without training")
        if self.summary["status"] == "running":
            self.finish()
        self.summary["baseline_gray"] = gray_baseline(self.val_loader, self.device)
        self.summary["train_seconds"] = self.train_seconds
        trained = sum(r["train_images"] for r in self.history)
        self.summary["images_per_s"] = trained / self.train_seconds if self.train_seconds else None
        self.summary["wall_seconds_this_session"] = time.time() - self.started
        self.dir.write_summary(self.summary)
        self.dir.log(f"{self.summary['status']}: {self.dir.path}")
        return self.summary

    def train(self) -> None:
        self.opt_g, self.opt_d = make_optimizers(
            self.generator, self.discriminator, self.config.lr, self.device
        )
        start_epoch = self.resume() + 1
        self.dir.write_summary(self.summary)
        train_loader = BatchLoader(
            self.data.train_l,
            self.data.train_ab,
            self.config.batch_size,
            shuffle=True,
            seed=self.config.seed,
            flip=True,
            drop_last=True,
            device=self.device,
        )
        self.summary["data_placement"] = train_loader.placement
        gan_loss = GANLoss(self.config.gan_mode)
        try:
            for epoch in range(start_epoch, self.config.epochs + 1):
                means, seconds = self.train_epoch(epoch, train_loader, gan_loss)
                if means is None:
                    self.summary.update(_diverged(epoch, self.history))
                    self.dir.log(f"epoch {epoch}: a loss became NaN or infinite; run marked diverged")
                    return
                self.end_epoch(epoch, means, seconds)
        except KeyboardInterrupt:
            self.summary.update(
                status="interrupted", epochs_completed=len(self.history), train_seconds=self.train_seconds
            )
            self.dir.write_summary(self.summary)
            self.dir.log(f"interrupted; resumes after epoch {len(self.history)}")
            raise

    def resume(self) -> int:
        """Load the checkpoint if there is one; returns the last complete epoch (0 if none)."""
        if not self.dir.checkpoint.exists():
            return 0
        state = load_checkpoint(self.dir.checkpoint)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        self.history = state["history"]
        self.train_seconds = state["train_seconds"]
        self.dir.write_metrics(self.history)  # the log follows the checkpoint
        self.dir.log(f"resuming {self.dir.path.name} after epoch {state['epoch']}")
        return state["epoch"]

    def train_epoch(self, epoch: int, loader: BatchLoader, gan_loss: GANLoss):
        """One epoch; returns (weighted means, seconds), or (None, seconds) if a loss went NaN/inf."""
        self.generator.train()
        self.discriminator.train()
        loader.set_epoch(epoch)
        means = WeightedMeans()
        bar = tqdm(
            total=len(loader),
            desc=f"epoch {epoch}/{self.config.epochs}",
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
                self.config.lambda_l1,
                self.autocast,
            )
            means.update(losses, l_norm.shape[0])
            if step % LOG_EVERY_STEPS == 0:
                if not means.all_finite():
                    break
                current = means.means()
                bar.set_postfix(G=f"{current['loss_G']:.3f}", D=f"{current['loss_D']:.3f}")
            bar.update(1)
        bar.close()
        if self.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        return (means if means.all_finite() else None), seconds

    def end_epoch(self, epoch: int, means: WeightedMeans, seconds: float) -> None:
        row: dict[str, Any] = {
            "epoch": epoch,
            **means.means(),
            "train_images": means.count,
            "wall_time_s": seconds,
            "images_per_s": means.count / seconds,
        }
        if self.config.eval_every and epoch % self.config.eval_every == 0 and epoch != self.config.epochs:
            row.update(self.evaluate())
        self.history.append(row)
        self.train_seconds += seconds
        save_checkpoint(
            self.dir.checkpoint,
            {
                "epoch": epoch,
                "generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "rng": rng_state(),
                "history": self.history,
                "train_seconds": self.train_seconds,
                "config_hash": self.summary["config_hash"],
            },
        )
        self.dir.write_metrics(self.history)
        self.dir.log(
            f"epoch {epoch}/{self.config.epochs} {_format_losses({k: row[k] for k in LOSS_NAMES})} "
            f"{row['images_per_s']:.1f} img/s {seconds:.1f}s"
        )
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, epoch)

    def evaluate(self) -> dict[str, float]:
        return evaluate(
            self.generator,
            self.discriminator if self.plugin.trainable else None,
            self.val_loader,
            device=self.device,
            gan_mode=self.config.gan_mode,
            lambda_l1=self.config.lambda_l1,
            autocast=self.autocast,
        )

    def finish(self) -> None:
        """Final evaluation on the whole val split and the fixed sample images."""
        final = self.evaluate()
        if self.history:
            self.history[-1].update(final)
            self.dir.write_metrics(self.history)
        n_samples = min(self.config.num_samples, int(self.data.val_l.shape[0]))
        sample_files: list[str] = []
        if n_samples:
            sample_files, grid = save_samples(
                self.generator,
                torch.from_numpy(self.data.val_l[:n_samples].astype("float32")),
                torch.from_numpy(self.data.val_ab[:n_samples].astype("float32")),
                self.dir.samples,
                device=self.device,
                autocast=self.autocast,
            )
            if self.writer is not None:
                self.writer.add_image("samples (grey, prediction, truth)", grid, len(self.history))
        self.summary.update(
            status="completed",
            epochs_completed=len(self.history),
            final_train=({k: self.history[-1][k] for k in LOSS_NAMES} if self.history else None),
            final_val=final,
            samples=sample_files,
        )
        if self.writer is not None:
            for key, value in final.items():
                self.writer.add_scalar(f"final/{key}", value, len(self.history))


# ---------------------------------------------------------------------- helpers
def _autocast_factory(device: str, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    if precision == "bf16":
        return functools.partial(torch.autocast, device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _versions(plugin_name: str) -> dict[str, str]:
    return {
        "colorbench": colorbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "plugin": plugin_version(plugin_name),
    }


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k.removeprefix('loss_')}={v:.4f}" for k, v in losses.items())


def _diverged(epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    last = history[-1] if history else None
    return {
        "status": "diverged",
        "diverged_epoch": epoch,
        "epochs_completed": len(history),
        "last_finite_losses": {k: last[k] for k in LOSS_NAMES} if last else None,
    }


def _tensorboard_writer_class():
    """Checked before any work: asking for TensorBoard without the package is a usage error."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ColorbenchError(
            "tensorboard logging needs the tensorboard package: pip install 'colorbench[tensorboard]'"
        ) from None
    return SummaryWriter
