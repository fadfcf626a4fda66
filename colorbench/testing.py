"""The conformance test a plugin author imports: does my generator satisfy colorbench's contract?

.. code-block:: python

    from colorbench.testing import assert_conforms, check_generator, generator_cases

    def test_my_colorizer_conforms():
        check_generator("my_colorizer", sizes=(32, 64)).assert_ok()

    @pytest.mark.parametrize("name, variant, size", generator_cases(names=["my_colorizer"]))
    def test_each_case(name, variant, size):
        assert_conforms(name, variant, size)

Per generator: it is registered and usable (when given by name), satisfies the contract, was
written for this major plugin API, and ``default_variant_for`` / ``depth_order`` / the per-variant
flags answer without error. Per (variant, size): ``check()`` answers ``None`` or one sentence
without raising; a size it calls infeasible really fails to build or run; a feasible one builds
an ``nn.Module`` (under ``torch.no_grad()``), and one batch of 2 gives ab of shape (2, 2, H, W),
finite, within ``AB_BOUND`` = 1.5 normalised units (raw a*b*, x110, is the mistake this catches),
in float32 and under bf16 autocast on the CPU; a trainable variant has trainable parameters.
Parameter counts are recorded in the report. Each failure is one line naming generator, variant
and size. Nothing here touches the caller's random stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from colorbench.errors import ColorbenchError
from colorbench.models import registry
from colorbench.models.conformance import (
    AB_BOUND,
    CHECK_BATCH,
    checked_forward,
    describe_case,
    forward_once,
    output_problem,
)
from colorbench.models.contract import (
    GeneratorOutputError,
    GeneratorPlugin,
    api_version_problem,
    contract_problem,
)

__all__ = [
    "AB_BOUND",
    "CaseReport",
    "ConformanceReport",
    "assert_conforms",
    "check_case",
    "check_generator",
    "generator_cases",
]


@dataclass
class CaseReport:
    """One (variant, image size) of a generator, as checked."""

    variant: str
    image_size: int
    feasible: bool | None = None  # None: check() itself failed
    reason: str | None = None  # check()'s sentence when infeasible
    parameters: int | None = None  # all parameters of the built module
    trainable_parameters: int | None = None  # those with requires_grad
    max_abs_ab: float | None = None  # largest |output| in float32, normalised units
    bf16_dtype: str | None = None  # the output's dtype under bf16 autocast
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        head = f"{self.variant}  {self.image_size} px  "
        if self.feasible is None:
            return head + "check failed"
        if not self.feasible:
            return head + f"infeasible: {self.reason}"
        parts = [f"runs  {self.parameters:,} params" if self.parameters is not None else "runs"]
        if self.max_abs_ab is not None:
            parts.append(f"max |ab| {self.max_abs_ab:.3g}")
        if self.bf16_dtype is not None:
            parts.append(f"bf16 -> {self.bf16_dtype}")
        return head + "  ".join(parts) + ("" if self.ok else f"  FAILED ({len(self.failures)})")


@dataclass
class ConformanceReport:
    """What :func:`check_generator` found; ``failures`` holds every problem, one line each."""

    generator: str
    sizes: tuple[int, ...]
    cases: list[CaseReport] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def parameters(self) -> dict[str, int]:
        """Parameter count per variant (from the first size at which it runs)."""
        counts: dict[str, int] = {}
        for case in self.cases:
            if case.parameters is not None:
                counts.setdefault(case.variant, case.parameters)
        return counts

    def summary(self) -> str:
        run = sum(1 for c in self.cases if c.feasible)
        infeasible = sum(1 for c in self.cases if c.feasible is False)
        head = (
            f"{self.generator}: {len(self.cases)} cases at {', '.join(map(str, self.sizes))} px, "
            f"{run} run, {infeasible} infeasible, {len(self.failures)} failures"
        )
        return "\n".join([head, *("  " + c.line() for c in self.cases), *("  " + f for f in self.failures)])

    def assert_ok(self) -> ConformanceReport:
        """Raise ``AssertionError`` listing every failure (one per line) unless there are none."""
        if self.failures:
            lines = "".join(f"\n  {f}" for f in self.failures)
            raise AssertionError(f"{self.generator} does not conform ({len(self.failures)} problems):{lines}")
        return self


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _resolve(name_or_plugin: str | GeneratorPlugin) -> tuple[GeneratorPlugin | None, str | None]:
    """(plugin, None), or (None, why the registry cannot give it) for a name."""
    if not isinstance(name_or_plugin, str):
        return name_or_plugin, None
    try:
        return registry.get_generator(name_or_plugin), None
    except ColorbenchError as exc:
        return None, f"{name_or_plugin}: {exc}"


def _options_problem(plugin: GeneratorPlugin, options: Mapping[str, Any] | None) -> str | None:
    try:
        plugin.resolve_options(options)
    except ColorbenchError as exc:
        return str(exc)
    return None


def plugin_problems(plugin: Any, sizes: Sequence[int], options: Mapping[str, Any] | None) -> list[str]:
    """Generator-level problems (no module is built), one line each."""
    problem = contract_problem(plugin)
    if problem is not None:
        return [f"{getattr(plugin, 'name', plugin)!r}: {problem}"]
    name = plugin.name
    problems = []
    problem = api_version_problem(plugin.api_version)
    if problem is not None:
        problems.append(f"{name}: {problem}")
    problem = _options_problem(plugin, options)
    if problem is not None:
        return [*problems, f"{name}: {problem}"]
    calls = [(f"default_variant_for({size})", lambda s=size: plugin.default_for(s)) for size in sizes]
    calls.append(("depth_order()", plugin.depth_order))
    for variant in plugin.variants:
        calls.append((f"label({variant!r})", lambda v=variant: plugin.label(v)))
        calls.append((f"is_trainable({variant!r})", lambda v=variant: plugin.is_trainable(v)))
        calls.append(
            (f"manages_own_init({variant!r})", lambda v=variant: plugin.manages_own_init(v, options))
        )
    for what, call in calls:
        try:
            call()
        except Exception as exc:
            problems.append(f"{name}: {what} raised {_first_line(exc)}")
    return problems


def _build(plugin: GeneratorPlugin, variant: str, size: int, options) -> Any:
    with torch.no_grad():
        return plugin.build_module(variant, size, options)


def _confirm_infeasible(plugin, variant: str, size: int, options, case: CaseReport, who: str) -> None:
    # check() said no: the combination must really fail, else check() turns away a setting that
    # would have run (and the study reports it infeasible for nothing).
    try:
        output = forward_once(_build(plugin, variant, size, options), size)
    except Exception:
        return
    if output_problem(output, CHECK_BATCH, size) is None:
        case.failures.append(
            f"{who}: check() says infeasible ({case.reason}) but it builds and runs correctly: "
            "check() is stricter than the network"
        )


def _check_bf16(plugin, variant: str, size: int, module, case: CaseReport, who: str) -> None:
    # --set precision=bf16 runs the generator under CPU/GPU autocast; it must still give ab.
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = forward_once(module, size)
    except Exception as exc:
        case.failures.append(f"{who}: under bf16 autocast forward raised {_first_line(exc)}")
        return
    if isinstance(output, torch.Tensor):
        case.bf16_dtype = str(output.dtype).replace("torch.", "")
        try:
            output = output.float()
        except Exception as exc:
            case.failures.append(f"{who}: under bf16 autocast the output cannot be cast to float32: {exc}")
            return
    problem = output_problem(output, CHECK_BATCH, size)
    if problem is not None:
        case.failures.append(f"{who}: under bf16 autocast {problem}")


def _check_feasible(plugin, variant: str, size: int, options, case: CaseReport, who: str) -> None:
    try:
        module = _build(plugin, variant, size, options)
    except GeneratorOutputError as exc:  # build_module's own one-line verdict (e.g. returned None)
        case.failures.append(str(exc))
        return
    except Exception as exc:
        case.failures.append(f"{who}: check() says it runs but build raised {_first_line(exc)}")
        return
    case.parameters = sum(p.numel() for p in module.parameters())
    case.trainable_parameters = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if plugin.is_trainable(variant) and not case.trainable_parameters:
        case.failures.append(
            f"{who}: the variant is trainable but its module has no trainable parameters "
            "(declare Variant(trainable=False) or trainable=False on the plugin)"
        )
    try:
        output = checked_forward(plugin, variant, size, options, module)
    except ColorbenchError as exc:
        case.failures.append(str(exc))
        return
    case.max_abs_ab = float(output.detach().float().abs().max())
    _check_bf16(plugin, variant, size, module, case, who)


def check_case(
    plugin: GeneratorPlugin, variant: str, image_size: int, options: Mapping[str, Any] | None = None
) -> CaseReport:
    """Check one (variant, image size) of a plugin: check(), build and one batch, as described above."""
    case = CaseReport(variant, image_size)
    who = describe_case(plugin, variant, image_size, options)
    with torch.random.fork_rng(devices=[]):  # building draws random weights: not from the caller's stream
        torch.manual_seed(0)
        try:
            case.reason = plugin.feasibility(variant, image_size, options)
        except ColorbenchError as exc:  # e.g. check() returned False: the contract's own message
            case.failures.append(f"{who}: {exc}")
            return case
        except Exception as exc:
            case.failures.append(
                f"{who}: check() raised {_first_line(exc)}; it must return None or one sentence"
            )
            return case
        case.feasible = case.reason is None
        if case.feasible:
            _check_feasible(plugin, variant, image_size, options, case, who)
        else:
            _confirm_infeasible(plugin, variant, image_size, options, case, who)
    return case


def check_generator(
    name_or_plugin: str | GeneratorPlugin,
    sizes: Sequence[int] = (32, 64),
    options: Mapping[str, Any] | None = None,
    *,
    require_feasible: bool = True,
) -> ConformanceReport:
    """Check a generator (a registered name, or a ``GeneratorPlugin`` not yet installed).

    Returns a :class:`ConformanceReport`; ``.assert_ok()`` turns its failures into one
    ``AssertionError``. ``require_feasible``: fail when no variant runs at any of ``sizes``
    (nothing would have been checked).
    """
    sizes = tuple(sizes)
    plugin, unusable = _resolve(name_or_plugin)
    report = ConformanceReport(str(name_or_plugin) if plugin is None else plugin.name, sizes)
    if plugin is None:
        report.failures.append(unusable)
        return report
    report.failures += plugin_problems(plugin, sizes, options)
    if contract_problem(plugin) is not None or _options_problem(plugin, options) is not None:
        return report  # nothing can be built
    for variant in plugin.variants:
        for size in sizes:
            case = check_case(plugin, variant, size, options)
            report.cases.append(case)
            report.failures += case.failures
    if require_feasible and not any(c.feasible for c in report.cases):
        report.failures.append(
            f"{plugin.name}: no variant runs at {', '.join(map(str, sizes))} px, so nothing was run: "
            "pass sizes at which it runs (check_generator(..., sizes=...))"
        )
    return report


def generator_cases(
    sizes: Sequence[int] = (32, 64), names: Sequence[str] | None = None
) -> list[tuple[str, str | None, int | None]]:
    """``(name, variant, size)`` for every variant and size of every registered generator (or of
    ``names``), for ``pytest.mark.parametrize("name, variant, size", generator_cases())``.

    A name the registry cannot use (broken, conflicting, unknown) gives one ``(name, None, None)``
    case, which :func:`assert_conforms` fails with the registry's reason.
    """
    cases: list[tuple[str, str | None, int | None]] = []
    for name in registry.generator_names() if names is None else names:
        plugin, _ = _resolve(name)
        if plugin is None or contract_problem(plugin) is not None:
            cases.append((name, None, None))
            continue
        cases += [(name, variant, size) for variant in plugin.variants for size in sizes]
    return cases


def assert_conforms(
    name_or_plugin: str | GeneratorPlugin,
    variant: str | None,
    size: int | None,
    options: Mapping[str, Any] | None = None,
) -> CaseReport | None:
    """Assert one case of :func:`generator_cases` (the generator-level checks included)."""
    plugin, unusable = _resolve(name_or_plugin)
    if plugin is None:
        raise AssertionError(unusable)
    problems = plugin_problems(plugin, () if size is None else (size,), options)
    case = None
    buildable = contract_problem(plugin) is None and _options_problem(plugin, options) is None
    if variant is not None and size is not None and buildable:
        case = check_case(plugin, variant, size, options)
        problems += case.failures
    elif variant is None:
        problems.append(f"{plugin.name}: no variant given")
    if problems:
        raise AssertionError("\n".join(problems))
    return case
