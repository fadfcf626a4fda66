"""One run: train a generator variant with the pix2pix objective, evaluate, checkpoint, resume.

A run directory holds (all JSON, so pandas reads a study without custom parsing):
  config.json     the resolved configuration, the plugin and the data it ran on
  metrics.jsonl   one row per completed epoch: the six training losses, wall time, images/s,
                  and val metrics on the epochs they were computed
  summary.json    status (running, completed, diverged, interrupted), final losses and metrics,
                  the gray baseline on the same split, timings, versions, device
  checkpoint.pt   models, optimisers, epoch, RNG states, history (written atomically each epoch)
  train.log       the plain per-epoch log
  samples/        the fixed val images: grey input, prediction, truth (PNG)
"""

from __future__ import annotations

import contextlib
import functools
import json
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
    atomic_write_json,
    atomic_write_jsonl,
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

LOG_EVERY_STEPS = 20  # host synchronisations (finite check, live losses) happen only this often


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


class _Log:
    """Per-epoch lines to the run's train.log and, unless a progress bar shows them, to stdout."""

    def __init__(self, path: Path, echo: bool) -> None:
        self.path, self.echo = path, echo

    def __call__(self, line: str) -> None:
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, flush=True)


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k.removeprefix('loss_')}={v:.4f}" for k, v in losses.items())


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
    and re-raises.
    """
    resolved, plugin = resolve_config(config)
    run_dir = Path(run_dir)
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

    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "config": resolved.to_dict(),
        "config_hash": config_hash(resolved, plugin_version(plugin.name)),
        "plugin": {
            "name": plugin.name,
            "description": plugin.description,
            "trainable": plugin.trainable,
            "manages_init": plugin.manages_init,
            "version": plugin_version(plugin.name),
            "variant_label": plugin.variant_labels.get(resolved.variant, resolved.variant),
        },
        "data": {
            "key": data.key,
            "path": str(data.path),
            "train": n_train,
            "val": int(data.val_l.shape[0]),
            "spec": data.meta.get("spec"),
        },
    }
    config_path = run_dir / "config.json"
    if config_path.exists():
        existing = json.loads(config_path.read_text())
        if existing.get("config_hash") != record["config_hash"]:
            raise ColorbenchError(f"{run_dir} holds a different run; choose another directory")
    else:
        atomic_write_json(config_path, record)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        previous = json.loads(summary_path.read_text())
        if previous.get("status") in ("completed", "diverged"):
            return previous

    device = resolved.device
    autocast = _autocast_factory(device, resolved.precision)
    if progress is None:
        progress = verbose and sys.stderr.isatty()
    log = _Log(run_dir / "train.log", echo=verbose and not progress)

    seed_everything(resolved.seed)
    configure_threads()
    generator = plugin.build(resolved.variant, resolved.image_size)
    discriminator = PatchDiscriminator(in_channels=3)
    if not plugin.manages_init:
        init_weights(generator, resolved.init, resolved.init_gain)
    init_weights(discriminator, resolved.init, resolved.init_gain)
    prepare_modules(generator, discriminator, device)

    val_loader = BatchLoader(
        data.val_l,
        data.val_ab,
        max(resolved.batch_size, 32),
        shuffle=False,
        seed=resolved.seed,
        flip=False,
        drop_last=False,
    )
    history: list[dict[str, Any]] = []
    train_seconds = 0.0
    started = time.time()
    summary: dict[str, Any] = {
        "status": "running",
        "run_dir": str(run_dir),
        "config_hash": record["config_hash"],
        "generator": plugin.name,
        "variant": resolved.variant,
        "epochs": resolved.epochs,
        "versions": _versions(plugin.name),
        "device": device,
        "device_name": _device_name(device),
        "precision": resolved.precision,
    }
    writer = _tensorboard_writer(run_dir) if resolved.tensorboard else None

    if plugin.trainable:
        opt_g, opt_d = make_optimizers(generator, discriminator, resolved.lr, device)
        checkpoint_path = run_dir / "checkpoint.pt"
        start_epoch = 1
        if checkpoint_path.exists():
            state = load_checkpoint(checkpoint_path)
            generator.load_state_dict(state["generator"])
            discriminator.load_state_dict(state["discriminator"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            set_rng_state(state["rng"])
            history = state["history"]
            train_seconds = state["train_seconds"]
            start_epoch = state["epoch"] + 1
            atomic_write_jsonl(run_dir / "metrics.jsonl", history)  # the log follows the checkpoint
            log(f"resuming {run_dir.name} after epoch {state['epoch']}")
        atomic_write_json(summary_path, summary)

        train_loader = BatchLoader(
            data.train_l,
            data.train_ab,
            resolved.batch_size,
            shuffle=True,
            seed=resolved.seed,
            flip=True,
            drop_last=True,
        )
        gan_loss = GANLoss(resolved.gan_mode)
        try:
            for epoch in range(start_epoch, resolved.epochs + 1):
                generator.train()
                discriminator.train()
                train_loader.set_epoch(epoch)
                means = WeightedMeans()
                bar = tqdm(
                    total=len(train_loader),
                    desc=f"epoch {epoch}/{resolved.epochs}",
                    disable=not progress,
                    leave=False,
                    file=sys.stderr,
                )
                t0 = time.perf_counter()
                finite = True
                for step, batch in enumerate(train_loader, 1):
                    l_norm = batch[0].to(device, non_blocking=True)
                    ab_true = batch[1].to(device, non_blocking=True)
                    losses = pix2pix_train_step(
                        generator,
                        discriminator,
                        gan_loss,
                        opt_g,
                        opt_d,
                        l_norm,
                        ab_true,
                        resolved.lambda_l1,
                        autocast,
                    )
                    means.update(losses, l_norm.shape[0])
                    if step % LOG_EVERY_STEPS == 0:
                        finite = means.all_finite()
                        if not finite:
                            break
                        bar.set_postfix(
                            G=f"{means.means()['loss_G']:.3f}", D=f"{means.means()['loss_D']:.3f}"
                        )
                    bar.update(1)
                bar.close()
                if device == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                if not finite or not means.all_finite():
                    summary.update(_diverged(epoch, history))
                    log(f"epoch {epoch}: a loss became NaN or infinite; run marked diverged")
                    break
                row: dict[str, Any] = {
                    "epoch": epoch,
                    **means.means(),
                    "train_images": means.count,
                    "wall_time_s": seconds,
                    "images_per_s": means.count / seconds,
                }
                if resolved.eval_every and epoch % resolved.eval_every == 0 and epoch != resolved.epochs:
                    row.update(
                        evaluate(
                            generator,
                            discriminator,
                            val_loader,
                            device=device,
                            gan_mode=resolved.gan_mode,
                            lambda_l1=resolved.lambda_l1,
                            autocast=autocast,
                        )
                    )
                history.append(row)
                train_seconds += seconds
                save_checkpoint(
                    run_dir / "checkpoint.pt",
                    {
                        "epoch": epoch,
                        "generator": generator.state_dict(),
                        "discriminator": discriminator.state_dict(),
                        "opt_g": opt_g.state_dict(),
                        "opt_d": opt_d.state_dict(),
                        "rng": rng_state(),
                        "history": history,
                        "train_seconds": train_seconds,
                        "config_hash": record["config_hash"],
                    },
                )
                atomic_write_jsonl(run_dir / "metrics.jsonl", history)
                log(
                    f"epoch {epoch}/{resolved.epochs} {_format_losses({k: row[k] for k in LOSS_NAMES})} "
                    f"{row['images_per_s']:.1f} img/s {seconds:.1f}s"
                )
                if writer is not None:
                    for key, value in row.items():
                        if key != "epoch":
                            writer.add_scalar(key, value, epoch)
        except KeyboardInterrupt:
            summary.update(status="interrupted", epochs_completed=len(history), train_seconds=train_seconds)
            atomic_write_json(summary_path, summary)
            log(f"interrupted; resumes after epoch {len(history)}")
            raise
    else:
        atomic_write_json(summary_path, summary)
        log(f"{plugin.name} is not trainable: evaluating without training")

    if summary["status"] == "running":
        final = evaluate(
            generator,
            discriminator if plugin.trainable else None,
            val_loader,
            device=device,
            gan_mode=resolved.gan_mode,
            lambda_l1=resolved.lambda_l1,
            autocast=autocast,
        )
        if history:
            history[-1].update(final)
            atomic_write_jsonl(run_dir / "metrics.jsonl", history)
        n_samples = min(resolved.num_samples, int(data.val_l.shape[0]))
        sample_files: list[str] = []
        if n_samples:
            sample_files, grid = save_samples(
                generator,
                torch.from_numpy(data.val_l[:n_samples].astype("float32")),
                torch.from_numpy(data.val_ab[:n_samples].astype("float32")),
                run_dir / "samples",
                device=device,
                autocast=autocast,
            )
            if writer is not None:
                writer.add_image("samples (grey, prediction, truth)", grid, len(history))
        summary.update(
            status="completed",
            epochs_completed=len(history),
            final_train=({k: history[-1][k] for k in LOSS_NAMES} if history else None),
            final_val=final,
            samples=sample_files,
        )
        if writer is not None:
            for key, value in final.items():
                writer.add_scalar(f"final/{key}", value, len(history))
    summary["baseline_gray"] = gray_baseline(val_loader, device)
    summary["train_seconds"] = train_seconds
    summary["images_per_s"] = (
        sum(r["train_images"] for r in history) / train_seconds if train_seconds else None
    )
    summary["wall_seconds_this_session"] = time.time() - started
    atomic_write_json(summary_path, summary)
    if writer is not None:
        writer.close()
    log(f"{summary['status']}: {run_dir}")
    return summary


def _diverged(epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    last = history[-1] if history else None
    return {
        "status": "diverged",
        "diverged_epoch": epoch,
        "epochs_completed": len(history),
        "last_finite_losses": {k: last[k] for k in LOSS_NAMES} if last else None,
    }


def _tensorboard_writer(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ColorbenchError(
            "tensorboard logging needs the tensorboard package: pip install 'colorbench[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
