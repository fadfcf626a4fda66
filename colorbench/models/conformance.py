"""The one-batch output check: does a built generator give what the contract promises?

The harness calls :func:`check_output` once per run, after ``build`` and before training, so a
plugin that returns ab at half the resolution, three channels, NaNs or raw a*b* (x110) fails in
one line naming the plugin and the variant, not with a loss-shape traceback or a silently wrong
study. ``colorbench.testing`` runs the same check (and more) for plugin authors.

One forward of a batch of 2 at the run's size, without gradients, in eval mode (so BatchNorm
statistics are not updated), with the module's train/eval flags restored afterwards and the
input drawn from a private generator (the global random stream, hence the run, is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from colorbench.models.contract import GeneratorOutputError, GeneratorPlugin

# Bound on |output| in normalised ab units (ab / 110). Real colours stay within about 1 (sRGB's
# a*b* extremes are about -86..98 and -108..95); 1.5 leaves room for an untrained network's
# overshoot while a network returning raw a*b* (the typical mistake: x110) exceeds it at once.
AB_BOUND = 1.5
CHECK_BATCH = 2
INPUT_SEED = 20240  # fixed: the check is the same every time it runs


def sample_input(
    image_size: int, batch: int = CHECK_BATCH, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A batch of L in the harness's units (``L/50 - 1``, in [-1, 1]): smooth ramps plus noise.

    Drawn from a private generator so that calling the check never shifts the global random
    stream that seeds a run.
    """
    rng = torch.Generator().manual_seed(INPUT_SEED)
    ramp = torch.linspace(-1, 1, image_size)
    base = (ramp[None, :] + ramp[:, None]) / 2
    noise = torch.rand((batch, 1, image_size, image_size), generator=rng) * 2 - 1
    return (0.5 * base + 0.5 * noise).clamp(-1, 1).to(device)


def module_device(module: nn.Module) -> torch.device:
    """Where the module's weights live (the CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def describe_case(
    plugin: GeneratorPlugin, variant: str, image_size: int, options: Mapping[str, Any] | None = None
) -> str:
    """How messages name a case: ``generator 'unet' variant 'n_down_6' at 64 px [pretrained=True]``."""
    given = " ".join(f"{k}={v!r}" for k, v in (options or {}).items())
    who = f"generator {plugin.name!r} variant {variant!r} at {image_size} px"
    return f"{who} [{given}]" if given else who


def _fraction(got: int, want: int) -> str:
    if got and want % got == 0:
        return f"/{want // got}"
    if want and got % want == 0:
        return f"x{got // want}"
    return f"{got}/{want}"


def output_problem(output: Any, batch: int, image_size: int, bound: float = AB_BOUND) -> str | None:
    """``None`` if ``output`` is ab for ``batch`` inputs of ``image_size`` px, else what is wrong."""
    if not isinstance(output, torch.Tensor):
        hint = " (return only the ab tensor)" if isinstance(output, (tuple, list, dict)) else ""
        return f"forward returned {type(output).__name__}, not a torch.Tensor{hint}"
    shape = tuple(output.shape)
    want = (batch, 2, image_size, image_size)
    if output.dim() != 4:
        return f"output has shape {shape}, expected {want} (N, 2, H, W)"
    if shape[0] != batch:
        return f"output has batch size {shape[0]} for an input batch of {batch}"
    if shape[1] != 2:
        hint = " (return ab only, not L or RGB)" if shape[1] in (1, 3) else ""
        return f"output has {shape[1]} channels, expected 2 (a and b){hint}"
    if shape[2:] != want[2:]:
        h, w = shape[2:]
        return (
            f"output is {h}x{w} px for a {image_size}x{image_size} input "
            f"(H{_fraction(h, image_size)} x W{_fraction(w, image_size)}); it must have the input's H, W"
        )
    if not output.is_floating_point():
        return f"output has dtype {output.dtype}, expected a floating-point tensor"
    values = output.detach().float()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        nan = int(torch.isnan(values).sum())
        return f"output has {nan} NaN and {int((~finite).sum()) - nan} infinite values of {values.numel()}"
    peak = float(values.abs().max())
    if peak > bound:
        return (
            f"output reaches |ab| = {peak:.3g}, beyond {bound} in normalised units (ab/110): "
            "is it raw a*b*? divide by colorbench.color.AB_SCALE (110)"
        )
    return None


def forward_once(module: nn.Module, image_size: int, batch: int = CHECK_BATCH) -> Any:
    """One forward of :func:`sample_input` in eval mode, without gradients; flags restored after.

    Each submodule's own flag is restored (not ``module.train(was_training)``), so that a part a
    plugin keeps in eval mode on purpose, e.g. a frozen pretrained encoder, stays so.
    """
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            return module(sample_input(image_size, batch, module_device(module)))
    finally:
        for m, training in flags:
            m.training = training


def checked_forward(
    plugin: GeneratorPlugin,
    variant: str,
    image_size: int,
    options: Mapping[str, Any] | None,
    module: Any,
) -> torch.Tensor:
    """:func:`check_output`, returning the checked output (``colorbench.testing`` reports on it)."""
    who = describe_case(plugin, variant, image_size, options)
    if not isinstance(module, nn.Module):
        got = "None" if module is None else f"a {type(module).__name__}"
        raise GeneratorOutputError(f"{who}: build returned {got}, not a torch.nn.Module")
    try:
        output = forward_once(module, image_size)
    except Exception as exc:  # any failure of plugin code becomes one line naming the plugin
        first = (str(exc).strip().splitlines() or [""])[0]
        raise GeneratorOutputError(
            f"{who}: forward of a batch of {CHECK_BATCH} raised {type(exc).__name__}: {first}"
        ) from exc
    problem = output_problem(output, CHECK_BATCH, image_size)
    if problem is not None:
        raise GeneratorOutputError(f"{who}: {problem}")
    return output


def check_output(
    plugin: GeneratorPlugin,
    variant: str,
    image_size: int,
    options: Mapping[str, Any] | None,
    module: Any,
) -> None:
    """Raise :class:`GeneratorOutputError` (one line) unless ``module`` gives ab of the right form.

    ``module`` is what ``plugin.build_module(variant, image_size, options)`` returned; ``options``
    are only named in the message (the module is already built with them). Checks: an
    ``nn.Module``; one batch of 2 runs; the output is a tensor of shape (2, 2, H, W) with the
    input's H, W, floating point, finite, and within :data:`AB_BOUND` (not raw a*b*).
    """
    checked_forward(plugin, variant, image_size, options, module)
